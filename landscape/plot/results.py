"""Reading what the toolkit writes, for drawing: result files, sharpness reports and run directories.

Each reader checks the keys and shapes it needs and returns a small dataclass;
anything unusable (an unknown file, missing keys, an empty grid, nothing computed
yet) is a :class:`~swa.errors.UserError` naming the file. :func:`find_results`
turns the paths given on the command line (files or directories, searched a few
levels deep) into results grouped by kind.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from swa.errors import UserError

__all__ = ["PlaneData", "LineData", "RaysData", "SharpnessData", "RunData", "Marked", "read_result",
           "find_results", "KINDS", "VALUE_KEYS"]

VALUE_KEYS = ("train_loss", "train_acc", "test_loss", "test_acc")
KINDS = ("plane", "interp", "rays", "sharpness", "run")
RESULT_FILES = {"plane.npz": "plane", "interp.npz": "interp", "rays.npz": "rays", "sharpness.json": "sharpness",
                "study.json": "study"}
SHARPNESS_FORMAT = "swa-landscape-sharpness/1"
_SKIP_DIRS = {"checkpoints", "state", "__pycache__", "node_modules"}
_SEARCH_DEPTH = 4


def _sidecar(path: Path) -> dict[str, Any]:
    """The ``.json`` beside a result file, or ``{}`` (a missing or unreadable sidecar only costs labels)."""
    side = path.with_suffix(".json")
    try:
        doc = json.loads(side.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def _need(arrays: dict[str, np.ndarray], keys: Sequence[str], path: Path, what: str) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise UserError(f"{path} is not a complete {what} result: missing {', '.join(missing)}")


def _values(arrays: dict[str, np.ndarray], shape: tuple[int, ...], path: Path) -> dict[str, np.ndarray]:
    out = {}
    for key in VALUE_KEYS:
        arr = np.asarray(arrays[key], dtype=np.float64)
        if arr.shape != shape:
            raise UserError(f"{path}: {key} has shape {arr.shape}, expected {shape}")
        out[key] = arr
    return out


def _done(arrays: dict[str, np.ndarray], shape: tuple[int, ...], path: Path) -> np.ndarray:
    if "done" not in arrays:
        return np.ones(shape, dtype=bool)
    done = np.asarray(arrays["done"], dtype=bool)
    if done.shape != shape:
        raise UserError(f"{path}: done has shape {done.shape}, expected {shape}")
    if not done.any():
        raise UserError(f"{path} holds no computed point yet (run the command again to resume it)")
    return done


def _axis(arrays: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    arr = np.asarray(arrays[key], dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise UserError(f"{path}: {key} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UserError(f"{path}: {key} holds non-finite coordinates")
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
    arrays = _load_npz(path)
    _need(arrays, ("alphas", "betas", *VALUE_KEYS), path, "plane")
    alphas, betas = _axis(arrays, "alphas", path), _axis(arrays, "betas", path)
    shape = (len(alphas), len(betas))
    values = _values(arrays, shape, path)
    done = _done(arrays, shape, path)
    side = _sidecar(path)
    anchors = np.asarray(arrays.get("anchors", np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
    labels = [a.get("label", f"p{i}") for i, a in enumerate(side.get("anchors", []))]
    if len(labels) != len(anchors):
        labels = [f"p{i}" for i in range(len(anchors))]
    traj = np.asarray(arrays.get("trajectory", np.zeros((0, 2))), dtype=np.float64).reshape(-1, 2)
    dist = np.asarray(arrays.get("trajectory_distance", np.zeros(len(traj))), dtype=np.float64).reshape(-1)
    if len(dist) != len(traj):
        dist = np.zeros(len(traj))
    projections = side.get("projections", [])
    points = []
    for i, (xy, d) in enumerate(zip(traj, dist)):
        p = projections[i] if len(projections) == len(traj) and isinstance(projections[i], dict) else {}
        label = str(p.get("label", f"point {i + 1}"))
        # Files written before projections carried a kind: the run's own points are labelled "epoch N".
        kind = p.get("kind") or ("trajectory" if label.startswith("epoch") or not p else "checkpoint")
        points.append(Marked(label=label, x=float(xy[0]), y=float(xy[1]), distance=float(d), kind=kind))
    axes = side.get("axes") if isinstance(side.get("axes"), dict) else {}
    return PlaneData(path=path, alphas=alphas, betas=betas, values=values, done=done, anchors=anchors,
                     anchor_labels=labels, points=points, sidecar=side,
                     units=str(side.get("units", "distance in weight space")),
                     x_label=str(axes.get("x", "distance along û")), y_label=str(axes.get("y", "distance along v̂")),
                     anchor_kind="center" if "directions" in side else "anchors")


def read_line(path: Path) -> LineData:
    arrays = _load_npz(path)
    _need(arrays, ("t", *VALUE_KEYS), path, "interp")
    t = _axis(arrays, "t", path)
    values = _values(arrays, t.shape, path)
    done = _done(arrays, t.shape, path)
    side = _sidecar(path)
    distance = np.asarray(arrays.get("distance", t), dtype=np.float64)
    length = side.get("length")
    if not isinstance(length, (int, float)):
        nz = np.abs(t) > 1e-12
        length = float(np.median(distance[nz] / t[nz])) if nz.any() and distance.shape == t.shape else 1.0
    start = (side.get("from") or {}).get("label", "a")
    end = (side.get("to") or {}).get("label", "b")
    through_one = isinstance(side.get("direction"), dict)
    return LineData(path=path, t=t, distance=distance if distance.shape == t.shape else t * length, values=values,
                    done=done, length=float(length), start_label=str(start), end_label=str(end), sidecar=side,
                    x_label=str(side.get("axis", "t  (a + t·(b − a))")), through_one=through_one)


def read_rays(path: Path) -> RaysData:
    arrays = _load_npz(path)
    _need(arrays, ("distances", *VALUE_KEYS), path, "rays")
    distances = _axis(arrays, "distances", path)
    shape = np.asarray(arrays["train_loss"]).shape
    if len(shape) != 3 or shape[-1] != len(distances) or 0 in shape:
        raise UserError(f"{path}: train_loss has shape {shape}, expected (points, directions, {len(distances)})")
    values = _values(arrays, shape, path)
    done = _done(arrays, shape, path)
    side = _sidecar(path)
    width = arrays.get("width")
    width = np.asarray(width, dtype=np.float64) if width is not None and np.shape(width) == shape[:2] else None
    labels = [str(p.get("label", f"point {i + 1}")) for i, p in enumerate(side.get("points", []))]
    if len(labels) != shape[0]:
        labels = [f"point {i + 1}" for i in range(shape[0])]
    delta = side.get("delta")
    return RaysData(path=path, distances=distances, values=values, done=done, width=width, labels=labels,
                    delta=float(delta) if isinstance(delta, (int, float)) else None,
                    normalization=str(side.get("normalization", "unit")), sidecar=side)


def read_sharpness(path: Path) -> SharpnessData:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or doc.get("format") != SHARPNESS_FORMAT:
        raise UserError(f"{path} is not a sharpness.json (format {SHARPNESS_FORMAT})")
    results = doc.get("results")
    if not isinstance(results, dict) or not results:
        raise UserError(f"{path} holds no computed sharpness result yet")
    labels = [lab for lab in doc.get("labels", list(results)) if lab in results]
    return SharpnessData(path=path, labels=labels, results=results, doc=doc)


@dataclass
class StudyData:
    """``study.json`` (the demo's study over seeds, ``landscape.study_table``)."""

    path: Path
    doc: dict[str, Any]


def read_study(path: Path) -> StudyData:
    from landscape.study_table import FORMAT

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("methods"), dict):
        raise UserError(f"{path} is not a study.json (format {FORMAT})")
    return StudyData(path=path, doc=doc)


def read_run(path: Path) -> RunData:
    from swa.rundir import METRICS, read_manifest

    manifest = read_manifest(path)
    records = []
    try:
        lines = (path / METRICS).read_text().splitlines()
    except OSError as exc:
        raise UserError(f"cannot read {path / METRICS}: {exc.strerror or exc}") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise UserError(f"{path / METRICS}, line {n}: not JSON") from None
    if not records:
        raise UserError(f"{path} has no finished epoch to draw yet")
    return RunData(path=path, manifest=manifest, records=records)


_READERS = {"plane": read_plane, "interp": read_line, "rays": read_rays, "sharpness": read_sharpness,
            "run": read_run, "study": read_study}


def _kind_of_file(path: Path) -> str:
    """What a file holds: by its name, else by its keys."""
    if path.name in RESULT_FILES:
        return RESULT_FILES[path.name]
    if path.name in ("manifest.json", "metrics.jsonl"):
        return "run"
    if path.suffix == ".npz":
        keys = set(_load_npz(path))
        for kind, needed in (("plane", {"alphas", "betas"}), ("rays", {"distances"}), ("interp", {"t"})):
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
