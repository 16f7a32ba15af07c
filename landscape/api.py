"""The Python API: one call per computation, on your own model, state dicts, data and loss.

Every function takes the architecture (``model``, never changed: evaluation works on a private
copy), the points (state dicts, models, or checkpoint file paths) and ``data`` in any form of
:func:`landscape.engine.data.as_eval_data` (``(x, y)`` tensors, a ``DataLoader`` or list of batches,
or ``{"train": ..., "test": ...}``), and returns a result object that holds the arrays and
saves to the files the command line writes::

    import landscape
    res = landscape.plane(model, [sd_a, sd_b, sd_c], (x, y), grid=21,
                          settings=landscape.Settings(bn="fixed", device="cpu"))
    res.alphas, res.betas, res["train_loss"]          # (nx,), (ny,), (nx, ny)
    res.save("out/")                                   # out/plane.npz + out/plane.json

What belongs together is passed together, as a small frozen dataclass checked when it is built:

* ``settings``: a :class:`~landscape.engine.settings.Settings`, how points are evaluated: ``bn``
  (``recompute``/``interpolate``/``fixed``; default ``recompute`` for models with BatchNorm; ``sharpness``:
  ``fixed``, the default, or ``recompute``), ``bn_samples``, ``bn_pass``, ``batch_size``, ``chunk``,
  ``device``, ``precision``, ``seed``, ``progress``, ``max_points``, ``self_check`` as on the command line;
  ``log``: where info lines go (``print``);
  ``samples``: evaluate on a fixed random subset of ``samples`` training samples and min(``samples``, test
  size) test samples, drawn from ``seed`` (:meth:`landscape.engine.data.EvalData.sampled`; recorded in the
  sidecar's ``inputs.sample``, part of the resume key; one line says which; ``sharpness``: the same subset of
  the training samples); ``overwrite``: replace results of other inputs in ``out``;
* ``loss``: a :class:`~landscape.engine.settings.Loss` (or just the ``loss_fn``): ``fn(outputs, targets)``
  returning the batch mean, or ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size[,
  {name: batch mean}])`` for models called another way (the optional dict: extra metrics, recorded as
  ``train_<name>``/``test_<name>``); by default cross-entropy and accuracy for integer targets, MSE for
  floating ones (``task`` overrides); ``name``: the loss's name in results and figures (default: the
  function's or class's name);
* ``plane``'s ``grid``: a :class:`~landscape.compute.options.Grid` (``points`` per axis, explicit ``x``/``y``
  axes, ``margin``), or just the points per axis; its ``directions`` around one point: a
  :class:`~landscape.compute.options.Directions` (``kind`` and the options of each kind), or just the kind.

* ``rays``' ``rays``: a :class:`~landscape.compute.options.Rays` (``directions``, ``max_distance``, ``steps``,
  ``delta``, ``normalization``, ``include_bn_and_bias``), or just the number of directions.

Points are a sequence, or a ``{label: point}`` mapping that names them in results and figures
(``{"SGD": sd_a, "SWA": sd_b, "PSWA": sd_c}``); a single point (``center``, ``start``, ``end``) is named by a
one-item mapping. Other keywords: ``params``, which parameters span the space (the others keep each point's own
values): a name regex, ``fn(name, tensor) -> bool``, or :class:`~landscape.engine.weights.Params` (``match`` and
``trainable_only``); ``out``: compute into a directory instead of memory (saved as it goes; a repeated call with
the same inputs resumes). Info lines go to ``settings.log`` (``print``).

A keyword of the former API (``bn="fixed"``, ``loss_fn=...``, ``x=...``, ``hessian_samples=...``, ``labels=``,
``log=``, ``max_distance=``) raises one ``TypeError`` naming its new form (``settings=landscape.Settings(bn='fixed')``). Arguments are checked before
any work by the validators the command line uses (``Settings``, ``Grid``, ``Directions``, ``check_t``,
``Rays``, ``parse_metrics``, ...): a bad one raises ``ValueError`` (:class:`swa.errors.UserError`)
naming it as spelled here (``max_distance``), the value and what is allowed.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from landscape.engine.data import EvalData, as_eval_data
from landscape.engine.forward import Forward
from landscape.engine.inputs import as_checkpoints
from landscape.compute.line import DEFAULT_T, InterpResult, check_t, evaluate_line
from landscape.compute.options import Directions, Grid, Rays
from landscape.curvature.sharpness import (DEFAULT_METRICS, SharpnessResult, measure_sharpness, parse_metrics,
                                           sharpness_settings)
from landscape.compute.plane import PlaneResult, evaluate_plane
from landscape.compute.rays import RaysResult, evaluate_rays
from landscape.compute.curve import DEFAULT_CURVE_T, CurveResult, check_curve_bn, curve_t, evaluate_curve
from landscape.geometry.presets import plane_preset
from landscape.engine.settings import SETTINGS_FIELDS, Loss, Settings
from landscape.engine.task import Job
from swa.checkpoint import WRAPPER_KEYS, unwrap_model
from swa.curves import CurveConfig, train_curve
from landscape.engine.weights import Params, ParamSpace
from landscape.compute.around_plane import evaluate_around
from landscape.compute.directions import DIRECTION_KINDS, directions_from_dict

__all__ = ["plane", "interpolate", "rays", "curve", "sharpness", "Settings", "Loss", "Grid", "Directions", "Rays",
           "CurveConfig", "Params"]


# The former API's keywords and their field in the object that now holds them (settings=, loss=, grid=, directions=).
_LOSS_FIELDS = {"loss_fn": "fn", "forward_fn": "forward_fn", "task": "task", "loss_name": "name"}
_GRID_FIELDS = {"x": "x", "y": "y", "margin": "margin"}
_RAYS_FIELDS = ("max_distance", "steps", "delta")
_DIRECTION_FIELDS = ("normalization", "include_bn_and_bias", "orthogonal", "pca_center", "hessian_samples",
                     "hessian_tol", "hessian_batch_size")


def _moved(name: str, kwargs: dict[str, Any]) -> Optional[str]:
    """The new form of the former keywords in ``kwargs`` (``settings=landscape.Settings(bn='fixed')``), or None."""
    groups: dict[str, list[str]] = {}
    for key, value in kwargs.items():
        shown = "..." if callable(value) else None  # repr'd only for a former keyword (points may be large)
        if key in SETTINGS_FIELDS:
            groups.setdefault("settings=landscape.Settings", []).append(f"{key}={shown or repr(value)}")
        elif key == "trainable_only":
            groups.setdefault("params=landscape.Params", []).append(f"trainable_only={value!r}")
        elif key in _LOSS_FIELDS:
            groups.setdefault("loss=landscape.Loss", []).append(f"{_LOSS_FIELDS[key]}={shown or repr(value)}")
        elif key in _GRID_FIELDS and name == "plane":
            groups.setdefault("grid=landscape.Grid", []).append(f"{key}={shown or repr(value)}")
        elif key == "labels" and name == "interpolate":
            groups.setdefault("start=", []).append("{label: point}, end={label: point}")
        elif key == "labels":
            groups.setdefault("points=", []).append("{label: point, ...}")
        elif name == "rays" and (key in _RAYS_FIELDS or key in ("directions", "normalization",
                                                               "include_bn_and_bias")):
            groups.setdefault("rays=landscape.Rays", []).append(f"{key}={shown or repr(value)}")
        elif key in _DIRECTION_FIELDS and name == "plane":
            groups.setdefault("directions=landscape.Directions", []).append(f"{key}={shown or repr(value)}")
    if not groups:
        return None
    return ", ".join(group + fields[0] if group.endswith("=") else f"{group}({', '.join(fields)})"
                     for group, fields in groups.items())


def _api(fn: Callable) -> Callable:
    """Run ``fn``, refusing a keyword of the former API with its new form (``bn=`` →
    ``settings=landscape.Settings(bn=...)``)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        new = _moved(fn.__name__, kwargs)
        if new is not None:
            old = ", ".join(f"{k}=" for k in kwargs if _moved(fn.__name__, {k: kwargs[k]}))
            raise TypeError(f"{fn.__name__}() no longer takes {old}: pass {new}")
        return fn(*args, **kwargs)
    return wrapper


