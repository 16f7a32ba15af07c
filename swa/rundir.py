"""The run directory written by training and read by the landscape tools.

Layout::

    RUN/
      manifest.json        model and data spec, every hyperparameter, versions, trajectory, final, swa
      metrics.jsonl        one JSON object per epoch
      checkpoints/         point_0001.pt ... (trajectory), period_001.pt ... (PSWA restarts)
      final.pt             last SGD iterate (state_dict)
      swa.pt               the average, BatchNorm statistics recomputed (state_dict)
      state/last.pt        everything needed to resume

All paths inside the manifest are relative to ``RUN``. :func:`open_run` rebuilds
the model and the data from the manifest alone.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

import numpy
import torch
import torch.nn as nn

from swa.checkpoint import load_into
from swa.data import TensorData, load_data
from swa.errors import UserError
from swa.validate import check, describe, need, read_json, read_json_lines
from swa.config import TrainConfig
from swa.models import build_model

__all__ = ["MANIFEST", "METRICS_FILE", "STATE", "FORMAT", "versions", "read_manifest", "check_manifest",
           "manifest_config", "read_metrics", "Run", "open_run",
           "portable_paths", "resolved_paths"]

MANIFEST = "manifest.json"
METRICS_FILE = "metrics.jsonl"  # one JSON object per epoch
STATE = "state/last.pt"
FORMAT = "swa-landscape-run/1"
MAX_EPOCHS = 10 ** 6  # a manifest asking for more is corrupt, not ambitious


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries that shape the numbers."""
    import sklearn

    try:
        from importlib.metadata import version

        own = version("swa-landscape")
    except Exception:  # running from a source tree that is not installed
        own = "source"
    return {"swa_landscape": own, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scikit_learn": sklearn.__version__}


def _file_fields(config) -> dict[str, tuple[str, str]]:
    """The config's fields that name user files: field → (path, suffix to keep: ``:function`` of a model)."""
    out = {}
    target, colon, func = config.model.name.rpartition(":")
    if colon and target.endswith(".py"):
        out["model"] = (target, f":{func}")
    if config.data.name.endswith((".pt", ".npz")):
        out["data"] = (config.data.name, "")
    if config.data.root:
        out["root"] = (config.data.root, "")
    return out


def _with_paths(config, paths: dict[str, str]):
    model, data = config.model, config.data
    if "model" in paths:
        model = replace(model, name=paths["model"])
    if "data" in paths:
        data = replace(data, name=paths["data"])
    if "root" in paths:
        data = replace(data, root=paths["root"])
    return config.with_changes(model=model, data=data)


def portable_paths(config, run_dir: str | Path):
    """``config`` with its user files (a model ``file.py``, a data file, a data root) made portable:
    relative to ``run_dir`` when inside it, else absolute, so that ``--run`` works from anywhere."""
    run_dir = Path(run_dir).resolve()
    paths = {}
    for key, (path, suffix) in _file_fields(config).items():
        p = Path(path).expanduser().resolve()
        paths[key] = (p.relative_to(run_dir).as_posix() if p.is_relative_to(run_dir) else str(p)) + suffix
    return _with_paths(config, paths)


def resolved_paths(config, run_dir: str | Path):
    """The inverse of :func:`portable_paths` for reading a run: paths relative to ``run_dir`` that exist
    there become ``run_dir / path`` (other relative paths, from older runs, are left as they are)."""
    paths = {}
    for key, (path, suffix) in _file_fields(config).items():
        candidate = Path(run_dir) / path
        if not Path(path).is_absolute() and candidate.exists():
            paths[key] = str(candidate) + suffix
    return _with_paths(config, paths) if paths else config


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """Read and check ``RUN/manifest.json`` (:func:`check_manifest`).

    Raises:
        UserError: the file is missing, unreadable, not JSON, or holds a field of the wrong type or range
            (the message names the file and the field).
    """
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise UserError(f"{run_dir} is not a training run: {MANIFEST} not found")
    return check_manifest(read_json(path, "manifest"), path)


def check_manifest(manifest: Any, path: Any = MANIFEST) -> dict[str, Any]:
    """``manifest`` if every field the toolkit reads has its type and range, else :class:`UserError`.

    Checked: ``format``; ``config`` (it must make a valid :class:`~swa.config.TrainConfig`); ``status``,
    ``task``; ``num_outputs`` and ``input_shape`` (positive integers); ``iters_per_epoch`` and
    ``epochs_done``; ``trajectory`` (objects with a relative ``path`` and an ``epoch``); ``final`` and
    ``swa`` (relative paths or null); ``warnings`` (strings); ``model``, ``data``, ``versions`` (objects).
    """
    if not isinstance(manifest, dict):
        raise UserError(f"{path} is not a run manifest: it holds {describe(manifest)}, not an object")
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path} has format {describe(manifest.get('format'))}, expected {FORMAT!r}")
    need(manifest, "config", (dict,), path)
    manifest_config(manifest, path)
    need(manifest, "status", (str,), path, default=None)
    need(manifest, "task", (str,), path, default=None)
    need(manifest, "num_outputs", (int,), path, default=None, low=1)
    shape = need(manifest, "input_shape", (list,), path, default=[])
    for i, n in enumerate(shape):
        check(n, (int,), path, f"input_shape[{i}]", low=1)
    need(manifest, "iters_per_epoch", (int,), path, default=None, low=1, high=10 ** 9)
    need(manifest, "epochs_done", (int,), path, default=None, low=0)
    for i, point in enumerate(need(manifest, "trajectory", (list,), path, default=[])):
        where = f"trajectory[{i}]"
        check(point, (dict,), path, where)
        _relative(need(point, "path", (str,), path, f"{where}."), path, f"{where}.path")
        need(point, "epoch", (int,), path, f"{where}.", low=0)
        need(point, "iteration", (int,), path, f"{where}.", default=None, low=0)
        need(point, "lr", (float, type(None)), path, f"{where}.", default=None, finite=False)
        need(point, "period", (int, type(None)), path, f"{where}.", default=None)
    for key in ("final", "swa"):
        rel = need(manifest, key, (str, type(None)), path, default=None)
        if rel is not None:
            _relative(rel, path, key)
    for i, w in enumerate(need(manifest, "warnings", (list,), path, default=[])):
        check(w, (str,), path, f"warnings[{i}]")
    for key in ("model", "data", "versions"):
        need(manifest, key, (dict,), path, default=None)
    return manifest


