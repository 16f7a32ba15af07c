"""Shared fixtures: seeded torch, the embedded digits data, and a small-run config factory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on two cores: one thread each, and the same for the processes the
    # tests start (set before torch is imported), so that a subprocess computes bitwise what the test does.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


#: The test files with the longest total time, longest first (``pytest --durations=0``, 2026-12-01: 117, 100, 84,
#: 46 s, ...). ``make test`` runs ``--dist loadfile --no-loadscope-reorder``: xdist hands the files out in collection
#: order, one at a time as workers free up, so starting with the longest ones keeps a worker from being left alone
#: with a long file at the end (the suite's wall time was a third above its CPU time / workers).
SLOWEST_FIRST = ("test_report.py", "test_repro.py", "test_cli.py", "test_bench_landscape.py", "test_api.py",
                 "test_landscape_cli.py", "test_fuzz_contents.py", "test_plot.py", "test_resume.py",
                 "test_plot_pages.py", "test_plot_cli.py", "test_measure.py", "test_labels.py", "test_around_plane.py",
                 "test_evaluator.py", "test_fuzz.py")


def pytest_collection_modifyitems(config, items):
    """The files of :data:`SLOWEST_FIRST` first (each file's tests stay together and in order); tests marked
    ``cuda`` need a CUDA GPU: skipped where torch sees none (scripts/gpu_check.sh runs them)."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    order = {id(item): i for i, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/gpu_check.sh on a GPU machine)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    from swa.data import DataSpec, load_data

    return load_data(DataSpec("digits"))


def digits_config(out, width=8, **changes):
    """A short CPU training config of the small CNN on digits; ``changes`` override the defaults."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec

    base = dict(model=ModelSpec("cnn_small", {"width": width}), data=DataSpec("digits"), out=str(out), epochs=4,
                batch_size=128, lr=0.05, device="cpu", eval_batch_size=500)
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture
def small_config(tmp_path):
    """``small_config(**changes)``: :func:`digits_config` in ``tmp_path``."""
    return lambda out=None, **changes: digits_config(out or tmp_path / "run", **changes)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 240) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; True if it was killed (not finished first)."""
    import signal
    import time

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
    import copy

    import torch.nn.functional as F
    from torch.func import functional_call

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
    import torch.nn as nn

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
    import copy

    from torch.nn.modules.batchnorm import _BatchNorm

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
    from landscape.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return int(code or 0), captured.out, captured.err


def run_torchrun(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run ARGS`` in a session of its own; on a timeout the whole process group
    (the launcher and every rank) is killed, so a hung rank never outlives the test."""
    import signal

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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished SWA run on digits (cnn_small, width 4) with 4 trajectory points."""
    from swa.trainer import train

    config = digits_config(tmp_path_factory.mktemp("tiny") / "run", width=4, epochs=5, method="swa", swa_start=1,
                           swa_lr=0.03, eval_batch_size=1000)
    return train(config, progress=False)
