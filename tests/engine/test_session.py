"""The grid evaluator and the sharpness objective share one engine session: the same loss at a point, the same
losses along the same rays, both equal to a slow ``torch.func.functional_call`` loop written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call

from landscape.curvature.measures import ray_width_metric
from landscape.curvature.measures.rays import _unit_directions
from landscape.curvature.objective import ModelObjective
from landscape.engine.data import as_eval_data
from landscape.engine.evaluator import Evaluator
from landscape.engine.forward import Forward
from landscape.engine.session import Session
from landscape.engine.weights import ParamSpace
from landscape.geometry.rays import ray_distances, ray_family, ray_width

BATCH = 32


@pytest.fixture
def problem():
    """A small classifier with BatchNorm (running statistics away from their defaults), 100 train and 40 test
    samples of flat inputs, its state, and a point away from the state."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 5, generator=g), torch.randint(0, 3, (100,), generator=g)
    xt, yt = torch.randn(40, 5, generator=g), torch.randint(0, 3, (40,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 3))
    model[1].running_mean.copy_(torch.randn(8, generator=g))
    model[1].running_var.copy_(torch.rand(8, generator=g) + 0.5)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    data = as_eval_data({"train": (x, y), "test": (xt, yt)})
    space = ParamSpace.of(model)
    w = space.params_of(state) + 0.2 * torch.randn(space.num_params, generator=g)
    return model, data, state, space, w


def slow_loss(model: nn.Module, state: dict, space: ParamSpace, w: torch.Tensor, x: torch.Tensor,
              y: torch.Tensor) -> float:
    """(1/N) Σ_n CE(f(x_n; w), y_n) in eval mode with the state's buffers, one functional call per batch."""
    weights = {**state, **dict(zip(space.param_names, (t.view(s) for t, s in zip(
        w.split([math.prod(s) for s in space.param_shapes]), space.param_shapes))))}
    model = model.eval()
    total = 0.0
    for start in range(0, len(x), BATCH):
        out = functional_call(model, weights, (x[start:start + BATCH],))
        total += float(F.cross_entropy(out.double(), y[start:start + BATCH], reduction="sum"))
    return total / len(x)


def _engines(problem):
    model, data, state, space, _ = problem
    grid = Evaluator(model, data, Forward(task="classification"), space, bn="fixed", batch_size=BATCH)
    objective = ModelObjective(model, data, state, bn_recompute=False, batch_size=BATCH)
    return grid, objective


def test_grid_and_objective_give_the_same_loss_at_a_point(problem):
    model, data, state, space, w = problem
    grid, objective = _engines(problem)
    assert isinstance(grid, Session) and isinstance(objective, Session)
    reference = slow_loss(model, state, space, w, data.train.x, data.train.y)
    on_grid = grid.evaluate_point(w, space.buffers_of(state))
    assert on_grid[0] == objective.value(w)  # one session path, the same batches: bitwise
    assert on_grid[0] == pytest.approx(reference, rel=1e-6)
    assert on_grid[2] == pytest.approx(slow_loss(model, state, space, w, data.test.x, data.test.y), rel=1e-6)
    assert objective.value() == pytest.approx(slow_loss(model, state, space, space.params_of(state),
                                                        data.train.x, data.train.y), rel=1e-6)


def test_ray_measure_losses_equal_the_rays_losses(problem):
    model, data, state, space, _ = problem
    grid, objective = _engines(problem)
    k, max_distance, steps, delta, seed = 3, 2.0, 6, 0.05, 4
    dirs = _unit_directions(objective, k, seed)
    distances = ray_distances(max_distance, steps)
    assert np.array_equal(distances, np.linspace(0.0, max_distance, steps))
    measured = objective.values(ray_family(objective.point, dirs, distances))
    rays = grid.evaluate_rows(ray_family(objective.point, dirs, distances, space.buffers_of(state)),
                              np.arange(k * steps))[:, 0]
    assert np.array_equal(measured, rays)
    for j, i in ((0, 3), (2, 5)):  # row j·S + i is w + s_i·d_j
        point = objective.point + float(distances[i]) * dirs[j]
        assert measured[j * steps + i] == pytest.approx(
            slow_loss(model, state, space, point, data.train.x, data.train.y), rel=1e-6)
    result = ray_width_metric(objective, directions=k, max_distance=max_distance, steps=steps, delta=delta,
                              seed=seed)
    assert result.loss == rays[0]
    assert np.array_equal(np.array(result.widths), ray_width(distances, rays.reshape(k, steps), delta))
    assert np.isfinite(result.widths).any()  # a width the rays bracket, not only censored ones


class Isotropic:
    """L(w) = ½ λ ‖w‖² with no ``values``: the ray measure evaluates it point by point through ``value``."""

    num_params, dtype, device = 4, torch.float64, torch.device("cpu")

    def __init__(self, lam: float) -> None:
        self.lam, self.point, self.calls = lam, torch.zeros(4, dtype=torch.float64), 0

    def value(self, w: torch.Tensor | None = None) -> float:
        self.calls += 1
        w = self.point if w is None else w
        return 0.5 * self.lam * float(w @ w)

    def value_and_grad(self, w: torch.Tensor | None = None):
        w = self.point if w is None else w
        return self.value(w), self.lam * w


def test_ray_measure_loops_over_an_analytic_objective():
    obj = Isotropic(lam=2.0)
    r = ray_width_metric(obj, directions=3, max_distance=1.0, steps=101, delta=0.1, seed=1)
    # ½ λ s² = δ at s = √(2δ/λ) on every unit ray; interpolation between grid steps errs by < one step
    assert r.widths == pytest.approx([math.sqrt(2 * 0.1 / 2.0)] * 3, abs=0.01)
    assert obj.calls == 1 + 3 * 100  # the point, then K·(S − 1) ray points
