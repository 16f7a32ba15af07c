"""Training half of swa-landscape: data and model registries, schedules, exact BatchNorm update,
SWA / PSWA averaging and the training loop that writes run directories."""

from swa.bn import update_bn_exact
from swa.checkpoint import load_into, load_state_dict
from swa.config import TrainConfig
from swa.data import DataSpec, TensorData, list_datasets, load_data
from swa.errors import UserError
from swa.models import ModelSpec, build_model, list_models
from swa.rundir import Run, open_run
from swa.schedules import build_schedule

__all__ = ["DataSpec", "ModelSpec", "Run", "TensorData", "TrainConfig", "UserError", "build_model",
           "build_schedule", "list_datasets", "list_models", "load_data", "load_into", "load_state_dict",
           "open_run", "train", "update_bn_exact"]


def __getattr__(name):  # the trainer pulls in tqdm; import it on first use
    if name == "train":
        from swa.trainer import train

        return train
    raise AttributeError(name)
