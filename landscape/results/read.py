"""Reading what the toolkit writes, for drawing: result files, sharpness reports and run directories.

Each reader checks the keys and shapes it needs and returns a small dataclass;
anything unusable (an unknown file, missing keys, an empty grid, nothing computed
yet) is a :class:`~swa.errors.UserError` naming the file. :func:`find_results`
turns the paths given on the command line (files or directories, searched a few
levels deep) into results grouped by kind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from swa.errors import UserError
from swa.validate import check, finite_array, increasing_axis, label, load_npz, need, read_json
from landscape.results.metrics import METRICS
from swa.rundir import read_manifest, read_metrics

__all__ = ["PlaneData", "LineData", "RaysData", "CurveData", "SharpnessData", "RunData", "Marked", "read_result",
           "find_results", "KINDS"]

KINDS = ("plane", "interp", "rays", "curve", "sharpness", "run")
RESULT_FILES = {"plane.npz": "plane", "interp.npz": "interp", "rays.npz": "rays", "curve.npz": "curve",
                "sharpness.json": "sharpness", "study.json": "study"}
SHARPNESS_FORMAT = "swa-landscape-sharpness/1"
STUDY_FORMAT = "swa-landscape-study/1"
_SKIP_DIRS = {"checkpoints", "state", "__pycache__", "node_modules"}
_SEARCH_DEPTH = 4


# Sidecar fields the readers and the report use, and their types (a field may be absent).
_SIDECAR_FIELDS: dict[str, tuple[type, ...]] = {
    "file": (str,), "complete": (bool,), "points_done": (int,), "points_total": (int,), "inputs": (dict,),
    "settings": (dict,), "bn_mode": (str, type(None)), "space": (dict,), "anchors": (list,), "projections": (list,),
    "points": (list,), "directions": (dict,), "directions_request": (dict,), "axes": (dict,), "grid": (dict,),
    "units": (str,), "evaluation": (dict,), "versions": (dict,), "timings": (dict,), "from": (dict,), "to": (dict,),
    "length": (float,), "direction": (dict,), "axis": (str,), "delta": (float, type(None)),
    "normalization": (str,), "width": (dict,), "title": (str,), "extra_metrics": (list,), "kind": (str,),
    "num_bends": (int,), "labels": (list,), "barriers": (dict,), "training": (dict,), "note": (str,)}
_POINT_KINDS = ("trajectory", "checkpoint")


def _checkpoint_ref(ref: Any, path: Path, where: str) -> None:
    """A checkpoint a sidecar names: ``{"label", "path", "sha256"}``, each optional."""
    check(ref, (dict,), path, where)
    for key in ("label", "sha256"):
        need(ref, key, (str,), path, f"{where}.", default=None)
    need(ref, "path", (str, type(None)), path, f"{where}.", default=None)


def _sidecar(path: Path) -> dict[str, Any]:
    """The ``.json`` beside a result file, checked, or ``{}`` when there is none (a missing sidecar only
    costs labels; one that is there but holds the wrong types is a :class:`UserError` naming the field)."""
    side_path = path.with_suffix(".json")
    if not side_path.is_file():
        return {}
    side = read_json(side_path, "result sidecar")
    check(side, (dict,), side_path, "the sidecar (top level)")
    for key, types in _SIDECAR_FIELDS.items():
        need(side, key, types, side_path, default=None, low=0 if key in ("length", "points_done",
                                                                         "points_total") else None)
    delta = side.get("delta")
    if delta is not None:
        check(delta, (float,), side_path, "delta", low=0)
    for key in ("anchors", "points"):
        for i, ref in enumerate(side.get(key) or []):
            _checkpoint_ref(ref, side_path, f"{key}[{i}]")
    for key in ("from", "to"):
        if key in side:
            _checkpoint_ref(side[key], side_path, key)
    for i, p in enumerate(side.get("projections") or []):
        where = f"projections[{i}]"
        check(p, (dict,), side_path, where)
        need(p, "label", (str,), side_path, f"{where}.", default=None)
        need(p, "path", (str, type(None)), side_path, f"{where}.", default=None)
        for key in ("x", "y"):
            need(p, key, (float,), side_path, f"{where}.", default=None)
        need(p, "distance", (float,), side_path, f"{where}.", default=None, low=0)
        kind = need(p, "kind", (str, type(None)), side_path, f"{where}.", default=None)
        if kind not in (None, *_POINT_KINDS):
            raise UserError(f"{side_path}: {where}.kind must be one of {', '.join(_POINT_KINDS)}, got {kind!r}")
    for key in ("x", "y"):
        need(side.get("axes") or {}, key, (str,), side_path, "axes.", default=None)
    inputs = side.get("inputs") or {}
    for key in ("model", "data"):
        spec = need(inputs, key, (dict, str, type(None)), side_path, "inputs.", default=None)
        if isinstance(spec, dict):
            need(spec, "name", (str,), side_path, f"inputs.{key}.", default=None)
            need(spec, "kwargs", (dict, type(None)), side_path, f"inputs.{key}.", default=None)
    need(side.get("timings") or {}, "compute_seconds", (float,), side_path, "timings.", default=None, low=0)
    for i, name in enumerate(side.get("extra_metrics") or []):
        check(name, (str,), side_path, f"extra_metrics[{i}]")
        if not name.isidentifier():
            raise UserError(f"{side_path}: extra_metrics[{i}] must be a name (an identifier), got {name!r}")
    if isinstance(side.get("directions"), dict):
        labels = need(side["directions"], "labels", (list,), side_path, "directions.", default=[])
        for i, lab in enumerate(labels):
            check(lab, (str,), side_path, f"directions.labels[{i}]")
        need(side["directions"], "kind", (str,), side_path, "directions.", default=None)
    return side


def _need(arrays: dict[str, np.ndarray], keys: Sequence[str], path: Path, what: str) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise UserError(f"{path} is not a complete {what} result: missing {', '.join(missing)}")


def _extra_keys(arrays: dict[str, np.ndarray], side: dict[str, Any], path: Path,
                shape: tuple[int, ...]) -> list[str]:
    """The arrays of a ``forward_fn``'s extra metrics: ``train_<name>`` and ``test_<name>`` of each name the
    sidecar's ``extra_metrics`` lists (each must be there), or without that list, the arrays named so that have
    the metrics' shape."""
    if "extra_metrics" in side:
        keys = [f"{split}_{name}" for name in side["extra_metrics"] for split in ("train", "test")]
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise UserError(f"{path} lacks the arrays of the extra metrics its sidecar lists: {', '.join(missing)}")
        return keys
    return [k for k in arrays if k not in METRICS and (k.startswith("train_") or k.startswith("test_"))
            and k.split("_", 1)[1].isidentifier() and np.shape(arrays[k]) == shape]


