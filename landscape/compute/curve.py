"""A mode-connecting curve (Garipov et al. 2018) evaluated beside the straight line between its endpoints.

The curve φ(t) = Σₖ cₖ(t) θₖ is trained by :mod:`swa.curves`. Since Σₖ cₖ(t) = 1, every point of it is

    φ(t) = θ₀ + Σₖ₌₁ cₖ(t) (θₖ − θ₀),

an affine family with n−1 directions (θₖ − θ₀) and coordinates cₖ(t), and the straight line
θ₀ + t(θₙ₋₁ − θ₀) is the same family at coordinates (0, …, 0, t): the engine evaluates both, the curve as row 0
and the line as row 1 of one (2, T) result, with BatchNorm statistics recomputed at every point (the bends
have no statistics of their own; ``bn="interpolate"`` is refused).

Written: ``curve.npz`` with the engine's ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (2, T) and,
under the key names of the reference's ``eval_curve.py``, ``ts``, ``dl`` (distance between consecutive points
of the curve), ``tr_loss`` (loss + ½·wd·‖φ(t)‖², the objective the curve was trained on), ``tr_nll``, ``tr_acc``,
``tr_err`` (percent), ``te_loss``, ``te_nll``, ``te_acc``, ``te_err`` and their ``_min``, ``_max``, ``_avg`` and
``_int`` (the length-weighted mean along the curve); ``line_*`` the same for the straight line. ``curve.json``
records the barriers: for each path, max over t of f(t) − [(1−t)·f(0) + t·f(1)] for the train loss, the
test error (``None`` without accuracy: regression) and the test loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from landscape.compute.line import t_values
from landscape.compute.options import Grid
from landscape.compute.plane import PlaneResult, evaluate_plane
from landscape.engine.bn import bn_strategy
from landscape.engine.evaluator import AffineFamily
from landscape.engine.forward import Forward
from landscape.engine.inputs import Checkpoint, Context
from landscape.engine.self_check import CheckPoint, describe_check
from landscape.engine.task import Budget, Job, Task, budget_for, run_task, space_of
from landscape.engine.settings import Settings
from landscape.engine.weights import ParamSelector, ParamSpace
from landscape.geometry.grid import Axis
from landscape.results.result import Result
from landscape.results.store import ResultStore
from swa.checkpoint import state_digest, vector_digest
from swa.curves import Curve, CurveConfig, train_curve
from swa.errors import UserError

__all__ = ["CurveResult", "curve_task", "evaluate_curve", "curve_plane", "compute_curve", "barrier",
           "DEFAULT_CURVE_T"]

DEFAULT_CURVE_T = Axis(0.0, 1.0, 61)  # the reference's eval_curve.py --num_points 61
PATHS = ("curve", "line")


def barrier(t: np.ndarray, values: np.ndarray) -> float:
    """max over t of f(t) − [(1 − t)·f(t₀) + t·f(t₁)], f(t₀) and f(t₁) at the first and last t (0 and 1): the
    height of the path above the straight interpolation of its endpoints' values (0 for a path no worse than
    its ends)."""
    t = np.asarray(t, dtype=np.float64)
    f = np.asarray(values, dtype=np.float64)
    return float(np.max(f - ((1 - t) * f[0] + t * f[-1])))


def _stats(values: np.ndarray, dl: np.ndarray) -> dict[str, float]:
    """The reference's min, max, mean and length-weighted mean (trapezoid rule over the distances ``dl``)."""
    length = float(dl[1:].sum())
    integral = float(np.sum(0.5 * (values[:-1] + values[1:]) * dl[1:]) / length) if length > 0 else float("nan")
    return {"min": float(values.min()), "max": float(values.max()), "avg": float(values.mean()), "int": integral}


def curve_t(t: Axis | Any) -> tuple[np.ndarray, Any]:
    """The values of ``t`` (an :class:`Axis` or a 1-D array), checked to lie in [0, 1], and how the resume key
    records them (:func:`landscape.compute.line.t_values`).

    Raises:
        UserError: not finite numbers, or outside [0, 1].
    """
    values, t_json = t_values(t)
    if values.min() < 0 or values.max() > 1:
        raise UserError(f"`t` must lie in [0, 1] on a curve, got {values.min():g} to {values.max():g}")
    return values, t_json


def check_curve_bn(bn: str) -> None:
    """Refuse a BatchNorm strategy that interpolates stored statistics: a curve's bends have none of their own.

    Raises:
        UserError: ``bn="interpolate"``.
    """
    if bn_strategy(bn).follows_weights:
        raise UserError("`bn='interpolate'` does not apply to a curve (its bends have no BatchNorm statistics of "
                        "their own); use `bn='recompute'`")


