"""`interp` against an external implementation: loss-landscapes' linear_interpolation (dev dependency)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from landscape.geometry.grid import Axis
from landscape.engine.inputs import load_checkpoints, load_context
from landscape.compute.line import compute_interp
from landscape.engine.settings import Settings
from swa.data import DataSpec
from swa.models import ModelSpec, build_model

loss_landscapes = pytest.importorskip("loss_landscapes")
from loss_landscapes.metrics import Loss  # noqa: E402


@pytest.mark.parametrize("data_name,loss_fn", [("digits", F.cross_entropy), ("toy2d", F.mse_loss)])
def test_interp_matches_loss_landscapes_linear_interpolation(tmp_path, data_name, loss_fn):
    """Acceptance 3, on MLPs (no BatchNorm): t = (i+1)/steps, i = 0..steps-1, as loss-landscapes walks."""
    spec = ModelSpec("mlp", {"hidden": [32, 16], "activation": "tanh"})
    ctx = load_context(None, spec, DataSpec(data_name))
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model(spec, num_outputs=ctx.data.num_outputs, input_shape=ctx.data.input_shape)
        path = tmp_path / f"m{seed}.pt"
        torch.save(model.state_dict(), path)
        paths.append(str(path))
    a, b = load_checkpoints(paths, None, ctx.model)
    steps = 10
    res = compute_interp(ctx, a, b, tmp_path / "out", Settings(device="cpu", progress=False),
                         t_axis=Axis(1 / steps, 1.0, steps), log=lambda _: None)
    start, end = copy.deepcopy(ctx.model), copy.deepcopy(ctx.model)
    start.load_state_dict(a.state)
    end.load_state_dict(b.state)
    start.eval()
    for split, x, y in (("train", ctx.data.x_train, ctx.data.y_train), ("test", ctx.data.x_test, ctx.data.y_test)):
        reference = loss_landscapes.linear_interpolation(copy.deepcopy(start), end, Loss(loss_fn, x, y), steps=steps,
                                                         deepcopy_model=True)
        np.testing.assert_allclose(res.store.values[f"{split}_loss"], reference, rtol=2e-5)
