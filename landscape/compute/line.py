"""Loss along the line between two checkpoints, extrapolated past both ends.

a + t·(b − a) for t on a grid (default [-0.5, 1.5], so the walls beyond both ends
show): pretrained → fine-tuned, or SGD → SWA as in Izmailov et al. 2018, Fig. 5.
Writes ``interp.npz`` (``t``, ``distance`` = t·‖b − a‖, ``train_loss``,
``train_acc``, ``test_loss``, ``test_acc``, ``done``) and ``interp.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from swa.errors import UserError
from landscape.engine.bn import bn_strategy
from landscape.engine.checks import arg
from landscape.engine.task import Budget, Job, Task, budget_for, run_task, space_of
from landscape.engine.evaluator import AffineFamily
from landscape.engine.forward import Forward
from landscape.geometry.grid import Axis, GeometryError, Line
from landscape.engine.inputs import Checkpoint, Context
from landscape.results.result import Result
from landscape.engine.self_check import CheckPoint, describe_check
from landscape.engine.settings import Settings
from landscape.results.store import ResultStore
from landscape.engine.weights import ParamSelector, ParamSpace

__all__ = ["compute_interp", "evaluate_line", "line_task", "check_t", "InterpResult", "DEFAULT_T", "line_values"]

DEFAULT_T = Axis(-0.5, 1.5, 41)


def line_values(axis: Axis) -> np.ndarray:
    """The axis' values, with those within 1e-12 of 0 and 1 snapped onto the endpoints exactly."""
    t = axis.values()
    for anchor in (0.0, 1.0):
        t[np.abs(t - anchor) < 1e-12] = anchor
    return t


@dataclass
class InterpResult(Result):
    """``t`` (n,), ``distance`` = t·‖b − a‖ and ``result[metric]`` (n,)."""

    store: ResultStore
    is_main: bool  # False on the other ranks under torchrun: they hold partial values
    t: np.ndarray
    length: float
    stats: dict

    @property
    def distance(self) -> np.ndarray:
        return self.t * self.length

    def summary_line(self) -> str:
        loss = self.store.values["train_loss"]
        where = f" -> {self.store.npz}" if self.store.npz is not None else ""
        parts = [f"interp: {len(self.t)} points ({self.stats['computed']} computed, {self.stats['skipped']} skipped)"
                 f" in {self.stats['seconds']:.1f}s{where}; |b - a| = {self.length:.4g}"]
        for anchor in (0.0, 1.0):
            hit = np.flatnonzero(self.t == anchor)
            if len(hit):
                parts.append(f"train loss at t={anchor:g}: {loss[hit[0]]:.4g}")
        return "; ".join(parts) + describe_check(self.store.sidecar.get("self_check"))


def check_t(t: Axis | Any, name: str = "t") -> Axis | np.ndarray:
    """``t`` as an :class:`Axis` (checked by its constructor; ``--t MIN:MAX:N`` on the command line) or as a
    non-empty 1-D float64 array of finite numbers (the Python API; repeats and any order allowed).

    Raises:
        UserError: anything else, naming ``name``.
    """
    if isinstance(t, Axis):
        return t
    try:
        values = None if isinstance(t, (str, bytes)) else np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        shown = repr(t) if len(repr(t)) <= 80 else repr(t)[:77] + "..."
        raise UserError(f"{arg(name)} must be a non-empty 1-D array of finite numbers (or an Axis), got {shown}")
    return values


def t_values(t: Axis | Any) -> tuple[np.ndarray, Any]:
    """Values of ``t`` (an Axis or any 1-D array, :func:`check_t`) and how the resume key records them."""
    t = check_t(t)
    if isinstance(t, Axis):
        return line_values(t), t.to_json()
    return t, t.tolist()


def line_task(space: ParamSpace, start: Checkpoint, end: Checkpoint, bn: str, t: Axis | Any = DEFAULT_T,
              budget: Optional[Budget] = None, end_is_checkpoint: bool = True,
              direction: Optional[dict[str, Any]] = None) -> Task:
    """The line ``start + t·(end − start)`` as a task (see :func:`evaluate_line`). ``direction``: what chose
    ``end − start`` when it is a direction rather than a second checkpoint (``landscape.compute.around_line``),
    part of the task's inputs.

    Raises:
        GeometryError: the two checkpoints hold the same weights (in the space).
    """
    line = Line(space.params_of(start.state), space.params_of(end.state))
    if line.length == 0.0:
        raise GeometryError(f"{start.path or start.label} and {end.path or end.label} hold the same weights: there "
                            "is no line between them")
    t = check_t(t)
    if budget is not None:  # before the values: an axis of 10¹² points is refused, not allocated
        budget("interp", t.n if isinstance(t, Axis) else len(t), 1)
    values, t_json = t_values(t)
    b0 = space.buffers_of(start.state)
    buffer_dirs = (space.buffers_of(end.state) - b0)[None] if bn_strategy(bn).follows_weights and b0.numel() \
        else None
    family = AffineFamily(line.start, line.direction[None], values[:, None], b0, buffer_dirs,
                          space.frozen_of(start.state))
    return Task("interp", (len(values),), [family], bn, directions=1,
                inputs={"from": start.digest, "to": end.digest, "t": t_json,
                        **({} if direction is None else {"direction": direction})},
                checks=[CheckPoint(start.label, start.state, (0.0,))]
                + ([CheckPoint(end.label, end.state, (1.0,))] if end_is_checkpoint else []),
                extra={"t": values, "distance": values * line.length},
                sidecar={"from": start.to_json(), "to": end.to_json(), "length": line.length,
                         "units": "t: fraction of the way from 'from' to 'to'; distance: Euclidean, in parameter "
                                  "space"})


def evaluate_line(job: Job, start: Checkpoint, end: Checkpoint, *, t: Axis | Any = DEFAULT_T,
                  out: Optional[str | Path] = None) -> InterpResult:
    """Evaluate ``start + t·(end − start)`` at every ``t``, into ``out`` or in memory.

    With ``bn="interpolate"`` the buffers follow the same line; ``recompute`` recomputes them
    at every point; ``fixed`` keeps ``start``'s. Parameters outside the space keep ``start``'s values.

    Raises:
        GeometryError: the two checkpoints are identical.
    """
    space = space_of(job.model, job.params)
    task = line_task(space, start, end, job.settings.resolved_bn(job.model), t,
                     budget=budget_for(space, job.data, job.settings))
    run = run_task(task, job.model, job.data, job.forward, space, job.settings, about=job.about, out=out,
                   log=job.log)
    return InterpResult(store=run.store, is_main=run.is_main, t=task.extra["t"], length=task.sidecar["length"],
                        stats=run.stats)


def compute_interp(ctx: Context, start: Checkpoint, end: Checkpoint, out: str | Path, settings: Settings, *,
                   t_axis: Axis = DEFAULT_T, params: ParamSelector = None,
                   log: Callable[[str], None] = print) -> InterpResult:
    """:func:`evaluate_line` on a command's model and data (``ctx``), into ``out``."""
    job = Job(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), settings, ctx.to_json(), params, log)
    return evaluate_line(job, start, end, t=t_axis, out=out)
