"""Training half of swa-landscape: data and model registries, schedules, exact BatchNorm update,
SWA / PSWA averaging and the training loop that writes run directories.

Names are imported on first use, so that ``import swa.errors`` (the command line's
start-up) does not pull in scikit-learn or torchvision.
"""

import importlib

_EXPORTS = {
    "update_bn_exact": "swa.bn", "load_into": "swa.checkpoint", "load_state_dict": "swa.checkpoint",
    "TrainConfig": "swa.config", "DataSpec": "swa.data", "TensorData": "swa.data", "list_datasets": "swa.data",
    "load_data": "swa.data", "UserError": "swa.errors", "ModelSpec": "swa.models", "build_model": "swa.models",
    "list_models": "swa.models", "Run": "swa.rundir", "open_run": "swa.rundir", "build_schedule": "swa.schedules",
    "train": "swa.trainer",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'swa' has no attribute {name!r}")
