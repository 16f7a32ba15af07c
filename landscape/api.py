"""The Python API: one call per computation, on your own model, state dicts, data and loss.

Every function takes the architecture (``model``, never changed: evaluation works on a private
copy), the points (state dicts, models, or checkpoint file paths) and ``data`` in any form of
:func:`landscape.engine.data.as_eval_data` (``(x, y)`` tensors, a ``DataLoader`` or list of batches,
or ``{"train": ..., "test": ...}``), and returns a result object that holds the arrays and
saves to the files the command line writes::

    import landscape
    res = landscape.plane(model, [sd_a, sd_b, sd_c], (x, y), grid=21)
    res.alphas, res.betas, res["train_loss"]          # (nx,), (ny,), (nx, ny)
    res.save("out/")                                   # out/plane.npz + out/plane.json

Shared keyword arguments:

* ``loss_fn(outputs, targets)`` returning the batch mean, or ``forward_fn(model, batch) ->
  (mean_loss, n_correct or None, batch_size[, {name: batch mean}])`` for models called another way
  (the optional dict: extra metrics, recorded as ``train_<name>``/``test_<name>``); by default
  cross-entropy and accuracy for integer targets, MSE for floating ones (``task`` overrides);
  ``loss_name``: the loss's name in results and figures (default: the function's or class's name);
* ``params`` (a name regex or ``fn(name, tensor) -> bool``) and ``trainable_only``: which
  parameters span the space; the others keep each point's own values;
* ``samples`` (``plane``, ``interpolate``, ``rays``): evaluate on a fixed random subset of ``samples``
  training samples and min(``samples``, test size) test samples, drawn from ``seed``
  (:meth:`landscape.engine.data.EvalData.sampled`; recorded in the sidecar's ``inputs.sample``, part of the
  resume key; one line says which); default all. ``sharpness``' ``samples`` is the same subset of the
  training samples (sharpness uses no test data);
* ``bn`` (``recompute``/``interpolate``/``fixed``; default ``recompute`` for models with
  BatchNorm; ``sharpness``: ``fixed``, the default, or ``recompute``), ``bn_samples``, ``bn_pass``,
  ``batch_size``, ``chunk``, ``device``,
  ``precision``, ``seed``, ``progress``, ``max_points`` as on the command line;
* ``out``: compute into a directory instead of memory (saved as it goes; a repeated call with the
  same inputs resumes), ``overwrite`` to replace results of other inputs there.

Arguments are checked before any work by the validators the command line uses (``Axis``,
``check_grid``, ``check_t``, ``check_ray_args``, ``EvalSettings``, ``parse_metrics``, ...): a bad one
raises ``ValueError`` (:class:`swa.errors.UserError`) naming it as spelled here (``max_distance``), the
value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn as nn

from landscape.engine.budget import DEFAULT_MAX_POINTS
from landscape.engine.data import EvalData, as_eval_data
from landscape.engine.forward import Forward
from landscape.engine.checks import check_int
from landscape.geometry.grid import as_axis, check_grid, check_margin
from landscape.engine.inputs import as_checkpoints
from landscape.compute.line import DEFAULT_T, InterpResult, check_t, evaluate_line
from landscape.curvature.sharpness import DEFAULT_METRICS, SharpnessResult, SharpnessSettings, measure_sharpness, parse_metrics
from landscape.compute.plane import PlaneResult, evaluate_plane
from landscape.compute.rays import RaysResult, check_ray_args, evaluate_rays
from landscape.geometry.presets import plane_preset
from landscape.engine.settings import EvalSettings
from swa.checkpoint import unwrap_model
from swa.errors import UserError
from landscape.engine.weights import ParamSpace

__all__ = ["plane", "interpolate", "rays", "sharpness"]


def _about(model: nn.Module, data: EvalData, forward: Forward) -> dict[str, Any]:
    cls = type(model)
    return {"model": {"class": f"{cls.__module__}.{cls.__qualname__}",
                      "num_params": sum(p.numel() for p in model.parameters())},
            "data": data.describe(), "loss": forward.describe()}


def _setup(model: nn.Module, data: Any, loss_fn, forward_fn, task, log: Callable[[str], None], *,
           loss_name: Optional[str] = None, samples: Optional[int] = None,
           seed: int = 0) -> tuple[nn.Module, EvalData, Forward]:
    """The model to evaluate (inside DataParallel, DDP, torch.compile or AveragedModel wrappers: the states'
    ``module.``/``_orig_mod.`` prefixes are stripped, so they fit the inner model), the data (cut to a fixed
    random subset of ``samples`` drawn from ``seed``, :meth:`EvalData.sampled`, said in one line) and the loss
    (named ``loss_name``, else after the function; a lambda is a "custom loss" and a note says so)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (the architecture), got {type(model).__name__}")
    if samples is not None:
        samples = check_int(samples, "samples", 1)
    model = unwrap_model(model, log)
    data = as_eval_data(data).sampled(samples, seed)
    if data.sample is not None:
        log(data.sample_line())
    forward = Forward(task=task or data.task, loss_fn=loss_fn, forward_fn=forward_fn, name=loss_name)
    if forward.unnamed:
        what = "forward_fn" if forward_fn is not None else "loss_fn"
        log(f"note: the {what} has no name (a lambda); results and figures call it {forward.name!r}: pass "
            "loss_name='...' to name it")
    return model, data, forward


