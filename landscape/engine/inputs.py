"""What a landscape command starts from: the model, the data and the checkpoints.

Model and data come from a run directory (``--run``) or from ``--model``/``--data``.
Checkpoints are checked against the model (and against each other) before any work.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn as nn

from swa.checkpoint import (check_compatible, check_finite, load_state_dict, split_key, state_digest, unwrap_model,
                            unwrap_state_dict)
from swa.data import DataSpec, TensorData, load_data
from swa.devices import on_cpu
from swa.errors import CheckpointError, UserError
from swa.models import ModelSpec, build_model
from swa.rundir import Run, open_run
from landscape.engine.data import as_eval_data

__all__ = ["Context", "Checkpoint", "load_context", "load_checkpoints", "as_checkpoints", "file_digest",
           "state_digest"]


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (what resumption compares)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A loaded checkpoint: where it came from (``None`` for one given in memory), its label and state dict."""

    path: Optional[str]
    label: str
    state: dict[str, torch.Tensor]
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "sha256": self.digest}


@dataclass
class Context:
    """Model template and data of a landscape command."""

    model: nn.Module
    data: TensorData
    model_spec: ModelSpec
    data_spec: DataSpec
    run: Optional[Run] = None
    sampled: Any = None  # the EvalData of use_samples (a subset), else None: all of ``data``

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model_spec.to_json(), "data": self.data_spec.to_json(),
                "run": None if self.run is None else str(self.run.path)}

    def use_samples(self, samples: Optional[int], seed: int, log=print) -> None:
        """Evaluate on a fixed random subset of ``samples`` (``--samples``, :meth:`EvalData.sampled`) from now on;
        one line says which. ``None``: all samples."""
        self.sampled = None
        data = self.eval_data().sampled(samples, seed)
        if data.sample is not None:
            self.sampled = data
            log(data.sample_line())

    def eval_data(self):

        return self.sampled if self.sampled is not None else as_eval_data(self.data)


def load_context(run_dir: Optional[str], model_spec: Optional[ModelSpec], data_spec: Optional[DataSpec]) -> Context:
    """Rebuild model and data from ``run_dir``'s manifest, or from explicit specs (which override the run's)."""
    run = open_run(run_dir) if run_dir else None
    if run is not None:
        config = run.config
        model_spec = model_spec or config.model
        data_spec = data_spec or config.data
    if data_spec is None:
        raise UserError("say which data to evaluate on: `data=NAME` (or `run=RUN_DIR`)")
    if model_spec is None:
        raise UserError("say which model the checkpoints belong to: `model=NAME` (or `run=RUN_DIR`)")
    data = load_data(data_spec)
    model = build_model(model_spec, num_outputs=data.num_outputs, input_shape=data.input_shape)
    return Context(model=model, data=data, model_spec=model_spec, data_spec=data_spec, run=run)


def load_checkpoints(paths: Sequence[str], labels: Optional[Sequence[str]], model: nn.Module) -> list[Checkpoint]:
    """Load and check checkpoints; they must all fit ``model``.

    Raises:
        UserError: wrong number of labels, a missing or unreadable file, checkpoints of
            different architectures (names the keys), a checkpoint that does not fit the model,
            or one with NaN/inf values (names the tensors).
    """
    if labels is not None and len(labels) != len(paths):
        raise UserError(f"`labels` gives {len(labels)} labels for {len(paths)} checkpoints")
    loaded = []
    for i, spec in enumerate(paths):
        state = load_state_dict(spec)
        path, _ = split_key(spec)
        label = labels[i] if labels is not None else Path(path).stem
        loaded.append(Checkpoint(path=str(spec), label=label, state=dict(state), digest=file_digest(path)))
    check_checkpoints(loaded, model)
    return loaded


def check_checkpoints(loaded: Sequence[Checkpoint], model: nn.Module) -> None:
    """All of ``loaded`` share one architecture, fit ``model`` and are finite.

    Raises:
        CheckpointError: names the checkpoints and keys or tensors at fault.
    """
    first = loaded[0]
    for other in loaded[1:]:
        a, b = set(first.state), set(other.state)
        shapes = [k for k in a & b if first.state[k].shape != other.state[k].shape]
        if a != b or shapes:
            diff = sorted(a ^ b) + sorted(shapes)
            raise CheckpointError(f"checkpoints of different architectures: {first.path or first.label} and "
                                  f"{other.path or other.label} differ in {len(diff)} keys "
                                  f"({', '.join(diff[:5])}{', ...' if len(diff) > 5 else ''})")
    for ckpt in loaded:
        where = ckpt.path or "checkpoint"
        check_compatible(model, ckpt.state, where)
        check_finite(ckpt.state, f"{where} ({ckpt.label})")


def state_on_cpu(state: Mapping[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """A copy of ``state`` whose tensors are detached and on the CPU (:func:`swa.devices.on_cpu`: a tensor
    already there is kept, not copied).

    Raises:
        CheckpointError: a tensor on the ``meta`` device, which holds no values (names it and ``source``).
    """
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.device.type == "meta":
            raise CheckpointError(f"{source}: {name} is on the meta device (it holds no values); give a state "
                                  "with its tensors materialized")
    return {name: value.detach() if isinstance(value, torch.Tensor) else value
            for name, value in on_cpu(dict(state)).items()}


def as_checkpoints(points: Sequence[Any], labels: Optional[Sequence[str]], model: nn.Module,
                   default_labels: Optional[Sequence[str]] = None) -> list[Checkpoint]:
    """Checkpoints from what a Python caller holds: state dicts, models (their ``state_dict()``) or file paths.

    In-memory states are unwrapped like files (``module.`` prefixes, ``{'state_dict': ...}``) and keyed by
    :func:`state_digest`; files by :func:`file_digest`. Their tensors are held on the CPU, as files are
    loaded (``map_location="cpu"``), whatever device the caller's models or states are on: directions,
    projections and digests then never mix devices; the engine places weights on its device itself.

    Raises:
        CheckpointError / UserError: as :func:`load_checkpoints`; TypeError for anything else.
    """
    if isinstance(points, (dict, nn.Module, str, os.PathLike)):
        raise TypeError("points must be a list (of state dicts, models or paths)")
    model = unwrap_model(model)  # DataParallel, DDP, torch.compile, AveragedModel: the states fit the inner model
    if labels is not None and len(labels) != len(points):
        raise UserError(f"labels gives {len(labels)} labels for {len(points)} points")
    loaded = []
    for i, point in enumerate(points):
        label = labels[i] if labels is not None else (default_labels[i] if default_labels else f"point {i}")
        if isinstance(point, (str, os.PathLike)):
            ckpt = load_checkpoints([str(point)], None, model)[0]
            loaded.append(Checkpoint(path=ckpt.path, label=labels[i] if labels is not None else ckpt.label,
                                     state=ckpt.state, digest=ckpt.digest))
            continue
        if isinstance(point, nn.Module):
            point = point.state_dict()
        if not isinstance(point, Mapping):
            raise TypeError(f"point {i} is a {type(point).__name__}; give a state dict, a model or a file path")
        source = f"point {i} ({label})"
        state = state_on_cpu(unwrap_state_dict(point, source=source), source)
        loaded.append(Checkpoint(path=None, label=label, state=state, digest=state_digest(state)))
    check_checkpoints(loaded, model)
    return loaded
