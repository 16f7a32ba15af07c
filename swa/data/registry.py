"""Data registry: a :class:`DataSpec` names a data set; :func:`load_data` returns it as tensors.

Every data set, embedded or read from disk, is returned as a :class:`TensorData`:
train and test tensors held in memory (the landscape evaluator puts them on the
device once), the task (integer labels: classification with cross-entropy and
accuracy; float targets: regression with MSE), and an optional batch
augmentation used only while training.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from swa.errors import DataError

__all__ = [
    "DataSpec", "TensorData", "register_dataset", "list_datasets", "load_data", "parse_data_kwargs",
    "check_options", "CLASSIFICATION", "REGRESSION",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

_DATASETS: dict[str, Callable[["DataSpec"], "TensorData"]] = {}
_FILE_FORMATS: dict[str, Callable[["DataSpec"], "TensorData"]] = {}  # file suffix -> loader (swa.data.files)


@dataclass(frozen=True)
class DataSpec:
    """What is needed to rebuild a data set.

    Args:
        name: a registered name (``digits``, ``cifar10``, ...) or a path to a
            ``.pt``/``.npz`` file holding ``x``, ``y`` (and optionally ``x_test``, ``y_test``).
        root: directory of on-disk data sets (torchvision layout).
        download: let torchvision download a missing data set into ``root``.
        augment: standard training augmentation (random crop, flips where usual).
        seed: seed of the data itself (train/test split, synthetic samples); kept
            apart from the training seed so that runs with different seeds see the same data.
        kwargs: data-set options, e.g. ``{"n_train": 500, "noise": 0.1}``.
    """

    name: str
    root: Optional[str] = None
    download: bool = False
    augment: bool = False
    seed: int = 0
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "root": self.root, "download": self.download,
                "augment": self.augment, "seed": self.seed, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "DataSpec":
        return cls(name=obj["name"], root=obj.get("root"), download=bool(obj.get("download", False)),
                   augment=bool(obj.get("augment", False)), seed=int(obj.get("seed", 0)),
                   kwargs=dict(obj.get("kwargs") or {}))


@dataclass
class TensorData:
    """A data set held as tensors.

    ``y`` is ``int64`` of shape ``(N,)`` for classification and floating of shape
    ``(N,)`` or ``(N, k)`` for regression. ``augment(x, generator)`` maps a batch
    to an augmented batch on the batch's device, drawing randomness from ``generator``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    task: str
    num_outputs: int
    augment: Optional[Augment] = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in (CLASSIFICATION, REGRESSION):
            raise ValueError(f"task must be {CLASSIFICATION!r} or {REGRESSION!r}, got {self.task!r}")
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.shape[0] != y.shape[0]:
                raise DataError(f"{split} inputs and targets disagree in length: {x.shape[0]} vs {y.shape[0]}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"train and test inputs differ in shape: {tuple(self.x_train.shape[1:])} "
                            f"vs {tuple(self.x_test.shape[1:])}")
        if self.x_train.shape[0] < 2:
            raise DataError(f"the training set needs at least 2 samples, got {self.x_train.shape[0]}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def is_classification(self) -> bool:
        return self.task == CLASSIFICATION


def register_dataset(name: str) -> Callable[[Callable[[DataSpec], TensorData]], Callable[[DataSpec], TensorData]]:
    """Decorator: register a builder ``fn(spec) -> TensorData`` under ``name``."""

    def deco(fn: Callable[[DataSpec], TensorData]) -> Callable[[DataSpec], TensorData]:
        if name in _DATASETS:
            raise ValueError(f"data set {name!r} is registered twice")
        _DATASETS[name] = fn
        return fn

    return deco


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered data set names matching a shell-style wildcard (the built-ins register when ``swa.data``, the
    package of this module, is imported)."""
    return sorted(n for n in _DATASETS if fnmatch.fnmatch(n, pattern))


def check_options(spec: DataSpec, allowed: set[str]) -> None:
    """Reject data options a builder does not know.

    Raises:
        DataError: ``spec.kwargs`` holds a key outside ``allowed`` (the message lists the allowed ones).
    """
    unknown = set(spec.kwargs) - allowed
    if unknown:
        raise DataError(f"unknown option(s) {sorted(unknown)} for data set {spec.name!r}; allowed: {sorted(allowed)}")


def parse_data_kwargs(text: Optional[str]) -> dict[str, Any]:
    """Parse ``--data-kwargs`` JSON into a dict (empty for ``None``)."""
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"`data_kwargs` is not valid JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise DataError(f"`data_kwargs` must be a JSON object, got {text!r}")
    return value


def register_file_format(suffix: str, loader: Callable[[DataSpec], TensorData]) -> None:
    """Make ``--data PATH`` with this suffix (``".pt"``) load through ``loader`` (``swa.data.files`` registers
    ``.pt`` and ``.npz`` when ``swa.data`` is imported)."""
    _FILE_FORMATS[suffix] = loader


def load_data(spec: DataSpec) -> TensorData:
    """Load the data set ``spec`` names.

    Raises:
        DataError: unknown name (lists the valid ones), missing files (says how to
            get them), or a malformed file.
    """
    names = list_datasets()
    if spec.name in _DATASETS:
        builder = _DATASETS[spec.name]
    elif Path(spec.name).suffix in _FILE_FORMATS:
        builder = _FILE_FORMATS[Path(spec.name).suffix]
    else:
        raise DataError(f"unknown data set {spec.name!r}; choose one of {', '.join(names)} or a .pt/.npz file")
    try:
        return builder(spec)
    except TypeError as exc:
        raise DataError(f"data set {spec.name!r} rejected its options {sorted(spec.kwargs)}: {exc}") from None