def _settings(bn, bn_samples, bn_pass, batch_size, chunk, device, precision, seed, progress, max_points,
              overwrite, self_check=True) -> EvalSettings:
    return EvalSettings(bn=bn, bn_samples=bn_samples, bn_pass=bn_pass, batch_size=batch_size, chunk=chunk,
                        device=device, precision=precision, seed=seed, progress=progress, max_points=max_points,
                        overwrite=overwrite, self_check=self_check)


def plane(model: nn.Module, points: Optional[Sequence[Any]] = None, data: Any = None, *, center: Any = None,
          directions: Any = None, grid: Optional[int] = None, x: Any = None, y: Any = None, margin: float = 0.2,
          trajectory: Sequence[Any] = (), marked: Sequence[Any] = (), labels: Optional[Sequence[str]] = None,
          normalization: str = "filter", include_bn_and_bias: bool = False, orthogonal: bool = False,
          pca_center: str = "last", hessian_samples: Optional[int] = None, hessian_tol: float = 1e-4,
          hessian_batch_size: int = 2048, loss_fn: Optional[Callable] = None, forward_fn: Optional[Callable] = None,
          task: Optional[str] = None, loss_name: Optional[str] = None,
          params: Any = None, trainable_only: bool = False, samples: Optional[int] = None, bn: Optional[str] = None,
          bn_samples: Optional[int] = None, bn_pass: str = "single-pass", batch_size: Optional[int] = None,
          chunk: int = 16, device: str = "auto", precision: str = "fp32", seed: int = 0, progress: bool = True,
          max_points: int = DEFAULT_MAX_POINTS, out: Optional[str | Path] = None, overwrite: bool = False,
          like: Optional[str] = None, self_check: bool = True, log: Callable[[str], None] = print) -> PlaneResult:
    """Loss and accuracy on a plane: through three points, or around one point along two directions.

    Through ``points`` p0, p1, p2 (Garipov et al. 2018): a plane point (x, y) is p0 + x·û + y·v̂
    with û = (p1 − p0)/‖p1 − p0‖ and v̂ the unit part of p2 − p0 orthogonal to û (Euclidean units).
    By default the grid is the box around the anchors and projected ``trajectory``/``marked`` points,
    widened by ``margin``, ``grid`` (21) points per axis.

    Around ``center`` (Li et al. 2018): the point (x, y) is center + x·d_x + y·d_y with ``directions``
    ``"random"`` (drawn from ``seed``, ``normalization`` ``filter`` by default, ``include_bn_and_bias``,
    ``orthogonal``; x, y in multiples of the directions, default -1..1), ``"pca"`` (the top two principal
    components of ``trajectory``, centred on its last point or, with ``pca_center="mean"``, its mean; the
    trajectory is drawn as the path), ``"hessian"`` (the top two eigenvectors of the training-loss
    Hessian at ``center``; ``hessian_samples``, ``hessian_tol``, ``hessian_batch_size``: its samples, Lanczos'
    tolerance, and the batch size of its sums, halved on out-of-memory), or given: a ``{"x": {name: tensor}, "y": {name: tensor}}`` dict, the path
    of such a directions file, or a (2, P) tensor. ``res.save(dir)`` also writes ``directions.pt``.
    See ``landscape.compute.around_plane``. ``x``/``y``: ``(min, max, points)``. Returns a
    :class:`~landscape.compute.plane.PlaneResult`.

    ``like``: a published convention (``landscape.geometry.presets``): ``"li2018"`` (around ``center``: random
    filter-normalized directions without biases and BN, BN fixed, −1:1 with 51² points), ``"garipov2018"``
    (through three points, x from the first to the last in fractions of their distance, BN recomputed,
    −0.2:1.2 with 21² points) or ``"izmailov2018"`` (the SWA paper's plane, BN recomputed); it fills what is
    left open and refuses a contradicting argument. The sidecar records it.
    """
    if data is None:
        raise TypeError("plane() needs data")
    grid, margin = check_grid(grid), check_margin(margin)
    x_axis, y_axis = as_axis(x, "x"), as_axis(y, "y")
    choice = plane_preset(like, around=center is not None or directions is not None, bn=bn, grid=grid,
                          margin=margin, x_axis=x_axis, y_axis=y_axis,
                          directions=directions if isinstance(directions, str) else None,
                          normalization=normalization, include_bn_and_bias=include_bn_and_bias)
    bn, grid, x_axis, y_axis = choice.bn, choice.grid, choice.x_axis, choice.y_axis
    model, data, forward = _setup(model, data, loss_fn, forward_fn, task, log, loss_name=loss_name, samples=samples,
                                  seed=seed)
    settings = _settings(bn, bn_samples, bn_pass, batch_size, chunk, device, precision, seed, progress, max_points,
                         overwrite, self_check)
    traj = as_checkpoints(trajectory, None, model, [f"trajectory {i}" for i in range(len(trajectory))]) \
        if len(trajectory) else []
    marks = as_checkpoints(marked, None, model, [f"point {i}" for i in range(len(marked))]) if len(marked) else []
    if center is not None or directions is not None:
        if points is not None:
            raise ValueError("give points (a plane through three points) or center/directions (a plane around "
                             "one point), not both")
        from landscape.compute.around_plane import evaluate_around

        space = ParamSpace.of(model, params, trainable_only)
        chosen = _given_directions(directions, space) if directions is not None else "random"
        center_ckpt = as_checkpoints([center], labels, model, ["center"])[0] if center is not None else None
        return evaluate_around(model, data, forward, center_ckpt, settings, about=_about(model, data, forward),
                               directions=chosen, out=out, params=params, trainable_only=trainable_only,
                               trajectory=traj, marked=marks, x_axis=x_axis, y_axis=y_axis,
                               grid=grid, margin=margin, normalization=normalization,
                               include_bn_and_bias=include_bn_and_bias, orthogonal=orthogonal,
                               pca_center=pca_center, hessian_samples=hessian_samples, hessian_tol=hessian_tol,
                               hessian_batch_size=hessian_batch_size,
                               preset=choice.record, log=log)
    if points is None:
        raise TypeError("plane() needs points (three checkpoints) or center= / directions=")
    anchors = as_checkpoints(points, labels, model, default_labels=["p0", "p1", "p2"][:len(points)])
    if choice.x_towards_last and len(anchors) == 3:  # Garipov et al.: x from the first point to the last
        anchors = [anchors[0], anchors[2], anchors[1]]
    return evaluate_plane(model, data, forward, anchors, settings, about=_about(model, data, forward), out=out,
                          params=params, trainable_only=trainable_only, trajectory=traj, marked=marks,
                          x_axis=x_axis, y_axis=y_axis, grid=21 if grid is None else grid, margin=margin,
                          units=choice.units, preset=choice.record, log=log)


