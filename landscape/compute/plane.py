"""The affine-plane experiment (Garipov et al. 2018; Izmailov et al. 2018, Fig. 1 and 5).

Loss and accuracy on a grid over the plane through three checkpoints, with other
checkpoints (a trajectory, the final SGD iterate, the SWA average) projected onto
it. Writes ``plane.npz`` (``alphas`` (nx), ``betas`` (ny), ``train_loss``,
``train_acc``, ``test_loss``, ``test_acc`` of shape (nx, ny) with ``[i, j]`` at
(``alphas[i]``, ``betas[j]``), ``anchors`` (3, 2), ``trajectory`` (T, 2),
``trajectory_distance`` (T,), ``done`` (nx, ny)) and ``plane.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from swa.errors import UserError
from landscape.engine.bn import bn_strategy
from landscape.engine.task import Budget, Job, Task, budget_for, run_task, space_of
from landscape.engine.evaluator import AffineFamily
from landscape.engine.forward import Forward
from landscape.geometry.grid import Axis, Plane, check_grid, check_margin, default_plane_axes
from landscape.engine.inputs import Checkpoint, Context
from landscape.results.result import Result
from landscape.engine.self_check import CheckPoint, describe_check
from landscape.compute.options import Grid
from landscape.engine.settings import Settings
from landscape.results.store import ResultStore
from landscape.engine.weights import ParamSpace, ParamSelector
from landscape.compute.directions import save_directions

__all__ = ["compute_plane", "evaluate_plane", "plane_task", "PlaneResult", "plane_buffer_directions"]


@dataclass
class PlaneResult(Result):
    """``alphas`` (nx,), ``betas`` (ny,) and ``result[metric]`` (nx, ny) with ``[i, j]`` at (alphas[i], betas[j])."""

    store: ResultStore
    is_main: bool  # False on the other ranks under torchrun: they hold partial values
    plane: Optional[Plane]  # None for a plane around one point (``landscape.compute.around_plane``)
    alphas: np.ndarray
    betas: np.ndarray
    projections: list[dict]
    stats: dict
    directions: Optional[Any] = None  # a plane around one point: its PlaneDirections
    space: Optional[ParamSpace] = None

    def save(self, out: str | Path, overwrite: bool = False) -> Path:
        """As :meth:`Result.save`; a plane around one point also writes ``out/directions.pt``."""
        npz = super().save(out, overwrite=overwrite)
        if self.directions is not None:
            self.save_directions(Path(out) / "directions.pt")
        return npz

    def save_directions(self, path: str | Path) -> Path:
        """Write the directions of a plane around one point as a directions file (``{"x": ..., "y": ...}``)."""
        if self.directions is None:
            raise ValueError("a plane through three points has no directions file (its û, v̂ follow from them)")
        return save_directions(path, self.space, self.directions.directions)

    def summary_line(self) -> str:
        loss = self.store.values["train_loss"]
        finite = np.where(np.isfinite(loss), loss, np.inf)
        i, j = np.unravel_index(np.argmin(finite), loss.shape)
        where = f" -> {self.store.npz}" if self.store.npz is not None else ""
        return (f"plane: {loss.size} points ({self.stats['computed']} computed, {self.stats['skipped']} skipped) "
                f"in {self.stats['seconds']:.1f}s{where}; lowest train loss {loss[i, j]:.4g} at "
                f"({self.alphas[i]:.3g}, {self.betas[j]:.3g})" + describe_check(self.store.sidecar.get("self_check")))


def plane_buffer_directions(plane: Plane, b0: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Buffer directions that make buffers follow the weights on the plane (``--bn interpolate``).

    The plane point x·û + y·v̂ equals α(p1 − p0) + β(p2 − p0) with (α, β) linear in (x, y);
    its buffers are b0 + α(b1 − b0) + β(b2 − b0). Returns the (2, B) matrix of that linear map.
    """
    a_u = plane.anchor_weights(1.0, 0.0)
    a_v = plane.anchor_weights(0.0, 1.0)
    d1, d2 = (b1 - b0).double(), (b2 - b0).double()
    return torch.stack([a_u[0] * d1 + a_u[1] * d2, a_v[0] * d1 + a_v[1] * d2]).float()


