"""Reduced precision (issue 10): tf32/bf16 landscapes agree with fp32 to 1e-2 relative, on the CPU here
and on a GPU when one is present; ``fp32`` really is float32 on CUDA (TF32 off in the scope)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landscape
from landscape.inputs import load_context
from landscape.precision import PRECISIONS, precision_scope

QUIET = dict(progress=False, log=lambda _: None, batch_size=2048)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    states = [torch.load(p["path"], weights_only=True) for p in ctx.run.trajectory][:3]
    d = ctx.data
    return ctx.model, states, {"train": (d.x_train, d.y_train), "test": (d.x_test, d.y_test)}


def _plane(setup, device, precision, bn):
    model, states, data = setup
    res = landscape.plane(model, states, data, x=(-0.5, 1.5, 3), y=(-0.5, 1.5, 3), bn=bn, device=device,
                          precision=precision, **QUIET)
    return np.stack([res["train_loss"], res["test_loss"]])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bn", ["fixed", "recompute"])
def test_reduced_precision_agrees_with_fp32(setup, device, bn):
    exact = _plane(setup, device, "fp32", bn)
    bf16 = _plane(setup, device, "bf16", bn)
    np.testing.assert_allclose(bf16, exact, rtol=1e-2)
    assert not np.array_equal(bf16, exact)  # autocast really ran in bfloat16
    tf32 = _plane(setup, device, "tf32", bn)
    np.testing.assert_allclose(tf32, exact, rtol=1e-2)
    if device == "cpu":
        np.testing.assert_array_equal(tf32, exact)  # no TF32 on a CPU: the same float32 arithmetic


def test_precision_scope_rejects_unknown_names():
    with pytest.raises(ValueError, match="fp32, tf32, bf16"):
        with precision_scope(torch.device("cpu"), "fp16"):
            pass
    assert PRECISIONS == ("fp32", "tf32", "bf16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp32_turns_tf32_off_on_cuda_and_restores_the_flags():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        with precision_scope(torch.device("cuda"), "fp32"):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
            a = torch.randn(512, 512, device="cuda")
            exact = (a.double() @ a.double()).float()
            assert torch.allclose(a @ a, exact, rtol=1e-5, atol=1e-3)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with precision_scope(torch.device("cuda"), "tf32"):
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