def _given_directions(directions: Any, space: ParamSpace) -> Any:
    """A kind name as is; a directions file as a ``Path`` (``evaluate_around`` loads it and labels its axes);
    a dict or (2, P) tensor as the (2, P) tensor."""
    from landscape.compute.directions import directions_from_dict

    if isinstance(directions, str) and directions in ("random", "pca", "hessian"):
        return directions
    if isinstance(directions, torch.Tensor):
        return directions
    if isinstance(directions, dict):
        return directions_from_dict(directions, space)
    if isinstance(directions, (str, Path)):
        return Path(directions)  # evaluate_around loads it and labels the axes after its plane
    raise TypeError(f"directions must be 'random', 'pca', 'hessian', a dict, a path or a tensor, got "
                    f"{type(directions).__name__}")


def interpolate(model: nn.Module, start: Any, end: Any, data: Any, *, t: Any = DEFAULT_T,
                labels: Optional[Sequence[str]] = None, loss_fn: Optional[Callable] = None,
                forward_fn: Optional[Callable] = None, task: Optional[str] = None, params: Any = None,
                loss_name: Optional[str] = None,
                trainable_only: bool = False, samples: Optional[int] = None, bn: Optional[str] = None,
                bn_samples: Optional[int] = None,
                bn_pass: str = "single-pass", batch_size: Optional[int] = None, chunk: int = 16, device: str = "auto",
                precision: str = "fp32", seed: int = 0, progress: bool = True,
                max_points: int = DEFAULT_MAX_POINTS, out: Optional[str | Path] = None, overwrite: bool = False,
                self_check: bool = True, log: Callable[[str], None] = print) -> InterpResult:
    """Loss and accuracy along ``start + t·(end − start)`` at every ``t`` (any 1-D array; default
    41 points on [−0.5, 1.5], past both ends). Returns an :class:`~landscape.compute.line.InterpResult`."""
    t = check_t(t)
    model, data, forward = _setup(model, data, loss_fn, forward_fn, task, log, loss_name=loss_name, samples=samples,
                                  seed=seed)
    a, b = as_checkpoints([start, end], labels, model, default_labels=["start", "end"])
    settings = _settings(bn, bn_samples, bn_pass, batch_size, chunk, device, precision, seed, progress, max_points,
                         overwrite, self_check)
    return evaluate_line(model, data, forward, a, b, settings, about=_about(model, data, forward), out=out,
                         t=t, params=params,
                         trainable_only=trainable_only, log=log)


