"""Data registry: embedded sets, torchvision sets on disk, and user ``.pt``/``.npz`` files."""

from swa.data.registry import (
    CLASSIFICATION, REGRESSION, DataSpec, TensorData, list_datasets, load_data, parse_data_kwargs, register_dataset,
)
from swa.data import embedded  # noqa: F401  (registers digits, toy2d, friedman1, friedman3)
from swa.data import vision  # noqa: F401
from swa.data import files  # noqa: F401  (registers .pt and .npz files)

__all__ = ["CLASSIFICATION", "REGRESSION", "DataSpec", "TensorData", "list_datasets", "load_data",
           "parse_data_kwargs", "register_dataset"]