def _values(arrays: dict[str, np.ndarray], shape: tuple[int, ...], path: Path,
            side: Optional[dict[str, Any]] = None) -> dict[str, np.ndarray]:
    """The metric arrays (the four, then a ``forward_fn``'s extra ones, :func:`_extra_keys`), each of ``shape``
    and numeric (NaN and inf allowed: a diverged point)."""
    keys = [*METRICS, *_extra_keys(arrays, side or {}, path, shape)]
    return {key: finite_array(arrays, key, path, shape=shape, finite=False) for key in keys}


def _done(arrays: dict[str, np.ndarray], shape: tuple[int, ...], path: Path) -> np.ndarray:
    if "done" not in arrays:
        return np.ones(shape, dtype=bool)
    done = arrays["done"]
    if done.dtype.kind not in "biu" or (done.dtype.kind != "b" and not np.isin(done, (0, 1)).all()):
        raise UserError(f"{path}: done must hold true/false, got dtype {done.dtype}")
    done = done.astype(bool)
    if done.shape != shape:
        raise UserError(f"{path}: done has shape {done.shape}, expected {shape}")
    if not done.any():
        raise UserError(f"{path} holds no computed point yet (run the command again to resume it)")
    return done


def _points_xy(arrays: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    """An optional (k, 2) array of finite plane coordinates (``anchors``, ``trajectory``)."""
    arr = finite_array(arrays, key, path, default=np.zeros((0, 2)))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise UserError(f"{path}: {key} must have shape (k, 2), got {arr.shape}")
    return arr


@dataclass
class Marked:
    """A checkpoint projected onto a plane: ``kind`` is ``trajectory`` (joined in order) or ``checkpoint``."""

    label: str
    x: float
    y: float
    distance: float
    kind: str


@dataclass
class PlaneData:
    """``plane.npz`` and its sidecar: values (nx, ny) with ``[i, j]`` at (``alphas[i]``, ``betas[j]``)."""

    path: Path
    alphas: np.ndarray
    betas: np.ndarray
    values: dict[str, np.ndarray]
    done: np.ndarray
    anchors: np.ndarray
    anchor_labels: list[str]
    points: list[Marked]
    sidecar: dict[str, Any] = field(default_factory=dict)
    units: str = "distance in weight space"
    x_label: str = "distance along û"
    y_label: str = "distance along v̂"
    anchor_kind: str = "anchors"  # "center" for a plane around one point


@dataclass
class LineData:
    """``interp.npz``: values at ``t`` on the line a + t·(b − a); ``length`` = ‖b − a‖."""

    path: Path
    t: np.ndarray
    distance: np.ndarray
    values: dict[str, np.ndarray]
    done: np.ndarray
    length: float
    start_label: str
    end_label: str
    sidecar: dict[str, Any] = field(default_factory=dict)
    x_label: str = "t  (a + t·(b − a))"
    through_one: bool = False  # a line through one checkpoint along a direction: t = 1 is not a checkpoint

    @property
    def label(self) -> str:
        return f"{self.start_label} + t·d" if self.through_one else f"{self.start_label} → {self.end_label}"


@dataclass
class RaysData:
    """``rays.npz``: values (points, K, S) along K rays of S steps from each point; widths (points, K)."""

    path: Path
    distances: np.ndarray
    values: dict[str, np.ndarray]
    done: np.ndarray
    width: Optional[np.ndarray]
    labels: list[str]
    delta: Optional[float]
    normalization: str
    sidecar: dict[str, Any] = field(default_factory=dict)


@dataclass
class SharpnessData:
    """``sharpness.json``: per checkpoint label, its metrics (``value``, ``uncertainty``, ...)."""

    path: Path
    labels: list[str]
    results: dict[str, dict[str, Any]]
    doc: dict[str, Any]


@dataclass
class RunData:
    """A training run: its manifest and its per-epoch records (``metrics.jsonl``)."""

    path: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def config(self) -> dict[str, Any]:
        return self.manifest.get("config", {})

    @property
    def label(self) -> str:
        method = str(self.config.get("method", "")).upper()
        return f"{self.path.name} ({method})" if method and method.lower() not in self.path.name.lower() \
            else self.path.name

    @property
    def method(self) -> Optional[str]:
        m = str(self.config.get("method", "")).upper()
        return m if m in ("SGD", "SWA", "PSWA") else None


def read_plane(path: Path) -> PlaneData:
    """A checked ``plane.npz`` (at least 2 × 2 increasing coordinates; values, done, anchors and
    projected points of matching shapes) and its sidecar."""
    arrays = load_npz(path)
    _need(arrays, ("alphas", "betas", *METRICS), path, "plane")
    alphas = increasing_axis(arrays, "alphas", path, min_size=2)
    betas = increasing_axis(arrays, "betas", path, min_size=2)
    shape = (len(alphas), len(betas))
    side = _sidecar(path)
    values = _values(arrays, shape, path, side)
    done = _done(arrays, shape, path)
    anchors = _points_xy(arrays, "anchors", path)
    labels = [label(a, "label", f"p{i}") for i, a in enumerate(side.get("anchors") or [])]
    if len(labels) != len(anchors):
        labels = [f"p{i}" for i in range(len(anchors))]
    traj = _points_xy(arrays, "trajectory", path)
    dist = finite_array(arrays, "trajectory_distance", path, default=np.zeros(len(traj)))
    if dist.shape != (len(traj),):
        raise UserError(f"{path}: trajectory_distance has shape {dist.shape}, expected ({len(traj)},) (one per "
                        "trajectory point)")
    projections = side.get("projections") or []
    points = []
    for i, (xy, d) in enumerate(zip(traj, dist)):
        p = projections[i] if len(projections) == len(traj) else {}
        text = label(p, "label", f"point {i + 1}")
        # Files written before projections carried a kind: the run's own points are labelled "epoch N".
        kind = p.get("kind") or ("trajectory" if text.startswith("epoch") or not p else "checkpoint")
        points.append(Marked(label=text, x=float(xy[0]), y=float(xy[1]), distance=float(d), kind=kind))
    axes = side.get("axes") or {}
    return PlaneData(path=path, alphas=alphas, betas=betas, values=values, done=done, anchors=anchors,
                     anchor_labels=labels, points=points, sidecar=side,
                     units=label(side, "units", "distance in weight space"),
                     x_label=label(axes, "x", "distance along û"), y_label=label(axes, "y", "distance along v̂"),
                     anchor_kind="center" if "directions" in side else "anchors")


def read_line(path: Path) -> LineData:
    """A checked ``interp.npz`` (increasing ``t``; values, done and distances of its shape) and its sidecar."""
    arrays = load_npz(path)
    _need(arrays, ("t", *METRICS), path, "interp")
    t = increasing_axis(arrays, "t", path)
    side = _sidecar(path)
    values = _values(arrays, t.shape, path, side)
    done = _done(arrays, t.shape, path)
    distance = finite_array(arrays, "distance", path, shape=t.shape, default=None)
    length = side.get("length")
    if length is None:
        nz = np.abs(t) > 1e-12
        length = float(np.median(distance[nz] / t[nz])) if nz.any() and distance is not None else 1.0
        length = length if np.isfinite(length) else 1.0
    through_one = isinstance(side.get("direction"), dict)
    return LineData(path=path, t=t, distance=distance if distance is not None else t * length, values=values,
                    done=done, length=float(length), start_label=label(side.get("from"), "label", "a"),
                    end_label=label(side.get("to"), "label", "b"), sidecar=side,
                    x_label=label(side, "axis", "t  (a + t·(b − a))"), through_one=through_one)


@dataclass
class CurveData:
    """``curve.npz``: values (2, T) at ``ts``, row 0 along the curve and row 1 along the straight line between
    its ends; ``barriers[path][metric]`` (``curve``/``line``; ``train_loss``, ``test_err``)."""

    path: Path
    ts: np.ndarray
    values: dict[str, np.ndarray]
    done: np.ndarray
    kind: str
    labels: tuple[str, str]
    barriers: dict[str, dict[str, Optional[float]]]
    sidecar: dict[str, Any] = field(default_factory=dict)


def read_curve(path: Path) -> CurveData:
    """A checked ``curve.npz`` (increasing ``ts`` in [0, 1]; values and done of shape (2, T)) and its sidecar."""
    arrays = load_npz(path)
    _need(arrays, ("ts", *METRICS), path, "curve")
    ts = increasing_axis(arrays, "ts", path)
    if ts.min() < 0 or ts.max() > 1:
        raise UserError(f"{path}: ts must lie in [0, 1], got {ts.min():g} to {ts.max():g}")
    side = _sidecar(path)
    shape = (2, len(ts))
    values = _values(arrays, shape, path, side)
    done = _done(arrays, shape, path)
    labels = side.get("labels", ["start", "end"])
    if len(labels) != 2 or not all(isinstance(x, str) for x in labels):
        raise UserError(f"{path.with_suffix('.json')}: labels must be two strings, got {labels!r}")
    barriers = side.get("barriers", {})
    for name in ("curve", "line"):
        entry = barriers.get(name, {})
        check(entry, (dict,), path.with_suffix(".json"), f"barriers.{name}")
        for key, value in entry.items():
            check(value, (float, int, type(None)), path.with_suffix(".json"), f"barriers.{name}.{key}")
    return CurveData(path=path, ts=ts, values=values, done=done, kind=str(side.get("kind", "curve")),
                     labels=(labels[0], labels[1]), barriers=barriers, sidecar=side)


def read_rays(path: Path) -> RaysData:
    """A checked ``rays.npz`` (increasing ``distances``; values and done of shape (points, rays, steps);
    widths of shape (points, rays)) and its sidecar."""
    arrays = load_npz(path)
    _need(arrays, ("distances", *METRICS), path, "rays")
    distances = increasing_axis(arrays, "distances", path)
    shape = tuple(np.shape(arrays["train_loss"]))
    if len(shape) != 3 or shape[-1] != len(distances) or 0 in shape:
        raise UserError(f"{path}: train_loss has shape {shape}, expected (points, directions, {len(distances)})")
    side = _sidecar(path)
    values = _values(arrays, shape, path, side)
    done = _done(arrays, shape, path)
    width = finite_array(arrays, "width", path, shape=shape[:2], finite=False, default=None)
    refs = side.get("points") or []
    labels = [label(p, "label", f"point {i + 1}") for i, p in enumerate(refs)]
    if len(labels) != shape[0]:
        labels = [f"point {i + 1}" for i in range(shape[0])]
    delta = side.get("delta")
    return RaysData(path=path, distances=distances, values=values, done=done, width=width, labels=labels,
                    delta=float(delta) if delta is not None else None,
                    normalization=label(side, "normalization", "unit"), sidecar=side)


# Sharpness metrics whose value is a list (top eigenvalues, a spectral density); the others are numbers.
_LIST_METRICS = ("hessian_top_eigenvalues", "hessian_spectrum")
_NUMBERS = ("value", "uncertainty", "grid", "nodes", "weights", "trace", "trace_stderr", "sigma")


def _metric_number(value: Any, path: Path, where: str, *, as_list: bool, low: Optional[float]) -> None:
    """A metric's number (or null), or with ``as_list`` a list of them; NaN and inf are allowed."""
    if as_list and isinstance(value, list):
        for i, v in enumerate(value):
            check(v, (float, type(None)), path, f"{where}[{i}]", finite=False, low=low)
        return
    kinds = (list, type(None)) if as_list else (float, type(None))
    check(value, kinds, path, where, finite=False, low=low)


def _check_metric(name: str, entry: Any, path: Path, where: str) -> None:
    check(entry, (dict,), path, where)
    as_list = name.startswith(_LIST_METRICS)
    for key in _NUMBERS:
        if key in entry:
            low = 0 if key in ("uncertainty", "trace_stderr", "sigma", "weights") else None
            _metric_number(entry[key], path, f"{where}.{key}", as_list=as_list or key in ("grid", "nodes", "weights"),
                           low=low)
    for key in ("uncertainty_kind", "method", "measure"):
        need(entry, key, (str, type(None)), path, f"{where}.", default=None)
    need(entry, "lower_bound", (bool, type(None)), path, f"{where}.", default=None)
    need(entry, "settings", (dict,), path, f"{where}.", default=None)
    if name.startswith("hessian_spectrum") and isinstance(entry.get("grid"), list) \
            and isinstance(entry.get("value"), list) and len(entry["grid"]) != len(entry["value"]):
        raise UserError(f"{path}: {where}: grid and value have different lengths")


def read_sharpness(path: Path) -> SharpnessData:
    """A checked ``sharpness.json``: per label an object whose ``metrics`` map names to results with
    numeric ``value`` and non-negative ``uncertainty`` (lists for the top eigenvalues and the spectrum)."""
    doc = read_json(path, "sharpness.json")
    if not isinstance(doc, dict) or doc.get("format") != SHARPNESS_FORMAT:
        raise UserError(f"{path} is not a sharpness.json (format {SHARPNESS_FORMAT})")
    for key, types in (("inputs", (dict,)), ("settings", (dict,)), ("versions", (dict,)), ("note", (str,)),
                       ("seed", (int, type(None))), ("labels", (list,)), ("metrics", (list,))):
        need(doc, key, types, path, default=None)
    for key in ("labels", "metrics"):
        for i, item in enumerate(doc.get(key) or []):
            check(item, (str,), path, f"{key}[{i}]")
    need(doc.get("inputs") or {}, "run", (str, type(None)), path, "inputs.", default=None)
    results = need(doc, "results", (dict,), path, default=None)
    if not results:
        raise UserError(f"{path} holds no computed sharpness result yet")
    for lab, entry in results.items():
        where = f"results[{lab!r}]"
        check(entry, (dict,), path, where)
        need(entry, "path", (str, type(None)), path, f"{where}.", default=None)
        need(entry, "sha256", (str,), path, f"{where}.", default=None)
        for key in ("hvps", "samples"):
            need(entry, key, (int, type(None)), path, f"{where}.", default=None, low=0)
        for key in METRICS:
            need(entry, key, (float, type(None)), path, f"{where}.", default=None, finite=False)
        for name, seconds in need(entry, "seconds", (dict,), path, f"{where}.", default={}).items():
            check(seconds, (float,), path, f"{where}.seconds[{name!r}]", low=0)
        for name, metric in need(entry, "metrics", (dict,), path, f"{where}.", default={}).items():
            _check_metric(name, metric, path, f"{where}.metrics[{name!r}]")
    labels = [lab for lab in (doc.get("labels") if doc.get("labels") is not None else list(results))
              if lab in results]
    if not labels:
        raise UserError(f"{path}: none of its labels has a result")
    return SharpnessData(path=path, labels=labels, results=results, doc=doc)


@dataclass
class StudyData:
    """``study.json`` (the demo's study over seeds, ``landscape.study.table``)."""

    path: Path
    doc: dict[str, Any]


def _summary(entry: Any, path: Path, where: str) -> None:
    """``{"mean", "std", "n"}`` of a metric over seeds (or null)."""
    if entry is None:
        return
    check(entry, (dict,), path, where)
    need(entry, "mean", (float,), path, f"{where}.", finite=False)
    need(entry, "std", (float,), path, f"{where}.", finite=False, low=0)
    need(entry, "n", (int,), path, f"{where}.", low=0)


def read_study(path: Path) -> StudyData:
    """A checked ``study.json``: its task, seeds, baseline and each method's summaries and comparison."""
    doc = read_json(path, "study.json")
    if not isinstance(doc, dict) or doc.get("format") != STUDY_FORMAT or not isinstance(doc.get("methods"), dict):
        raise UserError(f"{path} is not a study.json (format {STUDY_FORMAT})")
    need(doc, "task", (str,), path)
    for i, seed in enumerate(need(doc, "seeds", (list,), path)):
        check(seed, (int,), path, f"seeds[{i}]")
    baseline = need(doc, "baseline", (str,), path)
    if baseline not in doc["methods"]:
        raise UserError(f"{path}: baseline {baseline!r} is not one of its methods")
    for key, types in (("title", (str, type(None))), ("tuning", (dict, type(None))), ("epochs", (int, type(None))),
                       ("tuned_rate", (float, type(None)))):
        need(doc, key, types, path, default=None)
    pre = need(doc, "pretrained", (dict, type(None)), path, default=None)
    if pre:
        need(pre, "label", (str,), path, "pretrained.", default=None)
        need(pre, "test_acc", (float, type(None)), path, "pretrained.", default=None, finite=False)
        need(pre, "test_loss", (float,), path, "pretrained.", finite=False)
    for name, e in doc["methods"].items():
        where = f"methods[{name!r}]"
        check(e, (dict,), path, where)
        need(e, "label", (str,), path, f"{where}.")
        for metric in ("test_acc", "test_loss", "train_loss"):
            _summary(e.get(metric), path, f"{where}.{metric}")
        v = need(e, "vs_baseline", (dict, type(None)), path, f"{where}.", default=None)
        if v is not None:
            for key in ("mean", "low", "high", "level"):
                need(v, key, (float,), path, f"{where}.vs_baseline.", finite=False)
            for key in ("wins", "ties", "n"):
                need(v, key, (int,), path, f"{where}.vs_baseline.", low=0)
            need(v, "unit", (str,), path, f"{where}.vs_baseline.")
            need(v, "higher_is_better", (bool,), path, f"{where}.vs_baseline.")
    return StudyData(path=path, doc=doc)


# Longest learning-rate curve a run's figure draws per iteration (epochs × iterations per epoch).
_MAX_ITERATIONS = 10 ** 7


def read_run(path: Path) -> RunData:
    """A run directory's checked manifest (``swa.rundir.read_manifest``) and per-epoch records
    (``swa.rundir.read_metrics``)."""
    manifest = read_manifest(path)
    records = read_metrics(path, epochs=manifest["config"].get("epochs"))
    if not records:
        raise UserError(f"{path} has no finished epoch to draw yet")
    ipe = manifest.get("iters_per_epoch")
    if ipe is not None and max(r["epoch"] for r in records) * ipe > _MAX_ITERATIONS:
        manifest = {**manifest, "iters_per_epoch": None}  # the rate is then drawn per epoch
    return RunData(path=path, manifest=manifest, records=records)


_READERS = {"plane": read_plane, "interp": read_line, "rays": read_rays, "curve": read_curve,
            "sharpness": read_sharpness,
            "run": read_run, "study": read_study}


def _kind_of_file(path: Path) -> str:
    """What a file holds: by its name, else by its keys."""
    if path.name in RESULT_FILES:
        return RESULT_FILES[path.name]
    if path.name in ("manifest.json", "metrics.jsonl"):
        return "run"
    if path.suffix == ".npz":
        keys = set(load_npz(path))
        for kind, needed in (("plane", {"alphas", "betas"}), ("rays", {"distances"}), ("interp", {"t"}),
                             ("curve", {"ts"})):
            if needed <= keys:
                return kind
        raise UserError(f"{path} is not a plane, interp or rays result (its arrays: {', '.join(sorted(keys))})")
    if path.suffix == ".json":
        if path.with_suffix(".npz").is_file():  # a sidecar stands for its result
            return _kind_of_file(path.with_suffix(".npz"))
        return "sharpness"
    raise UserError(f"cannot plot {path}: expected plane.npz, interp.npz, rays.npz, sharpness.json or a run "
                    "directory")


def read_result(path: str | os.PathLike) -> tuple[str, Any]:
    """``(kind, data)`` of one result file, or of a run directory."""
    path = Path(path)
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise UserError(f"{path} is a directory but not a training run (no manifest.json)")
        return "run", read_run(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    kind = _kind_of_file(path)
    if kind == "run":
        path = path.parent
    elif path.suffix == ".json" and kind not in ("sharpness", "study"):
        path = path.with_suffix(".npz")
    return kind, _READERS[kind](path)


def _walk(root: Path) -> list[Path]:
    """Result files and run directories under ``root`` (a few levels deep, sorted)."""
    found = []
    base_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS
                             and len(here.parts) - base_depth < _SEARCH_DEPTH)
        if "manifest.json" in filenames:
            found.append(here)
        found += [here / f for f in sorted(filenames) if f in RESULT_FILES]
    return found


def find_results(paths: Sequence[str | os.PathLike]) -> dict[str, list[Any]]:
    """Read every result named by ``paths`` (files, run directories, or directories holding them).

    Returns:
        kind → list of data, in the order given (directories in sorted order); kinds with no
        result are left out.

    Raises:
        UserError: a path that does not exist, an unusable file, or a directory with no result.
    """
    out: dict[str, list[Any]] = {}
    seen: set[Path] = set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise UserError(f"{p} does not exist")
        if p.is_dir() and not (p / "manifest.json").is_file():
            targets = _walk(p)
            if not targets:
                raise UserError(f"{p} holds no result to plot (plane.npz, interp.npz, rays.npz, sharpness.json or "
                                "a run directory)")
        else:
            targets = [p] if p.is_file() or not (p / "manifest.json").is_file() else _walk(p)
        for target in targets:
            if target.suffix == ".json" and target.with_suffix(".npz").is_file():
                target = target.with_suffix(".npz")  # a sidecar stands for its result
            key = target.resolve()
            if key in seen:
                continue
            seen.add(key)
            kind, data = read_result(target)
            out.setdefault(kind, []).append(data)
    return out
