"""Loss along the line between two checkpoints, extrapolated past both ends.

a + t·(b − a) for t on a grid (default [-0.5, 1.5], so the walls beyond both ends
show): pretrained → fine-tuned, or SGD → SWA as in Izmailov et al. 2018, Fig. 5.
Writes ``interp.npz`` (``t``, ``distance`` = t·‖b − a‖, ``train_loss``,
``train_acc``, ``test_loss``, ``test_acc``, ``done``) and ``interp.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from landscape.evaluator import AffineFamily
from landscape.geometry import Axis, GeometryError, Line
from landscape.inputs import Checkpoint, Context
from landscape.job import EvalSettings, Job
from landscape.store import ResultStore

__all__ = ["compute_interp", "InterpResult", "DEFAULT_T", "line_values"]

DEFAULT_T = Axis(-0.5, 1.5, 41)


def line_values(axis: Axis) -> np.ndarray:
    """The axis' values, with those within 1e-12 of 0 and 1 snapped onto the endpoints exactly."""
    t = axis.values()
    for anchor in (0.0, 1.0):
        t[np.abs(t - anchor) < 1e-12] = anchor
    return t


@dataclass
class InterpResult:
    store: ResultStore
    is_main: bool  # False on the other ranks under torchrun: they hold partial values
    t: np.ndarray
    length: float
    stats: dict

    def summary_line(self) -> str:
        loss = self.store.values["train_loss"]
        parts = [f"interp: {len(self.t)} points ({self.stats['computed']} computed, {self.stats['skipped']} skipped)"
                 f" in {self.stats['seconds']:.1f}s -> {self.store.npz}; |b - a| = {self.length:.4g}"]
        for anchor in (0.0, 1.0):
            hit = np.flatnonzero(self.t == anchor)
            if len(hit):
                parts.append(f"train loss at t={anchor:g}: {loss[hit[0]]:.4g}")
        return "; ".join(parts)


def compute_interp(ctx: Context, start: Checkpoint, end: Checkpoint, out: str | Path, settings: EvalSettings, *,
                   t_axis: Axis = DEFAULT_T, log: Callable[[str], None] = print) -> InterpResult:
    """Evaluate ``start + t·(end − start)`` on ``t_axis`` and write ``out/interp.npz``.

    With ``--bn interpolate`` the buffers follow the same line; ``recompute`` recomputes them
    at every point; ``fixed`` keeps ``start``'s.

    Raises:
        GeometryError: the two checkpoints are identical.
    """
    job = Job.prepare(ctx, start, settings, log=log)
    line = Line(job.params(start), job.params(end))
    if line.length == 0.0:
        raise GeometryError(f"{start.path} and {end.path} hold the same weights: there is no line between them")
    job.check_budget("interp", t_axis.n, 1)
    t = line_values(t_axis)
    b0 = job.buffers(start)
    buffer_dirs = (job.buffers(end) - b0)[None] if job.bn == "interpolate" and b0.numel() else None
    family = AffineFamily(line.start, line.direction[None], t[:, None], b0, buffer_dirs)
    store = job.store(
        out, "interp", (len(t),),
        inputs={"from": start.digest, "to": end.digest, "t": t_axis.to_json()},
        extra={"t": t, "distance": t * line.length},
        sidecar={"from": start.to_json(), "to": end.to_json(), "length": line.length,
                 "units": "t: fraction of the way from 'from' to 'to'; distance: Euclidean, in parameter space"})
    stats = job.run([family], store, log)
    return InterpResult(store=store, is_main=job.dist.is_main, t=t, length=line.length, stats=stats)
