"""Resume: an interrupted run continued with --resume ends bitwise-equal to an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from swa.trainer import train

from support import ROOT, Killed, assert_resumed_run_is_bitwise, assert_runs_equal, cli, kill_when


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("method,kill_after", [("swa", 2), ("pswa", 3), ("swa", 4)])
def test_resume_is_bitwise_identical(small_config, tmp_path, method, kill_after):
    """Acceptance 5 (in-process interruption after epoch k; also mid-average and at a PSWA boundary)."""
    extra = dict(method=method, epochs=5, swa_start=1)
    if method == "pswa":
        extra["pswa_period"] = 2
    full = train(small_config(out=tmp_path / "full", **extra), progress=False)

    def die(epoch, trainer):
        if epoch == kill_after:
            raise Killed

    with pytest.raises(Killed):
        train(small_config(out=tmp_path / "cut", **extra), progress=False, on_epoch_end=die)
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["epochs_done"] == kill_after
    resumed = train(out=tmp_path / "cut", resume=True, progress=False)
    assert len(resumed.metrics) == 5
    assert_runs_equal(full.out, resumed.out)


def test_resume_with_augmentation_and_dropout_rng(tmp_path):
    """RNG states (shuffling, augmentation, dropout) are part of the saved state."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec

    data = tmp_path / "d.pt"
    g = torch.Generator().manual_seed(0)
    torch.save({"x": torch.randn(120, 6, generator=g), "y": torch.randint(0, 3, (120,), generator=g)}, data)
    spec = ModelSpec(str(ROOT / "tests" / "dropout_model.py") + ":build")
    cfg = lambda out: TrainConfig(model=spec, data=DataSpec(str(data)), out=str(out), epochs=4,  # noqa: E731
                                  batch_size=16, lr=0.05, method="swa", swa_start=1, device="cpu")
    assert_resumed_run_is_bitwise(cfg, tmp_path)


@pytest.mark.slow
def test_cli_sigkill_then_resume(tmp_path, capsys):
    """The real thing: SIGKILL a `train` process after its first epochs, then `--resume`."""
    args = ["train", "--data", "digits", "--model", "cnn_small", "--model-kwargs", '{"width": 8}', "--epochs", "8",
            "--batch-size", "64", "--method", "swa", "--swa-start", "2", "--device", "cpu", "--quiet"]
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "full"))  # the reference: in-process
    assert code == 0, err
    cut = tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "landscape", *args, "--out", str(cut)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    metrics = cut / "metrics.jsonl"
    killed = kill_when(proc, lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 3)
    assert killed, "the process must be killed part-way (train longer if not)"
    manifest = json.loads((cut / "manifest.json").read_text())
    assert manifest["status"] == "running" and 2 <= manifest["epochs_done"] < 8
    code, out, err = cli(capsys, "train", "--resume", "--out", str(cut), "--quiet")
    assert code == 0, err
    assert "trained" in out
    assert_runs_equal(tmp_path / "full", cut)