def _about(model: nn.Module, data: EvalData, forward: Forward) -> dict[str, Any]:
    cls = type(model)
    return {"model": {"class": f"{cls.__module__}.{cls.__qualname__}",
                      "num_params": sum(p.numel() for p in model.parameters())},
            "data": data.describe(), "loss": forward.describe()}


def _settings(settings: Optional[Settings]) -> Settings:
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a landscape.Settings, got {type(settings).__name__}")
    return settings


def _loss(loss: Any) -> Loss:
    if loss is None:
        return Loss()
    if isinstance(loss, Loss):
        return loss
    if callable(loss):
        return Loss(fn=loss)
    raise TypeError(f"loss must be a landscape.Loss or a loss_fn(outputs, targets), got {type(loss).__name__}")


def _setup(model: nn.Module, data: Any, loss: Any, settings: Settings,
           samples: bool = True) -> tuple[nn.Module, EvalData, Forward]:
    """The model to evaluate (inside DataParallel, DDP, torch.compile or AveragedModel wrappers: the states'
    ``module.``/``_orig_mod.`` prefixes are stripped, so they fit the inner model), the data (cut to a fixed
    random subset of ``settings.samples`` drawn from ``settings.seed``, :meth:`EvalData.sampled`, said in one
    line; not with ``samples=False``) and the loss (named ``loss.name``, else after the function; a lambda is a
    "custom loss" and a note says so)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (the architecture), got {type(model).__name__}")
    log, loss = settings.log, _loss(loss)
    model = unwrap_model(model, log)
    data = as_eval_data(data)
    if samples:
        data = data.sampled(settings.samples, settings.seed)
    if data.sample is not None:
        log(data.sample_line())
    forward = loss.forward(data.task)
    if forward.unnamed:
        what = "forward_fn" if loss.forward_fn is not None else "loss_fn"
        log(f"note: the {what} has no name (a lambda); results and figures call it {forward.name!r}: pass "
            "loss=landscape.Loss(..., name='...') to name it")
    return model, data, forward


def _is_labelled(value: Any) -> bool:
    """Whether ``value`` is a ``{label: point}`` mapping rather than one checkpoint: a state dict (its values are
    tensors) or a wrapped one (``{"state_dict": sd, "epoch": 3}``: a wrapper key, or values that are no point)."""
    if not isinstance(value, Mapping) or any(k in WRAPPER_KEYS for k in value):
        return False
    return all(isinstance(v, (Mapping, nn.Module, str, Path)) and not isinstance(v, torch.Tensor)
               for v in value.values())


def _points(points: Any, model: nn.Module, default_labels: Optional[Sequence[str]] = None) -> list:
    """Checkpoints of ``points``: a sequence, or a ``{label: point}`` mapping that names them."""
    if _is_labelled(points):
        return as_checkpoints(list(points.values()), list(points), model)
    return as_checkpoints(points, None, model, default_labels=default_labels)


def _point(point: Any, model: nn.Module, default_label: str) -> Any:
    """The checkpoint of one point, named by a one-item ``{label: point}`` mapping or ``default_label``."""
    if _is_labelled(point):
        if len(point) != 1:
            raise ValueError(f"a labelled point is one {{label: point}} item, got {len(point)} items")
        return _points(point, model)[0]
    return as_checkpoints([point], None, model, [default_label])[0]


def _directions(directions: Any) -> Directions:
    """``directions=`` as a :class:`Directions`: one as is, anything else its ``kind``."""
    return directions if isinstance(directions, Directions) else Directions(kind=directions)


@_api
def plane(model: nn.Module, points: Optional[Sequence[Any] | Mapping[str, Any]] = None, data: Any = None, *,
          center: Any = None, directions: Any = None, grid: Grid | int | None = None, trajectory: Sequence[Any] = (),
          marked: Sequence[Any] | Mapping[str, Any] = (), loss: Any = None, params: Any = None,
          settings: Optional[Settings] = None, out: Optional[str | Path] = None,
          like: Optional[str] = None) -> PlaneResult:
    """Loss and accuracy on a plane: through three points, or around one point along two directions.

    Through ``points`` p0, p1, p2 (a sequence, or a ``{label: point}`` mapping that names them; Garipov et al. 2018): a plane point (x, y) is p0 + x·û + y·v̂
    with û = (p1 − p0)/‖p1 − p0‖ and v̂ the unit part of p2 − p0 orthogonal to û (Euclidean units).
    By default the grid is the box around the anchors and projected ``trajectory``/``marked`` points,
    widened by the ``grid``'s ``margin``, its ``points`` (21) per axis.

    Around ``center`` (a point, or a one-item ``{label: point}``; Li et al. 2018): the point (x, y) is center + x·d_x + y·d_y with ``directions``
    (a kind, or a :class:`~landscape.compute.options.Directions` with the kind's options)
    ``"random"`` (drawn from the settings' ``seed``, ``normalization`` ``filter`` by default,
    ``include_bn_and_bias``, ``orthogonal``; x, y in multiples of the directions, default -1..1), ``"pca"``
    (the top two principal components of ``trajectory``, centred on its last point or, with
    ``pca_center="mean"``, its mean; the trajectory is drawn as the path), ``"hessian"`` (the top two
    eigenvectors of the training-loss Hessian at ``center``; ``hessian_samples``, ``hessian_tol``,
    ``hessian_batch_size``: its samples, Lanczos' tolerance, and the batch size of its sums, halved on
    out-of-memory), or given: a ``{"x": {name: tensor}, "y": {name: tensor}}`` dict, the path of such a
    directions file, or a (2, P) tensor. ``res.save(dir)`` also writes ``directions.pt``.
    See ``landscape.compute.around_plane``. ``grid``: a :class:`~landscape.compute.options.Grid` (its ``x``/``y``:
    ``(min, max, points)``) or the points per axis. Returns a :class:`~landscape.compute.plane.PlaneResult`.

    ``like``: a published convention (``landscape.geometry.presets``): ``"li2018"`` (around ``center``: random
    filter-normalized directions without biases and BN, BN fixed, −1:1 with 51² points), ``"garipov2018"``
    (through three points, x from the first to the last in fractions of their distance, BN recomputed,
    −0.2:1.2 with 21² points) or ``"izmailov2018"`` (the SWA paper's plane, BN recomputed); it fills what is
    left open and refuses a contradicting argument. The sidecar records it.
    """
    if data is None:
        raise TypeError("plane() needs data")
    settings, grid = _settings(settings), Grid.of(grid)
    options = _directions(directions if directions is not None else "random")
    choice = plane_preset(like, around=center is not None or directions is not None, bn=settings.bn,
                          grid=grid.points, margin=grid.margin, x_axis=grid.x, y_axis=grid.y,
                          directions=options.kind if directions is not None and isinstance(options.kind, str)
                          else None, normalization=options.normalization,
                          include_bn_and_bias=options.include_bn_and_bias)
    settings = replace(settings, bn=choice.bn)
    grid = Grid(choice.grid, choice.x_axis, choice.y_axis, grid.margin)
    model, data, forward = _setup(model, data, loss, settings)
    job = Job(model, data, forward, settings, _about(model, data, forward), params, settings.log)
    traj = _points(trajectory, model, [f"trajectory {i}" for i in range(len(trajectory))]) if len(trajectory) else []
    marks = _points(marked, model, [f"point {i}" for i in range(len(marked))]) if len(marked) else []
    if center is not None or directions is not None:
        if points is not None:
            raise ValueError("give points (a plane through three points) or center/directions (a plane around "
                             "one point), not both")
        space = ParamSpace.of(model, params)
        options = replace(options, kind=_given_directions(options.kind, space))
        center_ckpt = _point(center, model, "center") if center is not None else None
        return evaluate_around(job, center_ckpt, directions=options, grid=grid, out=out, trajectory=traj,
                               marked=marks, preset=choice.record)
    if points is None:
        raise TypeError("plane() needs points (three checkpoints) or center= / directions=")
    anchors = _points(points, model, default_labels=["p0", "p1", "p2"][:len(points)])
    if choice.x_towards_last and len(anchors) == 3:  # Garipov et al.: x from the first point to the last
        anchors = [anchors[0], anchors[2], anchors[1]]
    return evaluate_plane(job, anchors, out=out, trajectory=traj, marked=marks, grid=grid, units=choice.units,
                          preset=choice.record)


def _given_directions(directions: Any, space: ParamSpace) -> Any:
    """A kind name as is; a directions file as a ``Path`` (``evaluate_around`` loads it and labels its axes);
    a dict or (2, P) tensor as the (2, P) tensor."""
    if isinstance(directions, str) and directions in DIRECTION_KINDS:
        return directions
    if isinstance(directions, torch.Tensor):
        return directions
    if isinstance(directions, dict):
        return directions_from_dict(directions, space)
    if isinstance(directions, (str, Path)):
        return Path(directions)  # evaluate_around loads it and labels the axes after its plane
    raise TypeError(f"directions must be 'random', 'pca', 'hessian', a dict, a path or a tensor, got "
                    f"{type(directions).__name__}")


@_api
def interpolate(model: nn.Module, start: Any, end: Any, data: Any, *, t: Any = DEFAULT_T, loss: Any = None,
                params: Any = None, settings: Optional[Settings] = None,
                out: Optional[str | Path] = None) -> InterpResult:
    """Loss and accuracy along ``start + t·(end − start)`` at every ``t`` (any 1-D array; default
    41 points on [−0.5, 1.5], past both ends). ``start``/``end``: a point, or a one-item ``{label: point}`` that
    names it. Returns an :class:`~landscape.compute.line.InterpResult`."""
    t, settings = check_t(t), _settings(settings)
    model, data, forward = _setup(model, data, loss, settings)
    a, b = _point(start, model, "start"), _point(end, model, "end")
    job = Job(model, data, forward, settings, _about(model, data, forward), params, settings.log)
    return evaluate_line(job, a, b, t=t, out=out)


@_api
def rays(model: nn.Module, points: Sequence[Any] | Mapping[str, Any], data: Any, *, rays: Rays | int | None = None,
         loss: Any = None, params: Any = None, settings: Optional[Settings] = None,
         out: Optional[str | Path] = None) -> RaysResult:
    """Loss along random rays from each point (Izmailov et al. 2018, Fig. 4), the same rays for every point
    (drawn with the settings' ``seed``), and each ray's width at a rise of ``delta``. ``rays``: a
    :class:`~landscape.compute.options.Rays` (``directions``, ``max_distance``, ``steps``, ``delta``,
    ``normalization`` ``unit``/``filter``/``layer``/``none``, ``include_bn_and_bias``) or just the number of
    directions. ``points``: a sequence, or a ``{label: point}`` mapping. Returns a
    :class:`~landscape.compute.rays.RaysResult`."""
    options, settings = Rays.of(rays), _settings(settings)
    model, data, forward = _setup(model, data, loss, settings)
    job = Job(model, data, forward, settings, _about(model, data, forward), params, settings.log)
    return evaluate_rays(job, _points(points, model), options, out=out)


@_api
def curve(model: nn.Module, start: Any, end: Any, data: Any, *, training: Optional[CurveConfig] = None,
          t: Any = DEFAULT_CURVE_T, params: Any = None, settings: Optional[Settings] = None,
          out: Optional[str | Path] = None) -> CurveResult:
    """Train a low-loss curve from ``start`` to ``end`` (Garipov et al. 2018; :mod:`swa.curves`) and evaluate it
    and the straight line between its ends at every ``t`` in [0, 1] (default 61 points;
    :mod:`landscape.compute.curve`). ``training``: a :class:`~swa.curves.CurveConfig` (``kind`` ``bezier`` or
    ``polychain``, ``bends``, ``epochs``, ``lr``, ``momentum``, ``weight_decay``, ``batch_size``, ``fix_ends``,
    ``init_noise``); it trains on the training tensors of ``data`` with the built-in loss (cross-entropy for
    integer targets, MSE for floating ones), on the settings' ``device`` and from their ``seed``. With ``out``,
    the training and the evaluation resume after an interruption (``curve.pt``, ``curve.npz``). Returns a
    :class:`~landscape.compute.curve.CurveResult`: ``result.point(t)`` is φ(t) as a state dict,
    ``result["train_loss"]`` (2, T) the curve (row 0) and the line (row 1), ``result.barriers``."""
    settings = _settings(settings)
    if training is None:
        training = CurveConfig()
    if not isinstance(training, CurveConfig):
        raise TypeError(f"training must be a landscape.CurveConfig, got {type(training).__name__}")
    training = replace(training, device=settings.device, seed=settings.seed)
    model, data, forward = _setup(model, data, None, settings)
    curve_t(t)  # bad input is refused before any training
    check_curve_bn(settings.resolved_bn(model))
    if not data.train.is_tensors:
        raise ValueError("curve() trains on tensors: pass data as (x, y) or {'train': (x, y), 'test': ...}")
    a, b = _point(start, model, "start"), _point(end, model, "end")
    trained, history = train_curve(model, a.state, b.state, data.train.x, data.train.y, forward.task, training,
                                   out=out, progress=settings.progress, overwrite=settings.overwrite, log=settings.log)
    job = Job(model, data, forward, settings, _about(model, data, forward), params, settings.log)
    return evaluate_curve(job, trained, t=t, weight_decay=training.weight_decay, labels=(a.label, b.label), out=out,
                          training={"config": training.to_json(), "history": history})


@_api
def sharpness(model: nn.Module, points: Sequence[Any] | Mapping[str, Any], data: Any, *,
              metrics: Sequence[str] = DEFAULT_METRICS, loss: Any = None, params: Any = None,
              settings: Optional[Settings] = None, out: Optional[str | Path] = None,
              eigenvectors: bool = False, **metric_settings: Any) -> SharpnessResult:
    """Sharpness ``metrics`` (names from ``landscape.curvature.sharpness.SHARPNESS_METRICS``, a list or one comma-separated
    string; ``"all"`` for all; at least one) at each point, on the
    training loss of the eval-mode network with each checkpoint's own BatchNorm statistics (``bn="fixed"``,
    the default: the Hessian PyHessian computes with ``model.eval()``); ``bn="recompute"`` recomputes the
    statistics once at the point on the training inputs, which changes the function whose Hessian is taken;
    ``bn="interpolate"`` does not apply (it needs three checkpoints) and is refused.
    ``result.bn`` and ``bn`` in ``sharpness.json`` say which. Of the ``settings``, ``samples``, ``bn``,
    ``batch_size`` (default 2048), ``device``, ``seed``, ``progress`` and ``overwrite`` apply; the others must be
    left at their defaults (:func:`~landscape.curvature.sharpness.sharpness_settings`).
    ``metric_settings`` override :class:`~landscape.curvature.sharpness.SharpnessSettings` fields (``top_k=3``, ...).
    ``eigenvectors=True`` keeps the top-``top_k`` eigenvectors of ``hessian_top_eigenvalues`` (no extra cost):
    ``result.eigenvectors(point)`` (``.vectors`` (k, P), ``.names``, ``.directions(0, 1)`` for ``plane``), and
    ``save`` writes ``eigenvectors.pt`` and per point a directions file (``landscape.curvature.eigenvectors``).
    Returns a :class:`~landscape.curvature.sharpness.SharpnessResult` (``result[label]["metrics"]``)."""
    names, settings = parse_metrics(metrics), _settings(settings)
    measured = sharpness_settings(settings, **metric_settings)
    model, data, forward = _setup(model, data, loss, settings, samples=False)
    ckpts = _points(points, model)
    if len({c.label for c in ckpts}) != len(ckpts):
        raise ValueError("labels must be distinct")
    return measure_sharpness(model, data, ckpts, measured, evaluation=settings, about=_about(model, data, forward),
                             out=out, metrics=names, forward=forward, params=params,
                             eigenvectors=eigenvectors, log=settings.log)
