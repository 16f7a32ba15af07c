"""A plane around one checkpoint along two directions (Li et al. 2018, "Visualizing the Loss Landscape
of Neural Nets"): random filter-normalized, the trajectory's principal components, or the top Hessian
eigenvectors (``landscape.compute.directions``).

The point at (x, y) is w_c + x·d_x + y·d_y. Writes the three-point plane's files (``plane.npz``:
``alphas``, ``betas``, the metrics, ``anchors`` (1, 2) = the center at (0, 0) — or, for a PCA plane
centred on the mean, where the last point is not the center, the center is still (0, 0) —
``trajectory`` (T, 2) and ``trajectory_distance`` (T,) of the projected points, ``done``), its sidecar
(with ``directions``: kind, units, axis labels, seed / explained variance / eigenvalues) and
``directions.pt`` (``landscape.compute.directions``), which a resumed run reuses instead of drawing or
computing the directions again.

Projected points: for PCA the trajectory itself; other checkpoints (``marked``, and ``trajectory`` for
the other kinds) by least squares, c = argmin ‖(w − w_c) − Dᵀc‖, with the residual as the distance.

Default grid: random, ``-1:1`` on both axes (Li et al.), 51 points per axis on CUDA and 21 on a CPU;
PCA, the box around the center and the projected trajectory widened by ``margin``; Hessian, ±√(2/λ₁)
on both axes, where the quadratic model rises by 1 along the top eigenvector (±1 if λ₁ ≤ 0). The
Hessian is that of the eval-mode loss with the center's BatchNorm statistics, so unless ``bn`` is given
a Hessian plane keeps them fixed (recomputed at every point, the surface is of another function).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from swa.checkpoint import vector_digest
from swa.devices import resolve_device
from swa.errors import UserError
from landscape.compute.plane import PlaneResult
from landscape.engine.bn import bn_strategy
from landscape.engine.checks import arg
from landscape.engine.distributed import in_process_group, setup
from landscape.engine.task import Job, Task, budget_for, resume_key, run_task, space_of
from landscape.engine.evaluator import AffineFamily
from landscape.geometry.grid import Axis, check_direction_pair, default_plane_axes
from landscape.engine.inputs import Checkpoint
from landscape.engine.self_check import CheckPoint
from landscape.compute.directions import (DIRECTION_KINDS, PlaneDirections, hessian_plane, load_directions,
                                        loaded_provenance, pca_plane, random_plane, save_directions)
from landscape.compute.options import Directions, Grid
from landscape.engine.weights import ParamSpace
from landscape.curvature.objective import ModelObjective

__all__ = ["evaluate_around", "DirectionRequest"]

DIRECTIONS_FILE = "directions.pt"


class DirectionRequest(dict):
    """What decides the directions (JSON): ``kind`` and its options; a loaded file is named by its digest."""


def _project(directions: torch.Tensor, center: torch.Tensor, w: torch.Tensor) -> tuple[float, float, float]:
    """Least-squares coordinates of ``w − center`` on the rows of ``directions``, and the residual norm."""
    D = directions.double()
    diff = w.double() - center.double()
    c = torch.linalg.solve(D @ D.T, D @ diff)
    return float(c[0]), float(c[1]), float(torch.linalg.vector_norm(diff - D.T @ c))


def _default_axes(dirs: PlaneDirections, points: list[tuple[float, float]], grid: int,
                  margin: float) -> tuple[Axis, Axis]:
    if dirs.kind == "pca":
        return default_plane_axes([(0.0, 0.0)] + points, grid, margin)
    half = 1.0
    if dirs.kind == "hessian":
        lam = dirs.about["eigenvalues"][0]
        half = math.sqrt(2 / lam) if lam > 0 else 1.0
    return Axis(-half, half, grid), Axis(-half, half, grid)


def _previous(out: Optional[str | Path], request: dict[str, Any]) -> Optional[tuple[torch.Tensor, dict]]:
    """The directions of an earlier run of the same request in ``out`` (file and sidecar), if any."""
    if out is None:
        return None
    side, file = Path(out) / "plane.json", Path(out) / DIRECTIONS_FILE
    if not (side.exists() and file.exists()):
        return None
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("directions_request") != request:
        return None  # not ours, or of another request: the store's own reading of plane.json decides what to say
    previous = meta.get("directions")
    return file, previous if isinstance(previous, dict) else {}


@in_process_group
def evaluate_around(job: Job, center: Optional[Checkpoint], *, directions: Directions | Any = Directions(),
                    grid: Grid | int | None = None, out: Optional[str | Path] = None,
                    trajectory: Sequence[Checkpoint] = (), marked: Sequence[Checkpoint] = (),
                    save_copy: Optional[str | Path] = None, preset: Optional[dict] = None) -> PlaneResult:
    """Loss and accuracy on the plane w_c + x·d_x + y·d_y around ``center`` (see the module docstring).

    Args:
        job, out: as for ``evaluate_plane`` (the model, data, loss, settings, ``about``, ``params``).
        center: the checkpoint the plane is centred on (for ``pca`` with ``pca_center="last"``, the last
            trajectory point is used when ``center`` is ``None``).
        directions: a :class:`~landscape.compute.options.Directions`: its ``kind`` ``random``, ``pca``,
            ``hessian``, a directions file (a ``Path``: loaded, and the axes labelled as the plane that wrote it,
            ``landscape.compute.directions.loaded_provenance``, the file recorded) or a (2, P) tensor, and the
            options of each kind.
            A kind alone stands for ``Directions(kind)``.
        grid: a :class:`~landscape.compute.options.Grid` (``points`` ``None``: 51 on CUDA, 21 on a CPU), or its
            points per axis.
        trajectory: points drawn as a path (for ``pca``, the points whose components span the plane).
        marked: more checkpoints to project and mark.

    Under ``torchrun`` the whole call is in one process group (``landscape.engine.distributed.in_process_group``):
    Hessian directions are computed once, on rank 0 (on its own GPU), and broadcast to the other ranks.
        save_copy: also write the directions file here.

    Raises:
        UserError: a bad kind, too few trajectory points for PCA, ``bn="interpolate"`` (it needs three
            checkpoints), an unreadable directions file or a directions tensor of the wrong shape;
            StaleResultsError as ``run_task``.
    """
    model, data, forward, settings, about, log = job.model, job.data, job.forward, job.settings, job.about, job.log
    options = directions if isinstance(directions, Directions) else Directions(directions)
    kind, grid = options.kind, Grid.of(grid)
    space = space_of(model, job.params)
    directions_file = kind if isinstance(kind, Path) else None
    if directions_file is not None:
        kind = load_directions(directions_file, space)
    if isinstance(kind, str) and kind == "hessian" and settings.bn is None:
        settings = replace(settings, bn="fixed")  # the function whose curvature is measured (eval mode)
    bn = settings.resolved_bn(model)
    if bn_strategy(bn).follows_weights:
        raise UserError(f"`bn={bn!r}` interpolates the statistics of three checkpoints; a plane around one "
                        "checkpoint takes `bn='recompute'` or `bn='fixed'`")
    device = resolve_device(settings.device)
    points = grid.points or (51 if device.type == "cuda" else 21)
    if isinstance(kind, str) and kind == "pca":
        if options.pca_center == "mean" and center is not None:
            raise UserError("a PCA plane centred on the trajectory's mean (`pca_center='mean'`) takes no `center` "
                            "checkpoint")
        if options.pca_center == "last" and center is None and len(trajectory):
            center = trajectory[-1]
    options = replace(options, kind=kind)
    request = _request(job, space, options, bn, center, trajectory)
    source = f"{arg('load_directions')} {directions_file}" if directions_file else "directions"
    dirs = _directions(replace(job, settings=settings), space, center, trajectory, options,
                       request, out, source)
    if dirs.kind == "loaded" and directions_file is not None:
        labels, source = loaded_provenance(directions_file)
        dirs = replace(dirs, labels=labels, about={**dirs.about, **source})
    w_c = dirs.center if dirs.center is not None else space.params_of(center.state)
    state = center.state if center is not None else trajectory[-1].state  # buffers and frozen parameters
    projections = []
    if dirs.kind == "pca" and dirs.trajectory is not None:
        for ckpt, (x, y, dist) in zip(trajectory, dirs.trajectory):
            projections.append({"label": ckpt.label, "path": ckpt.path, "x": float(x), "y": float(y),
                                "distance": float(dist), "kind": "trajectory"})
    else:
        for ckpt in trajectory:
            x, y, dist = _project(dirs.directions, w_c, space.params_of(ckpt.state))
            projections.append({"label": ckpt.label, "path": ckpt.path, "x": x, "y": y, "distance": dist,
                                "kind": "trajectory"})
    for ckpt in marked:
        x, y, dist = _project(dirs.directions, w_c, space.params_of(ckpt.state))
        projections.append({"label": ckpt.label, "path": ckpt.path, "x": x, "y": y, "distance": dist,
                            "kind": "checkpoint"})
    x_axis, y_axis = grid.x, grid.y
    if (x_axis is None) != (y_axis is None):
        raise UserError("give both `x` and `y`, or neither (then `grid` sets the grid)")
    if x_axis is None:
        x_axis, y_axis = _default_axes(dirs, [(p["x"], p["y"]) for p in projections if p["kind"] == "trajectory"],
                                       points, grid.margin)
    budget_for(space, data, settings)("plane", x_axis.n * y_axis.n, 2)
    alphas, betas = x_axis.values(), y_axis.values()
    coords = np.stack(np.meshgrid(alphas, betas, indexing="ij"), axis=-1).reshape(-1, 2)
    family = AffineFamily(w_c, dirs.directions, coords, space.buffers_of(state), None, space.frozen_of(state))
    label = center.label if center is not None else "mean of the trajectory"
    traj_xy = np.array([[p["x"], p["y"]] for p in projections], dtype=np.float64).reshape(-1, 2)
    task = Task(
        "plane", (len(alphas), len(betas)), [family], bn, directions=2,
        inputs={"center": None if center is None else center.digest, "directions": vector_digest(dirs.directions),
                "trajectory": [c.digest for c in list(trajectory) + list(marked)],
                "x": x_axis.to_json(), "y": y_axis.to_json()},
        extra={"alphas": alphas, "betas": betas, "anchors": np.zeros((1, 2)), "trajectory": traj_xy,
               "trajectory_distance": np.array([p["distance"] for p in projections], dtype=np.float64)},
        sidecar={"anchors": [{**(center.to_json() if center is not None else {"path": None}), "label": label}],
                 "projections": projections, "directions": dirs.to_json(), "directions_request": request,
                 "axes": {"x": dirs.labels[0], "y": dirs.labels[1]},
                 "grid": {"x": x_axis.to_json(), "y": y_axis.to_json(), "margin": grid.margin},
                 "units": dirs.units},
        checks=[CheckPoint(label, state, (0.0, 0.0), params=None if center is not None else w_c)])
    if out is not None and (settings.overwrite or _stored_directions(out) in (None, task.inputs["directions"])):
        Path(out).mkdir(parents=True, exist_ok=True)  # (other directions' results: run_task refuses them, untouched)
        save_directions(Path(out) / DIRECTIONS_FILE, space, dirs.directions)
    if save_copy is not None:
        save_directions(save_copy, space, dirs.directions)
    if preset is not None:  # the published convention applied (landscape.geometry.presets)
        task.sidecar["preset"] = preset
    run = run_task(task, model, data, forward, space, settings, about=about, out=out, log=log)
    return PlaneResult(store=run.store, is_main=run.is_main, plane=None, alphas=alphas, betas=betas,
                       projections=projections, stats=run.stats, directions=dirs, space=space)


def _request(job: Job, space: ParamSpace, options: Directions, bn: str, center: Optional[Checkpoint],
             trajectory: Sequence[Checkpoint]) -> dict[str, Any]:
    """What decides the directions, as the sidecar's ``directions_request`` records it (a resumed run with the
    same request reuses ``directions.pt``): the kind and its options, and, as every resume key
    (:func:`~landscape.engine.task.resume_key`), the parameter selection and sample subset; Hessian directions
    also depend on the model, data and loss (``job.about``)."""
    kind = options.kind
    if isinstance(kind, torch.Tensor):
        return resume_key({"kind": "loaded", "sha256": vector_digest(kind)}, space=space)
    if kind not in DIRECTION_KINDS:
        raise UserError(f"`directions` must be one of {', '.join(DIRECTION_KINDS)}, got {kind!r}")
    req: dict[str, Any] = {"kind": kind, "center": None if center is None else center.digest}
    if kind == "random":
        req.update(seed=job.settings.seed, normalization=options.normalization,
                   include_bn_and_bias=options.include_bn_and_bias, orthogonal=options.orthogonal)
        return resume_key(req, space=space)
    if kind == "pca":
        req.update(pca_center=options.pca_center, trajectory=[c.digest for c in trajectory])
        return resume_key(req, space=space)
    req.update(seed=job.settings.seed, samples=options.hessian_samples, tol=options.hessian_tol, bn=bn)
    return resume_key(req, {"about": job.about}, data=job.data, space=space)


def _directions(job: Job, space: ParamSpace, center: Optional[Checkpoint], trajectory: Sequence[Checkpoint],
                options: Directions, request: dict[str, Any], out: Optional[str | Path],
                source: str = "directions") -> PlaneDirections:
    """The plane's directions in ``space``: given, reused from an earlier run of the same ``request`` in ``out``,
    or drawn / computed as ``options`` says (Hessian ones on ``job``'s model, data, loss and settings)."""
    settings, log, kind = job.settings, job.log, options.kind
    if isinstance(kind, torch.Tensor):
        d = kind.detach().float().cpu()
        if d.shape != (2, space.num_params):
            raise UserError(f"directions must have shape (2, {space.num_params}), got {tuple(d.shape)}")
        check_direction_pair(d, source)
        labels = ("direction 1 (given)", "direction 2 (given)")
        return PlaneDirections(d, "loaded", "multiples of the directions", labels, {"sha256": request["sha256"]})
    if kind != "pca" and center is None:
        raise UserError(f"`directions={kind!r}` needs `center=CKPT`")
    found = _previous(out, request)
    if found is not None:  # a resumed run: the very same directions, not drawn or computed again
        file, meta = found
        d = load_directions(file, space)
        center_vec = None
        if kind == "pca" and meta.get("center") == "mean":
            center_vec = torch.stack([space.params_of(c.state).double() for c in trajectory]).mean(0).float()
        traj = None
        if kind == "pca":
            traj = np.array([[p["x"], p["y"], p["distance"]] for p in _saved_projections(out)
                             if p.get("kind") == "trajectory"]).reshape(-1, 3)
        about = {k: v for k, v in meta.items() if k not in ("kind", "units", "labels")}
        log(f"directions: reusing {file}")
        return PlaneDirections(d, meta["kind"], meta["units"], tuple(meta["labels"]), about, center_vec, traj)
    if kind == "random":
        return random_plane(space, space.params_of(center.state), seed=settings.seed,
                            normalization=options.normalization, include_bn_and_bias=options.include_bn_and_bias,
                            orthogonal=options.orthogonal)
    if kind == "pca":
        dirs = pca_plane([space.params_of(c.state) for c in trajectory], center=options.pca_center)
        if center is not None and center is not trajectory[-1]:  # --around CKPT: coordinates relative to it
            dirs.center = space.params_of(center.state)
            dirs.trajectory = np.array([_project(dirs.directions, dirs.center, space.params_of(c.state))
                                        for c in trajectory])
        return dirs

    group = setup(resolve_device(settings.device))  # the group evaluate_around joined: this rank and its device

    def compute() -> tuple[torch.Tensor, PlaneDirections]:  # on rank 0 only, then broadcast
        log("directions: top two Hessian eigenvectors (Lanczos)")
        obj = ModelObjective(job.model, job.data, center.state, device=group.device,
                             samples=options.hessian_samples, seed=settings.seed,
                             bn_recompute=settings.resolved_bn(job.model) == "recompute",
                             batch_size=options.hessian_batch_size, forward=job.forward,
                             params=space.param_names and _exact_names(space))
        dirs = hessian_plane(obj, tol=options.hessian_tol, seed=settings.seed)
        return dirs.directions, replace(dirs, directions=None)

    d, dirs = group.from_main(compute)
    return replace(dirs, directions=d)


def _exact_names(space: ParamSpace) -> Callable[[str, torch.Tensor], bool]:
    names = set(space.param_names)
    return lambda name, _: name in names


def _stored_directions(out) -> Optional[str]:
    """The digest of the directions of the results already in ``out`` (``None`` if there are none, ``"?"``
    if their sidecar is unreadable)."""
    side = Path(out) / "plane.json"
    if not side.is_file():
        return None
    try:
        return str(json.loads(side.read_text())["inputs"]["directions"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?"


def _saved_projections(out) -> list[dict]:
    return json.loads((Path(out) / "plane.json").read_text()).get("projections", [])