def plane_task(space: ParamSpace, anchors: Sequence[Checkpoint], bn: str, *, trajectory: Sequence[Checkpoint] = (),
               marked: Sequence[Checkpoint] = (), x_axis: Optional[Axis] = None, y_axis: Optional[Axis] = None,
               grid: int = 21, margin: float = 0.2, budget: Optional[Budget] = None, units: str = "euclidean",
               preset: Optional[dict] = None) -> tuple[Task, Plane, list[dict]]:
    """The plane through ``anchors`` as a task (see :func:`evaluate_plane`); no data or device involved.

    ``units``: ``euclidean`` (x, y distances along û, v̂) or ``relative`` (Garipov et al.'s: x in fractions
    of ‖p1 − p0‖, y of the part of p2 − p0 orthogonal to it, so that p0 = (0, 0) and p1 = (1, 0)).
    ``preset``: the published convention applied (``landscape.geometry.presets``), recorded in the sidecar.

    Raises:
        GeometryError: collinear anchors or a bad grid; UserError for other bad inputs.
    """
    if len(anchors) != 3:
        raise UserError(f"a plane needs three points, got {len(anchors)}")
    if (x_axis is None) != (y_axis is None):
        raise UserError("give both `x` and `y`, or neither (then `grid` and `margin` set the grid)")
    check_grid(grid)
    check_margin(margin)
    p0, p1, p2 = (space.params_of(a.state) for a in anchors)
    plane = Plane.through(p0, p1, p2, names=[a.path or a.label for a in anchors])
    if units not in ("euclidean", "relative"):
        raise UserError(f"units must be euclidean or relative, got {units!r}")
    # Coordinates in the task's units: Euclidean (scale 1) or fractions of ‖p1 − p0‖ and of v's length.
    scale = np.array([plane.anchors[1, 0], plane.anchors[2, 1]]) if units == "relative" else np.ones(2)
    anchor_xy = plane.anchors / scale
    projections = []
    projected = [(c, "trajectory") for c in trajectory] + [(c, "checkpoint") for c in marked]
    for ckpt, kind in projected:
        x, y, dist = plane.project(space.params_of(ckpt.state))
        projections.append({"label": ckpt.label, "path": ckpt.path, "x": x / scale[0], "y": y / scale[1],
                            "distance": dist, "kind": kind})
    if x_axis is None:
        pts = [tuple(a) for a in anchor_xy] + [(p["x"], p["y"]) for p in projections]
        x_axis, y_axis = default_plane_axes(pts, grid, margin)
    if budget is not None:
        budget("plane", x_axis.n * y_axis.n, 2)
    alphas, betas = x_axis.values(), y_axis.values()
    coords = np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)
    b0 = space.buffers_of(anchors[0].state)
    buffer_dirs = None
    row_scale = torch.as_tensor(scale, dtype=torch.float32)[:, None]
    if bn_strategy(bn).follows_weights and b0.numel():
        buffer_dirs = plane_buffer_directions(plane, b0, *(space.buffers_of(a.state) for a in anchors[1:])) * row_scale
    directions = plane.directions if units == "euclidean" else plane.directions * row_scale
    family = AffineFamily(plane.origin, directions, coords, b0, buffer_dirs, space.frozen_of(anchors[0].state))
    traj_xy = np.array([[p["x"], p["y"]] for p in projections], dtype=np.float64).reshape(-1, 2)
    task = Task(
        "plane", (len(alphas), len(betas)), [family], bn, directions=2,
        inputs={"anchors": [a.digest for a in anchors], "trajectory": [c.digest for c, _ in projected],
                "x": x_axis.to_json(), "y": y_axis.to_json(), **({"units": units} if units == "relative" else {})},
        extra={"alphas": alphas, "betas": betas, "anchors": anchor_xy, "trajectory": traj_xy,
               "trajectory_distance": np.array([p["distance"] for p in projections], dtype=np.float64)},
        sidecar={"anchors": [a.to_json() for a in anchors], "projections": projections,
                 "grid": {"x": x_axis.to_json(), "y": y_axis.to_json(), "margin": margin},
                 "units": "Euclidean distance in parameter space"},
        checks=[CheckPoint(a.label, a.state, tuple(xy)) for a, xy in zip(anchors, anchor_xy)])
    if units == "relative":
        first, second, third = (a.label for a in anchors)
        task.sidecar.update(
            units=f"fractions: x of ‖{second} − {first}‖ = {scale[0]:.4g}, y of the part of {third} − {first} "
                  f"orthogonal to it, {scale[1]:.4g} (Garipov et al. 2018)",
            axes={"x": f"α  (× ‖{second} − {first}‖)", "y": f"β  (× ‖v‖, v towards {third})"},
            scale=[float(s) for s in scale])
    if preset is not None:
        task.sidecar["preset"] = preset
    return task, plane, projections


