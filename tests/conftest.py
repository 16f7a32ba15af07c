"""Shared fixtures: seeded torch, the embedded digits data, and a small-run config factory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    from swa.data import DataSpec, load_data

    return load_data(DataSpec("digits"))


@pytest.fixture
def small_config(tmp_path):
    """``small_config(**changes)``: a few-epoch digits run of the small CNN in ``tmp_path``."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec

    def make(out=None, **changes):
        base = dict(model=ModelSpec("cnn_small", {"width": 8}), data=DataSpec("digits"),
                    out=str(out or tmp_path / "run"), epochs=4, batch_size=128, lr=0.05, device="cpu",
                    eval_batch_size=500)
        base.update(changes)
        return TrainConfig(**base)

    return make


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


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``swa-landscape ARGS`` in a subprocess (``python -m landscape``) and capture its output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "landscape", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=kwargs.pop("cwd", None), **kwargs)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished SWA run on digits (cnn_small, width 4) with 4 trajectory points."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec
    from swa.trainer import train

    out = tmp_path_factory.mktemp("tiny") / "run"
    config = TrainConfig(model=ModelSpec("cnn_small", {"width": 4}), data=DataSpec("digits"), out=str(out),
                         epochs=5, batch_size=128, lr=0.05, method="swa", swa_start=1, swa_lr=0.03, device="cpu",
                         eval_batch_size=1000)
    return train(config, progress=False)
