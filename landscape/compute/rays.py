"""Loss along random rays from a point, and the width of the basin (Izmailov et al. 2018, Fig. 4).

For each point w and each of K random directions d (unit Euclidean norm by default,
or filter-normalized, Li et al. 2018) the loss is evaluated at w + s·d for distances
s on [0, max_distance]. The width along a ray is the distance at which the train
loss first exceeds its value at the point by δ:

    width = min { s : L(w + s·d) > L(w) + δ },

refined by linear interpolation between the two bracketing steps; a ray that stays
below the threshold up to ``max_distance`` is censored (width = inf). Writes
``rays.npz`` (``distances`` (S,), ``train_loss``, ``train_acc``, ``test_loss``,
``test_acc`` (n_points, K, S), ``width`` (n_points, K), ``done``) and ``rays.json``
(per point: width mean, std and count of censored rays).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch.nn as nn

from landscape.engine.checks import check_int, check_number
from landscape.engine.data import EvalData
from landscape.geometry.directions import random_directions
from landscape.geometry.rays import ray_distances, ray_family, ray_width, width_summary
from landscape.engine.task import Budget, Task, budget_for, run_task, space_of
from landscape.engine.forward import Forward
from landscape.engine.inputs import Checkpoint, Context
from landscape.results.result import Result
from landscape.engine.self_check import CheckPoint, describe_check
from landscape.engine.settings import Settings
from landscape.results.store import ResultStore
from landscape.engine.weights import ParamSelector, ParamSpace
from swa.errors import UserError

__all__ = ["compute_rays", "evaluate_rays", "rays_task", "check_ray_args",
           "RaysResult"]


@dataclass
class RaysResult(Result):
    """``distances`` (S,), ``result[metric]`` (points, rays, S) and ``widths`` (points, rays)."""

    store: ResultStore
    is_main: bool  # False on the other ranks under torchrun: they hold partial values
    distances: np.ndarray
    widths: np.ndarray
    labels: list[str]
    stats: dict

    def summary_line(self) -> str:
        parts = []
        for label, w in zip(self.labels, self.widths):
            s = width_summary(w)
            text = "all censored" if s["mean"] is None else f"{s['mean']:.4g}" + (
                f" ± {s['std']:.2g}" if s["std"] is not None else "")
            parts.append(f"{label} width {text}" + (f" ({s['censored']} censored)" if s["censored"] else ""))
        where = f" -> {self.store.npz}" if self.store.npz is not None else ""
        return (f"rays: {self.store.done.size} points ({self.stats['computed']} computed, {self.stats['skipped']} "
                f"skipped) in {self.stats['seconds']:.1f}s{where}; " + "; ".join(parts)
                + describe_check(self.store.sidecar.get("self_check")))


def check_ray_args(*, directions: Any, max_distance: Any, steps: Any, delta: Any) -> None:
    """The one check of the rays' numbers (command line and API): ``directions >= 1`` and ``steps >= 2``
    integers, ``max_distance`` and ``delta`` finite and > 0.

    Raises:
        UserError: naming the argument, the value and what is allowed.
    """
    check_int(directions, "directions", 1)
    check_int(steps, "steps", 2)
    check_number(max_distance, "max_distance")
    check_number(delta, "delta")


def rays_task(space: ParamSpace, points: Sequence[Checkpoint], bn: str, *, directions: int = 10,
              max_distance: float = 20.0, steps: int = 21, delta: float = 0.1, normalization: str = "unit",
              include_bn_and_bias: bool = False, seed: int = 0, budget: Optional[Budget] = None) -> Task:
    """``directions`` random rays of ``steps`` points on [0, ``max_distance``] from each point, as a task.

    The same random directions (drawn with ``seed``) are used for every point, so that points are
    compared on the same rays. With ``filter`` or ``layer`` normalization, biases and BatchNorm
    parameters are left out of the directions unless ``include_bn_and_bias``. Buffers: ``recompute``
    recomputes them at every point; ``interpolate`` and ``fixed`` keep each point's own (a random
    direction has no buffer part). Parameters outside the space keep each point's own values.
    """
    check_ray_args(directions=directions, max_distance=max_distance, steps=steps, delta=delta)
    if budget is not None:
        budget("rays", len(points) * directions * steps, directions)
    distances = ray_distances(max_distance, steps)
    families = []
    for ckpt in points:
        base = space.params_of(ckpt.state)
        try:
            dirs = random_directions(space, base, directions, normalization=normalization, seed=seed,
                                     include_bn_and_bias=include_bn_and_bias)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        families.append(ray_family(base, dirs, distances, space.buffers_of(ckpt.state), space.frozen_of(ckpt.state)))
    return Task(
        "rays", (len(points), directions, steps), families, bn, directions=directions,
        checks=[CheckPoint(p.label, p.state, (0.0,) * directions, family=i) for i, p in enumerate(points)],
        inputs={"points": [p.digest for p in points], "directions": directions, "normalization": normalization,
                "include_bn_and_bias": include_bn_and_bias, "distances": distances.tolist()},
        extra={"distances": distances},
        sidecar={"points": [p.to_json() for p in points], "delta": delta, "normalization": normalization,
                 "units": ("Euclidean distance in parameter space" if normalization == "unit"
                           else f"multiples of a {normalization}-normalized direction")})


def evaluate_rays(model: nn.Module, data: EvalData, forward: Forward, points: Sequence[Checkpoint],
                  settings: Settings, *, about: dict, out: Optional[str | Path] = None,
                  params: ParamSelector = None, delta: float = 0.1,
                  log: Callable[[str], None] = print, **ray_args) -> RaysResult:
    """Loss along random rays from each of ``points`` (see :func:`rays_task`), into ``out`` or in memory,
    with the width of each ray at rise ``delta`` (:func:`landscape.geometry.rays.ray_width`)."""
    space = space_of(model, params)
    task = rays_task(space, points, settings.resolved_bn(model), delta=delta, seed=settings.seed,
                     budget=budget_for(space, data, settings), **ray_args)
    run = run_task(task, model, data, forward, space, settings, about=about, out=out, log=log)
    store, distances = run.store, task.extra["distances"]
    widths = ray_width(distances, store.values["train_loss"], delta)
    if run.is_main:
        store.extra["width"] = widths
        store.sidecar["width"] = {p.label: width_summary(w) for p, w in zip(points, widths)}
        store.save()
    return RaysResult(store=store, is_main=run.is_main, distances=distances, widths=widths,
                      labels=[p.label for p in points], stats=run.stats)


def compute_rays(ctx: Context, points: Sequence[Checkpoint], out: str | Path, settings: Settings, *,
                 params: ParamSelector = None, log: Callable[[str], None] = print, **kwargs) -> RaysResult:
    """:func:`evaluate_rays` on a command's model and data (``ctx``), into ``out``."""
    return evaluate_rays(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), points, settings,
                         about=ctx.to_json(), out=out, params=params, log=log, **kwargs)