def evaluate_plane(job: Job, anchors: Sequence[Checkpoint], *, out: Optional[str | Path] = None,
                   trajectory: Sequence[Checkpoint] = (), marked: Sequence[Checkpoint] = (),
                   grid: Grid | int | None = None, units: str = "euclidean",
                   preset: Optional[dict] = None) -> PlaneResult:
    """Loss and accuracy on the plane through ``anchors`` (three checkpoints), into ``out`` or in memory.

    Args:
        job: the model, data, loss, settings, ``about`` and ``params`` (:class:`~landscape.engine.task.Job`);
            the parameters outside ``params`` keep p0's values.
        anchors: p0, p1, p2.
        trajectory: checkpoints to project onto the plane, in order (a figure joins them by a line).
        marked: more checkpoints to project (the final SGD iterate, the average: a figure marks each).
            Coordinates and distances of both are stored, trajectory first; each projection's
            ``kind`` (``trajectory`` or ``checkpoint``) is in the sidecar.
        grid: a :class:`~landscape.compute.options.Grid`: explicit axes ``x``, ``y``; default: the bounding box
            of anchors and projected trajectory widened by ``margin`` of its extent, ``points`` (21) per axis.
        units, preset: see :func:`plane_task`.

    Raises:
        GeometryError: collinear anchors or a bad grid; UserError for other bad inputs.
    """
    space, grid = space_of(job.model, job.params), Grid.of(grid)
    task, plane, projections = plane_task(space, anchors, job.settings.resolved_bn(job.model), trajectory=trajectory,
                                          marked=marked, x_axis=grid.x, y_axis=grid.y,
                                          grid=21 if grid.points is None else grid.points, margin=grid.margin,
                                          budget=budget_for(space, job.data, job.settings), units=units,
                                          preset=preset)
    run = run_task(task, job.model, job.data, job.forward, space, job.settings, about=job.about, out=out,
                   log=job.log)
    return PlaneResult(store=run.store, is_main=run.is_main, plane=plane, alphas=task.extra["alphas"],
                       betas=task.extra["betas"], projections=projections, stats=run.stats)


def compute_plane(ctx: Context, anchors: Sequence[Checkpoint], out: str | Path, settings: Settings, *,
                  params: ParamSelector = None, log: Callable[[str], None] = print, **kwargs) -> PlaneResult:
    """:func:`evaluate_plane` on a command's model and data (``ctx``), into ``out``."""
    job = Job(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), settings, ctx.to_json(), params, log)
    return evaluate_plane(job, anchors, out=out, **kwargs)