def rays(model: nn.Module, points: Sequence[Any], data: Any, *, directions: int = 10, max_distance: float = 20.0,
         steps: int = 21, delta: float = 0.1, normalization: str = "unit", include_bn_and_bias: bool = False,
         labels: Optional[Sequence[str]] = None, loss_fn: Optional[Callable] = None,
         forward_fn: Optional[Callable] = None, task: Optional[str] = None, params: Any = None,
         loss_name: Optional[str] = None,
         trainable_only: bool = False, samples: Optional[int] = None, bn: Optional[str] = None,
         bn_samples: Optional[int] = None,
         bn_pass: str = "single-pass", batch_size: Optional[int] = None, chunk: int = 16, device: str = "auto",
         precision: str = "fp32", seed: int = 0, progress: bool = True, max_points: int = DEFAULT_MAX_POINTS,
         out: Optional[str | Path] = None, overwrite: bool = False, self_check: bool = True,
         log: Callable[[str], None] = print) -> RaysResult:
    """Loss along ``directions`` random rays from each point (Izmailov et al. 2018, Fig. 4), the same rays
    for every point (drawn with ``seed``), normalized per ``normalization`` (``unit``, ``filter``, ``layer``,
    ``none``), and each ray's width at a rise of ``delta``. Returns a :class:`~landscape.compute.rays.RaysResult`."""
    check_ray_args(directions=directions, max_distance=max_distance, steps=steps, delta=delta)
    model, data, forward = _setup(model, data, loss_fn, forward_fn, task, log, loss_name=loss_name, samples=samples,
                                  seed=seed)
    ckpts = as_checkpoints(points, labels, model)
    settings = _settings(bn, bn_samples, bn_pass, batch_size, chunk, device, precision, seed, progress, max_points,
                         overwrite, self_check)
    return evaluate_rays(model, data, forward, ckpts, settings, about=_about(model, data, forward), out=out,
                         params=params, trainable_only=trainable_only, delta=delta, directions=directions,
                         max_distance=max_distance, steps=steps, normalization=normalization,
                         include_bn_and_bias=include_bn_and_bias, log=log)