def curve_task(space: ParamSpace, curve: Curve, bn: str, t: Axis | Any = DEFAULT_CURVE_T,
               budget: Optional[Budget] = None, labels: tuple[str, str] = ("start", "end")) -> Task:
    """The curve and the straight line between its ends at every ``t`` (in [0, 1]), as one (2, T) task.

    Raises:
        UserError: ``t`` outside [0, 1]; ``bn="interpolate"``.
    """
    check_curve_bn(bn)
    values, t_json = curve_t(t)
    if budget is not None:
        budget("curve", 2 * len(values), len(curve.bends) - 1)
    thetas = [space.params_of(b) for b in curve.bends]
    base = thetas[0]
    directions = torch.stack([th - base for th in thetas[1:]])
    on_curve = curve.coefficients(values)[:, 1:].numpy()
    on_line = np.zeros_like(on_curve)
    on_line[:, -1] = values
    family = AffineFamily(base, directions, np.concatenate([on_curve, on_line]), space.buffers_of(curve.bends[0]),
                          None, space.frozen_of(curve.bends[0]))
    ends = [np.zeros(len(curve.bends) - 1), np.eye(len(curve.bends) - 1)[-1]]
    return Task("curve", (2, len(values)), [family], bn, directions=len(curve.bends) - 1,
                inputs={"kind": curve.kind, "bends": [vector_digest(th) for th in thetas],
                        "t": t_json},
                checks=[CheckPoint(labels[0], curve.bends[0], tuple(ends[0])),
                        CheckPoint(labels[1], curve.bends[-1], tuple(ends[1]))],
                extra={"ts": values},
                sidecar={"kind": curve.kind, "num_bends": len(curve.bends), "paths": list(PATHS),
                         "labels": list(labels),
                         "units": "t: position along the path, 0 at the start and 1 at the end"})


@dataclass
class CurveResult(Result):
    """The curve (``curve``: its bends; :meth:`point`), ``ts`` and ``result[metric]`` (2, T): row 0 the curve,
    row 1 the straight line; ``barriers[path][metric]``; ``reference`` the arrays under the reference's keys."""

    store: ResultStore
    stats: dict
    is_main: bool  # False on the other ranks under torchrun: they hold partial values
    curve: Curve
    ts: np.ndarray
    barriers: dict[str, dict[str, float]]
    reference: dict[str, Any]
    plane: Optional[PlaneResult] = None  # the plane through the ends and the middle bend, when computed

    def point(self, t: float) -> dict[str, torch.Tensor]:
        """φ(t) as a state dict (:meth:`swa.curves.Curve.point`)."""
        return self.curve.point(t)

    def summary_line(self) -> str:
        b = self.barriers
        where = f" -> {self.store.npz}" if self.store.npz is not None else ""
        test = ""
        if b["line"]["test_err"] is not None:  # classification: the test error, in points
            test = f"; test-error barrier {b['line']['test_err']:.3g} vs {b['curve']['test_err']:.3g} points"
        elif b["line"].get("test_loss") is not None:  # regression: the test loss
            test = f"; test-loss barrier {b['line']['test_loss']:.4g} vs {b['curve']['test_loss']:.4g}"
        return (f"curve ({self.curve.kind}, {len(self.curve.bends)} bends): {len(self.ts)} points per path "
                f"({self.stats['computed']} computed, {self.stats['skipped']} skipped) in "
                f"{self.stats['seconds']:.1f}s{where}; train-loss barrier {b['line']['train_loss']:.4g} on the "
                f"line, {b['curve']['train_loss']:.4g} on the curve{test}"
                + describe_check(self.store.sidecar.get("self_check")))


def _reference_arrays(store: ResultStore, ts: np.ndarray, curve: Curve, space: ParamSpace,
                      weight_decay: float) -> dict[str, Any]:
    """The reference's keys for the curve and, prefixed ``line_``, the straight line (see the module docstring)."""
    thetas = torch.stack([space.params_of(b, torch.float64) for b in curve.bends])
    out: dict[str, Any] = {"ts": ts}
    for row, path in enumerate(PATHS):
        if path == "curve":
            coeffs = curve.coefficients(ts)
        else:  # (1 − t)·θ₀ + t·θₙ₋₁
            coeffs = torch.zeros(len(ts), len(curve.bends), dtype=torch.float64)
            coeffs[:, 0], coeffs[:, -1] = torch.as_tensor(1 - ts), torch.as_tensor(ts)
        points = coeffs @ thetas
        sq = points.pow(2).sum(1).numpy()
        dl = np.concatenate([[0.0], torch.linalg.vector_norm(points[1:] - points[:-1], dim=1).numpy()])
        prefix = "" if path == "curve" else "line_"
        arrays = {"dl": dl}
        for split, short in (("train", "tr"), ("test", "te")):
            nll = store.values[f"{split}_loss"][row].astype(np.float64)
            arrays[f"{short}_nll"] = nll
            arrays[f"{short}_loss"] = nll + 0.5 * weight_decay * sq
            acc = store.values[f"{split}_acc"][row].astype(np.float64)
            if np.isfinite(acc).any():
                arrays[f"{short}_acc"] = 100.0 * acc
                arrays[f"{short}_err"] = 100.0 - 100.0 * acc
        for key in [k for k in arrays if k != "dl"]:
            for stat, value in _stats(arrays[key], dl).items():
                arrays[f"{key}_{stat}"] = np.float64(value)
        out.update({prefix + k: v for k, v in arrays.items()})
    return out


