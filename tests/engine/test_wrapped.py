"""Issue 20, a newcomer's first hour: wrapped models (DataParallel, torch.compile, AveragedModel) are
evaluated as the module inside them; ``dir(landscape)`` lists the lazy exports; ``SharpnessResult.value``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

import landscape
from landscape.curvature.sharpness import SharpnessResult
from swa.checkpoint import unwrap_model
from swa.errors import CheckpointError

T = [0.0, 0.5, 1.0]
CLOSE = dict(rtol=1e-6, atol=1e-7)  # the same numbers up to float reduction order


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


@pytest.fixture(scope="module")
def case():
    torch.manual_seed(0)
    x, y = torch.randn(24, 4), torch.randint(0, 3, (24,))
    return _net(0), _net(1).state_dict(), _net(2).state_dict(), (x, y)


def _line(model, s0, s1, data, log=lambda _: None):
    res = landscape.interpolate(model, s0, s1, data, t=T,
                                settings=landscape.Settings(progress=False, device="cpu", log=log))
    return np.asarray(res["train_loss"]), np.asarray(res["test_loss"])


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def test_dataparallel_with_prefixed_states_equals_plain(case):
    net, s0, s1, data = case
    notes = []
    wrapped = _line(nn.DataParallel(net), _prefixed(s0, "module."), _prefixed(s1, "module."), data, notes.append)
    plain = _line(net, s0, s1, data)
    np.testing.assert_allclose(wrapped[0], plain[0], **CLOSE)
    np.testing.assert_allclose(wrapped[1], plain[1], **CLOSE)
    assert any("inside DataParallel" in n for n in notes), notes


def test_averaged_model(case):
    net, s0, s1, data = case
    avg = AveragedModel(net)
    states = [AveragedModel(_net(i)).state_dict() for i in (1, 2)]  # module.* keys and n_averaged
    np.testing.assert_allclose(_line(avg, *states, data)[0], _line(net, s0, s1, data)[0], **CLOSE)


def test_nested_wrappers_and_model_points(case):
    net, s0, s1, data = case
    outer = nn.DataParallel(AveragedModel(net))  # AveragedModel holds a copy of net
    assert unwrap_model(outer) is outer.module.module
    # points given as wrapped models work too
    a, b = nn.DataParallel(_net(1)), nn.DataParallel(_net(2))
    np.testing.assert_allclose(_line(outer, a, b, data)[0], _line(net, s0, s1, data)[0], **CLOSE)


@pytest.mark.slow  # importing torch._dynamo alone takes ~3 s here; compiling itself is lazy and never happens
def test_torch_compile_with_prefixed_and_plain_states(case):
    net, s0, s1, data = case
    try:
        compiled = torch.compile(net)
    except Exception as e:  # pragma: no cover - platforms without dynamo
        pytest.skip(f"torch.compile unavailable: {e}")
    plain = _line(net, s0, s1, data)[0]
    np.testing.assert_allclose(_line(compiled, s0, s1, data)[0], plain, **CLOSE)
    np.testing.assert_allclose(
        _line(compiled, _prefixed(s0, "_orig_mod."), _prefixed(s1, "_orig_mod."), data)[0], plain, **CLOSE)
    assert unwrap_model(nn.DataParallel(compiled)) is net


def test_unknown_wrapper_names_what_to_pass(case):
    net, s0, s1, data = case

    class MyWrapper(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, x):
            return self.module(x)

    with pytest.raises(CheckpointError, match=r"MyWrapper.*pass the inner model, model\.module"):
        _line(MyWrapper(net), _prefixed(s0, "module."), _prefixed(s1, "module."), data)


def test_dir_lists_lazy_exports():
    names = dir(landscape)
    for name in ("plane", "interpolate", "rays", "sharpness", "Plane"):
        assert name in names


def test_sharpness_value():
    """Against the nested dict of a result as ``landscape.sharpness`` returns it (built here: computing one
    takes seconds)."""
    def point(eig, trace):
        return {"metrics": {"hessian_top_eigenvalues": {"value": eig, "uncertainty": None},
                            "hessian_trace": {"value": trace, "uncertainty": 0.1}}}

    sharp = SharpnessResult(json_path=None, md_path=None, results={"a": point([3.0, 2.0], 7.0),
                                                                   "b": point([5.0, 1.0], 9.0)})
    eig = sharp["b"]["metrics"]["hessian_top_eigenvalues"]["value"]
    assert sharp.value("hessian_top_eigenvalues", point=1) == eig == [5.0, 1.0]
    assert sharp.value("hessian_top_eigenvalues", point="b", index=0) == eig[0]
    assert sharp.value("hessian_top_eigenvalues", point=-1, index=-1) == 1.0
    assert sharp.value("hessian_trace") == sharp["a"]["metrics"]["hessian_trace"]["value"] == 7.0
    with pytest.raises(KeyError, match="hessian_top_eigenvalues, hessian_trace"):
        sharp.value("nope")
    with pytest.raises(KeyError, match="'a', 'b'"):
        sharp.value("hessian_trace", point=5)
    with pytest.raises(KeyError, match="points are a, b"):
        sharp.value("hessian_trace", point="c")
    with pytest.raises(ValueError, match="one number"):
        sharp.value("hessian_trace", index=0)
    with pytest.raises(ValueError, match="has 2 values"):
        sharp.value("hessian_top_eigenvalues", index=2)
