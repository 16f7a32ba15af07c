"""Reduced precision (issue 10): tf32/bf16 landscapes agree with fp32 to 1e-2 relative, on the CPU here
and on a GPU when one is present; ``fp32`` really is float32 on CUDA (TF32 off in the scope)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landscape
from landscape.engine.inputs import load_context
from landscape.engine.precision import PRECISIONS, precision_scope

EVAL = dict(progress=False, batch_size=2048, log=lambda _: None)  # no bar, no info lines
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    states = [torch.load(p["path"], weights_only=True) for p in ctx.run.trajectory][:3]
    d = ctx.data
    return ctx.model, states, {"train": (d.x_train, d.y_train), "test": (d.x_test, d.y_test)}


def _plane(setup, device, precision, bn):
    model, states, data = setup
    res = landscape.plane(model, states, data, grid=landscape.Grid(x=(-0.5, 1.5, 3), y=(-0.5, 1.5, 3)),
                          settings=landscape.Settings(**EVAL, bn=bn, device=device, precision=precision))
    return np.stack([res["train_loss"], res["test_loss"]])


@pytest.mark.slow  # over 1 s: not in make test-fast
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


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("first", ["new", "legacy"])
def test_fp32_turns_tf32_off_on_cuda_and_restores_the_flags(first):
    """On a GPU: fp32 in the scope is full float32 whichever API set TF32 on before; tf32 is TF32; the switches
    come back (swa.precision never reads a legacy flag after the new API was set, which would raise)."""
    from swa.precision import HAS_FP32_PRECISION_API, tf32_state

    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    try:
        if first == "new" and HAS_FP32_PRECISION_API:
            torch.backends.cuda.matmul.fp32_precision = torch.backends.cudnn.conv.fp32_precision = "tf32"
        else:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        before = tf32_state()
        a = torch.randn(1024, 1024, device="cuda")
        x = torch.randn(8, 16, 32, 32, device="cuda")
        conv = torch.nn.Conv2d(16, 16, 3, device="cuda")
        exact_mm = (a.double() @ a.double()).float()
        exact_conv = torch.nn.functional.conv2d(x.double(), conv.weight.double(), conv.bias.double()).float()
        with precision_scope(torch.device("cuda"), "fp32"):
            assert torch.allclose(a @ a, exact_mm, rtol=1e-5, atol=1e-3)
            assert torch.allclose(conv(x), exact_conv, rtol=1e-5, atol=1e-4)
        assert tf32_state() == before
        with precision_scope(torch.device("cuda"), "tf32"):
            (a @ a).sum().item(), conv(x).sum().item()  # runs without a mixed-API error
        assert tf32_state() == before
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]