def evaluate_curve(job: Job, curve: Curve, *, t: Axis | Any = DEFAULT_CURVE_T, weight_decay: float = 0.0,
                   labels: tuple[str, str] = ("start", "end"), out: Optional[str | Path] = None,
                   training: Optional[dict[str, Any]] = None) -> CurveResult:
    """Loss and accuracy along ``curve`` and along the straight line between its ends (see the module
    docstring), into ``out`` or in memory; ``weight_decay``: the curve's, for the reference's ``tr_loss``;
    ``training``: what the sidecar says about the curve's training (config, history)."""
    if len(curve.bends) < 3:
        raise UserError(f"a curve has at least 3 bends, got {len(curve.bends)}")
    space = space_of(job.model, job.params)
    task = curve_task(space, curve, job.settings.resolved_bn(job.model), t,
                      budget=budget_for(space, job.data, job.settings), labels=labels)
    task.inputs["weight_decay"] = weight_decay
    if training is not None:
        task.sidecar["training"] = training
    run = run_task(task, job.model, job.data, job.forward, space, job.settings, about=job.about, out=out,
                   log=job.log)
    store, ts = run.store, task.extra["ts"]
    reference = _reference_arrays(store, ts, curve, space, weight_decay)
    barriers = {}
    for row, path in enumerate(PATHS):
        entry = {"train_loss": barrier(ts, store.values["train_loss"][row])}
        test_acc, test_loss = store.values["test_acc"][row], store.values["test_loss"][row]
        entry["test_err"] = barrier(ts, 100.0 - 100.0 * test_acc) if np.isfinite(test_acc).all() else None
        entry["test_loss"] = barrier(ts, test_loss) if np.isfinite(test_loss).all() else None
        barriers[path] = entry
    if run.is_main:
        store.extra.update({k: np.asarray(v) for k, v in reference.items() if k != "ts"})
        store.sidecar["barriers"] = barriers
        store.save()
    return CurveResult(store=store, stats=run.stats, is_main=run.is_main, curve=curve, ts=ts, barriers=barriers,
                       reference=reference)


def curve_plane(job: Job, curve: Curve, ts: np.ndarray, labels: tuple[str, str], *, grid: int,
                out: Optional[str | Path] = None) -> PlaneResult:
    """The plane through the start, the middle bend and the end (the reference's ``plane.py``), with the
    curve's points at ``ts`` projected onto it and drawn as its path. A curve of 3 bends (a quadratic Bezier
    curve or a chain of two segments) lies in that plane exactly, and the sidecar's ``note`` says so; with more
    bends the projections record each point's distance off the plane."""
    middle = len(curve.bends) // 2
    anchors = [Checkpoint(None, label, state, state_digest(state)) for label, state in
               ((labels[0], curve.bends[0]), (f"bend {middle}", curve.bends[middle]), (labels[1], curve.bends[-1]))]
    path = [Checkpoint(None, f"t={t:.3g}", state, state_digest(state)) for t, state in
            ((float(t), curve.point(float(t))) for t in ts)]
    result = evaluate_plane(job, anchors, out=out, trajectory=path, grid=Grid(points=grid))
    if result.is_main:
        kind = {"bezier": "quadratic Bezier curve", "polychain": "polygonal chain"}[curve.kind]
        result.store.sidecar["note"] = (f"the {kind} lies in this plane exactly" if len(curve.bends) == 3
                                        else f"the curve ({len(curve.bends)} bends) projected onto this plane")
        result.store.save()
    return result


def compute_curve(ctx: Context, start: Checkpoint, end: Checkpoint, out: str | Path, settings: Settings,
                  training: CurveConfig, *, t: Axis | Any = DEFAULT_CURVE_T, plane_grid: int = 0,
                  params: ParamSelector = None, log: Callable[[str], None] = print) -> CurveResult:
    """Train a curve from ``start`` to ``end`` on a command's training data (``ctx``, with its augmentation)
    into ``out`` (``curve.pt``; resumed after an interruption), then evaluate it and the straight line there
    (:func:`evaluate_curve`; the evaluation, on ``settings.device``, resumes as every result does); with
    ``plane_grid``, also the plane through the start, the middle bend and the end on a ``plane_grid``² grid,
    into ``out/plane`` (:func:`curve_plane`)."""
    data = ctx.data
    curve_t(t)  # bad input is refused before any training
    check_curve_bn(settings.resolved_bn(ctx.model))
    curve, history = train_curve(ctx.model, start.state, end.state, data.x_train, data.y_train, data.task,
                                 training, out=out, augment=data.augment, progress=settings.progress,
                                 overwrite=settings.overwrite, log=log)
    job = Job(ctx.model, ctx.eval_data(), Forward(task=data.task), settings, ctx.to_json(), params, log)
    result = evaluate_curve(job, curve, t=t, weight_decay=training.weight_decay, labels=(start.label, end.label),
                            out=out, training={"config": training.to_json(), "history": history,
                                               "from": start.to_json(), "to": end.to_json()})
    if plane_grid:
        result.plane = curve_plane(job, curve, result.ts, (start.label, end.label), grid=plane_grid,
                                   out=Path(out) / "plane")
    return result
