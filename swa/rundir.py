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

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch.nn as nn

from swa.checkpoint import load_into
from swa.data import TensorData, load_data
from swa.errors import UserError
from swa.models import build_model

__all__ = ["MANIFEST", "METRICS", "STATE", "FORMAT", "versions", "read_manifest", "Run", "open_run",
           "portable_paths", "resolved_paths"]

MANIFEST = "manifest.json"
METRICS = "metrics.jsonl"
STATE = "state/last.pt"
FORMAT = "swa-landscape-run/1"


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries that shape the numbers."""
    import numpy
    import sklearn
    import torch

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
    from dataclasses import replace

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
    """Read ``RUN/manifest.json``; :class:`UserError` if it is missing or unreadable."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise UserError(f"{run_dir} is not a training run: {MANIFEST} not found")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise UserError(f"{path} has format {manifest.get('format')!r}, expected {FORMAT!r}")
    return manifest


@dataclass
class Run:
    """A finished or running training run, opened from its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def config(self):
        from swa.config import TrainConfig

        return resolved_paths(TrainConfig.from_json(self.manifest["config"]), self.path)

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
                            f"{self.manifest.get('status', '?')}); finish it with: swa-landscape train --resume "
                            f"--out {self.path}")
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
            raise UserError(f"{self.path} has {len(traj)} trajectory points; a plane needs 3 (or pass --points)")
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
