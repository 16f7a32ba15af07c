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
from typing import Callable, Optional, Sequence

import numpy as np

from landscape.geometry.directions import random_directions
from landscape.geometry.rays import ray_distances, ray_family, ray_width, width_summary
from landscape.compute.options import Rays
from landscape.engine.task import Budget, Job, Task, budget_for, run_task, space_of
from landscape.engine.forward import Forward
from landscape.engine.inputs import Checkpoint, Context
from landscape.results.result import Result
from landscape.engine.self_check import CheckPoint, describe_check
from landscape.engine.settings import Settings
from landscape.results.store import ResultStore
from landscape.engine.weights import ParamSelector, ParamSpace
from swa.errors import UserError

__all__ = ["compute_rays", "evaluate_rays", "rays_task", "RaysResult"]


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


def rays_task(space: ParamSpace, points: Sequence[Checkpoint], bn: str, rays: Rays = Rays(), *, seed: int = 0,
              budget: Optional[Budget] = None) -> Task:
    """``rays.directions`` random rays of ``rays.steps`` points on [0, ``rays.max_distance``] from each point,
    as a task (:class:`~landscape.compute.options.Rays`).

    The same random directions (drawn with ``seed``) are used for every point, so that points are
    compared on the same rays. With ``filter`` or ``layer`` normalization, biases and BatchNorm
    parameters are left out of the directions unless ``include_bn_and_bias``. Buffers: ``recompute``
    recomputes them at every point; ``interpolate`` and ``fixed`` keep each point's own (a random
    direction has no buffer part). Parameters outside the space keep each point's own values.
    """
    directions, normalization = rays.directions, rays.normalization
    if budget is not None:
        budget("rays", len(points) * directions * rays.steps, directions)
    distances = ray_distances(rays.max_distance, rays.steps)
    families = []
    for ckpt in points:
        base = space.params_of(ckpt.state)
        try:
            dirs = random_directions(space, base, directions, normalization=normalization, seed=seed,
                                     include_bn_and_bias=rays.include_bn_and_bias)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        families.append(ray_family(base, dirs, distances, space.buffers_of(ckpt.state), space.frozen_of(ckpt.state)))
    return Task(
        "rays", (len(points), directions, rays.steps), families, bn, directions=directions,
        checks=[CheckPoint(p.label, p.state, (0.0,) * directions, family=i) for i, p in enumerate(points)],
        inputs={"points": [p.digest for p in points], "directions": directions, "normalization": normalization,
                "include_bn_and_bias": rays.include_bn_and_bias, "distances": distances.tolist()},
        extra={"distances": distances},
        sidecar={"points": [p.to_json() for p in points], "delta": rays.delta, "normalization": normalization,
                 "units": ("Euclidean distance in parameter space" if normalization == "unit"
                           else f"multiples of a {normalization}-normalized direction")})


def evaluate_rays(job: Job, points: Sequence[Checkpoint], rays: Rays = Rays(), *,
                  out: Optional[str | Path] = None) -> RaysResult:
    """Loss along random rays from each of ``points`` (see :func:`rays_task`), into ``out`` or in memory,
    with the width of each ray at rise ``rays.delta`` (:func:`landscape.geometry.rays.ray_width`)."""
    space = space_of(job.model, job.params)
    task = rays_task(space, points, job.settings.resolved_bn(job.model), rays, seed=job.settings.seed,
                     budget=budget_for(space, job.data, job.settings))
    run = run_task(task, job.model, job.data, job.forward, space, job.settings, about=job.about, out=out,
                   log=job.log)
    store, distances = run.store, task.extra["distances"]
    widths = ray_width(distances, store.values["train_loss"], rays.delta)
    if run.is_main:
        store.extra["width"] = widths
        store.sidecar["width"] = {p.label: width_summary(w) for p, w in zip(points, widths)}
        store.save()
    return RaysResult(store=store, is_main=run.is_main, distances=distances, widths=widths,
                      labels=[p.label for p in points], stats=run.stats)


def compute_rays(ctx: Context, points: Sequence[Checkpoint], out: str | Path, settings: Settings,
                 rays: Rays = Rays(), *, params: ParamSelector = None,
                 log: Callable[[str], None] = print) -> RaysResult:
    """:func:`evaluate_rays` on a command's model and data (``ctx``), into ``out``."""
    job = Job(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), settings, ctx.to_json(), params, log)
    return evaluate_rays(job, points, rays, out=out)