def sharpness(model: nn.Module, points: Sequence[Any], data: Any, *, metrics: Sequence[str] = DEFAULT_METRICS,
              labels: Optional[Sequence[str]] = None, loss_fn: Optional[Callable] = None,
              forward_fn: Optional[Callable] = None, task: Optional[str] = None, params: Any = None,
              loss_name: Optional[str] = None,
              trainable_only: bool = False, bn: Optional[str] = None, samples: Optional[int] = None,
              batch_size: int = 2048, device: str = "auto", seed: int = 0, progress: bool = True,
              out: Optional[str | Path] = None, overwrite: bool = False, eigenvectors: bool = False,
              log: Callable[[str], None] = print, **metric_settings: Any) -> SharpnessResult:
    """Sharpness ``metrics`` (names from ``landscape.curvature.sharpness.METRICS``, a list or one comma-separated string;
    ``"all"`` for all; at least one) at each point, on the
    training loss of the eval-mode network with each checkpoint's own BatchNorm statistics (``bn="fixed"``,
    the default: the Hessian PyHessian computes with ``model.eval()``); ``bn="recompute"`` recomputes the
    statistics once at the point on the training inputs, which changes the function whose Hessian is taken.
    ``result.bn`` and ``bn`` in ``sharpness.json`` say which.
    ``metric_settings`` override :class:`~landscape.curvature.sharpness.SharpnessSettings` fields (``top_k=3``, ...).
    ``eigenvectors=True`` keeps the top-``top_k`` eigenvectors of ``hessian_top_eigenvalues`` (no extra cost):
    ``result.eigenvectors(point)`` (``.vectors`` (k, P), ``.names``, ``.directions(0, 1)`` for ``plane``), and
    ``save`` writes ``eigenvectors.pt`` and per point a directions file (``landscape.curvature.eigenvectors``).
    Returns a :class:`~landscape.curvature.sharpness.SharpnessResult` (``result[label]["metrics"]``)."""
    names = parse_metrics(metrics)
    if bn not in (None, "fixed", "recompute"):
        raise UserError(f"bn must be 'fixed' (the default: the checkpoint's statistics, as PyHessian) or "
                        f"'recompute' for sharpness, got {bn!r}")
    model, data, forward = _setup(model, data, loss_fn, forward_fn, task, log, loss_name=loss_name)
    ckpts = as_checkpoints(points, labels, model)
    if len({c.label for c in ckpts}) != len(ckpts):
        raise ValueError("labels must be distinct")
    settings = SharpnessSettings(samples=samples, bn_recompute=bn == "recompute", batch_size=batch_size,
                                 **metric_settings)
    return measure_sharpness(model, data, ckpts, settings, about=_about(model, data, forward), out=out, metrics=names,
                             seed=seed, device=device, forward=forward, params=params, trainable_only=trainable_only,
                             overwrite=overwrite, progress=progress, eigenvectors=eigenvectors, log=log)
