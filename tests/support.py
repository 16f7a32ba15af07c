"""Helpers the tests call (fixtures live in ``conftest.py``): a small training config, the CLI in this process
or in a subprocess, torchrun with a whole-group kill, and the independent references of the BN and sharpness tests.
"""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from swa.config import TrainConfig
from swa.data import DataSpec
from swa.checkpoint import load_state_dict
from swa.models import ModelSpec
from swa.trainer import train
from landscape.cli import main

ROOT = Path(__file__).resolve().parents[1]


def digits_config(out, width=8, **changes):
    """A short CPU training config of the small CNN on digits; ``changes`` override the defaults."""
    base = dict(model=ModelSpec("cnn_small", {"width": width}), data=DataSpec("digits"), out=str(out), epochs=4,
                batch_size=128, lr=0.05, device="cpu", eval_batch_size=500)
    base.update(changes)
    return TrainConfig(**base)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; True if it was killed (not finished first)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if ready():
            break
        time.sleep(0.02)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return killed


def dense_eval_hessian(model, x, y):
    """The dense float64 Hessian of the eval-mode cross-entropy over all of ``model``'s parameters (a copy,
    with its stored BatchNorm statistics), by ``torch.autograd.functional.hessian``: the independent reference
    of the sharpness tests."""
    model = copy.deepcopy(model).double().eval()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(w):
        params, i = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = w[i:i + shape.numel()].view(shape)
            i += shape.numel()
        return F.cross_entropy(functional_call(model, params, (x.double(),)), y)

    return torch.autograd.functional.hessian(loss, flat).numpy()


def small_bn_problem():
    """A small BN net (seeded), three states of it with running statistics of their own, 120 train and 60 test
    samples: ``(net, states, {"train": (x, y), "test": (xt, yt)})``."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(120, 4, generator=g), torch.randint(0, 3, (120,), generator=g)
    xt, yt = torch.randn(60, 4, generator=g), torch.randint(0, 3, (60,), generator=g)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    states = []
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.2 * torch.randn(p.shape, generator=g))
        net.train()
        net(x[:40])  # running statistics of its own
        states.append({k: v.clone() for k, v in net.state_dict().items()})
    return net, states, {"train": (x, y), "test": (xt, yt)}


def one_batch_bn_reference(model, x):
    """A copy of ``model`` after ONE train-mode forward of all of ``x`` with BN momentum 1.

    Its running statistics are then exactly that batch's: per-channel mean and unbiased variance of
    each BatchNorm layer's input, upstream layers normalized with the same whole-set statistics.
    """
    ref = copy.deepcopy(model)
    for m in ref.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = 1.0
    ref.train()
    with torch.no_grad():
        ref(x)
    return ref


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``swa-landscape ARGS`` in this process; ``(exit code, stdout, stderr)``.

    Prefer this to :func:`run_cli`: keep a real process for what only a process shows (SIGKILL,
    tracebacks, torchrun).
    """
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


def run_torchrun(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run ARGS`` in a session of its own; on a timeout the whole process group
    (the launcher and every rank) is killed, so a hung rank never outlives the test."""
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"torchrun timed out after {timeout} s: {err[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``swa-landscape ARGS`` in a subprocess (``python -m landscape``) and capture its output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "landscape", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=kwargs.pop("cwd", None), **kwargs)


def png_pixels(data: bytes | str) -> np.ndarray:
    """Decode a PNG (bytes or path) to an (H, W, C) float array; fails on anything that is not a PNG."""
    img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def assert_picture(path, min_std: float = 0.05) -> None:
    """A valid PNG that is not blank: its pixels vary (a white page has std 0)."""
    px = png_pixels(str(path))
    assert px.shape[0] > 100 and px.shape[1] > 100
    assert px.std() > min_std, f"{path} looks blank (pixel std {px.std():.3f})"


class Killed(Exception):
    pass


def assert_runs_equal(a, b):
    trajectory = json.loads((a / "manifest.json").read_text())["trajectory"]
    for name in ["final.pt", "swa.pt"] + [p["path"] for p in trajectory]:
        sa, sb = load_state_dict(a / name), load_state_dict(b / name)
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{name}:{k} differs"
    ma = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(ma) == strip(mb)
    ta = json.loads((a / "manifest.json").read_text())["trajectory"]
    tb = json.loads((b / "manifest.json").read_text())["trajectory"]
    assert ta == tb


def assert_resumed_run_is_bitwise(config, tmp_path, kill_after: int = 2) -> None:
    """``config(out)`` trained to the end in ``tmp_path/full`` and, in ``tmp_path/cut``, interrupted after epoch
    ``kill_after`` and resumed: the two runs are bitwise equal."""
    full = train(config(tmp_path / "full"), progress=False)

    def die(epoch, trainer):
        if epoch == kill_after:
            raise Killed

    with pytest.raises(Killed):
        train(config(tmp_path / "cut"), progress=False, on_epoch_end=die)
    train(out=tmp_path / "cut", resume=True, progress=False)
    assert_runs_equal(full.out, tmp_path / "cut")