def _relative(rel: str, path: Any, field: str) -> None:
    if not rel or Path(rel).is_absolute():
        raise UserError(f"{path}: {field} must be a path inside the run, got {describe(rel)}")


def manifest_config(manifest: dict[str, Any], path: Any = MANIFEST):
    """The :class:`~swa.config.TrainConfig` of a manifest's ``config``; :class:`UserError` naming the file
    if it does not make one."""
    cfg = manifest.get("config")
    try:
        check(cfg, (dict,), path, "config")
        for key in ("model", "data"):
            spec = need(cfg, key, (dict,), path, "config.")
            need(spec, "name", (str,), path, f"config.{key}.")
            need(spec, "kwargs", (dict, type(None)), path, f"config.{key}.", default=None)
        need(cfg["data"], "root", (str, type(None)), path, "config.data.", default=None)
        need(cfg["data"], "seed", (int,), path, "config.data.", default=0)
        need(cfg, "epochs", (int,), path, "config.", default=None, low=1, high=MAX_EPOCHS)
        for key, value in cfg.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                check(value, (float,), path, f"config.{key}", finite=False)
        return TrainConfig.from_json(cfg)
    except UserError as exc:
        message = str(exc)
        raise UserError(message if message.startswith(str(path)) else f"{path}: config: {message}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        raise UserError(f"{path}: config is not a valid training configuration ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]})") from None


def read_metrics(run_dir: str | Path, *, epochs: Optional[int] = None, required: tuple[str, ...] = ()
                 ) -> list[dict[str, Any]]:
    """The per-epoch records of ``RUN/metrics.jsonl``, checked: each an object with an integer ``epoch``
    (at most ``epochs`` when given) and numbers or nulls as values (NaN and inf allowed: a diverged run
    records them); the fields ``required`` must be numbers. A missing file is an empty list.

    Raises:
        UserError: unreadable, not UTF-8, a line that is not JSON or a record of the wrong shape (the
            message names the file, the line and the field).
    """
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    records = []
    for n, record in read_json_lines(path):
        where = f"line {n}"
        check(record, (dict,), path, where)
        need(record, "epoch", (int,), path, f"{where}: ", low=0, high=epochs)
        for key, value in record.items():
            check(value, (float, type(None)), path, f"{where}: {key}", finite=False)
        for key in required:
            need(record, key, (float,), path, f"{where}: ", finite=False)
        records.append(record)
    return records


@dataclass
class Run:
    """A finished or running training run, opened from its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def config(self):
        return resolved_paths(manifest_config(self.manifest, self.path / MANIFEST), self.path)

    @property
    def trajectory(self) -> list[dict[str, Any]]:
        """The collected points, in order, each with an absolute ``path``."""
        return [{**p, "path": str(self.path / p["path"])} for p in self.manifest.get("trajectory", [])]

    def checkpoint(self, which: str) -> Optional[Path]:
        """Absolute path of ``"final"`` or ``"swa"`` (``None`` if the run has none)."""
        rel = self.manifest.get(which)
        return None if rel is None else self.path / rel

    def end_points(self) -> list[tuple[str, str]]:
        """``(path, label)`` of the final SGD iterate and, if the run has one, its average (SWA or PSWA).

        Raises:
            UserError: the run has not finished (it has no final iterate yet).
        """
        if self.checkpoint("final") is None:
            done, total = self.manifest.get("epochs_done", "?"), self.manifest.get("config", {}).get("epochs", "?")
            raise UserError(f"{self.path} is not finished ({done} of {total} epochs, status "
                            f"{self.manifest.get('status', '?')}); finish it first (train with `resume=True` "
                            f"and `out={str(self.path)!r}`)")
        points = [(str(self.checkpoint("final")), "SGD final")]
        if self.checkpoint("swa") is not None:
            points.append((str(self.checkpoint("swa")), self.config.method.upper()))
        return points

    def plane_anchors(self) -> list[tuple[str, str]]:
        """``(path, label)`` of the first, middle and last trajectory points (the SWA paper's plane).

        Raises:
            UserError: fewer than 3 trajectory points.
        """
        traj = self.trajectory
        if len(traj) < 3:
            raise UserError(f"{self.path} has {len(traj)} trajectory points; a plane needs 3 (or pass `points`)")
        return [(p["path"], f"epoch {p['epoch']}") for p in (traj[0], traj[len(traj) // 2], traj[-1])]

    def load_data(self) -> TensorData:
        return load_data(self.config.data)

    def build_model(self, checkpoint: Optional[str | Path] = None) -> nn.Module:
        """The run's architecture, with ``checkpoint`` loaded if given."""
        spec = self.config.model
        shape = tuple(self.manifest["input_shape"])
        model = build_model(spec, num_outputs=int(self.manifest["num_outputs"]), input_shape=shape)
        if checkpoint is not None:
            load_into(model, checkpoint)
        return model


def open_run(run_dir: str | Path) -> Run:
    """Open a run directory written by ``swa-landscape train``."""
    path = Path(run_dir)
    return Run(path=path, manifest=read_manifest(path))
