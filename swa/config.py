"""Training configuration: one frozen dataclass, validated once, stored in the run manifest."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Optional

from swa.bn import BN_PASSES
from swa.data import DataSpec
from swa.devices import DEVICE_NAMES, check_device_name
from swa.errors import ConfigError
from swa.models import ModelSpec
from swa.precision import PRECISIONS
from swa.schedules import SCHEDULES

__all__ = ["TrainConfig", "METHODS", "OPTIMIZERS", "DEVICES", "RENAMED_FIELDS"]

METHODS = ("sgd", "swa", "pswa")
OPTIMIZERS = ("sgd", "adam")
DEVICES = DEVICE_NAMES  # cuda:N with N a GPU index (swa.devices)
# Fields renamed since runs were first written: old name -> new name (a manifest with the old name still loads).
RENAMED_FIELDS = {"bn_update": "bn_pass"}


def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"`{name}={value!r}` is not one of {', '.join(allowed)}")


def _finite(name: str, value: float, low: float, *, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if strict else value >= low)
    if not ok:
        raise ConfigError(f"`{name}` must be a finite number {'>' if strict else '>='} {low}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run (defaults in brackets).

    Args:
        model, data: what to train on what.
        out: run directory.
        epochs [20], batch_size [128]: length and batch size.
        optimizer ["sgd"]: ``sgd`` (with ``momentum`` [0.9]) or ``adam``; ``weight_decay`` [5e-4].
        lr [0.1]: initial / maximal learning rate; ``lr_min`` [0.01·lr]: lowest rate of
            ``cyclic`` and ``cosine``; ``swa_lr`` [0.5·lr]: the rate the ``swa`` schedule decays to.
        lr_schedule ["swa" for swa/pswa, "cosine" for sgd]: one of ``swa.schedules.SCHEDULES``.
        lr_milestones [50% and 75% of epochs], lr_gamma [0.1]: the ``step`` schedule.
        method ["sgd"]: ``sgd``, ``swa`` or ``pswa``.
        swa_start [75% of epochs for swa/pswa, none for sgd]: points are collected at the end of
            epochs ``swa_start + cycle``, ``swa_start + 2·cycle``, ... (with ``sgd`` they are
            saved but not averaged).
        cycle [1]: epochs between collected points; the cycle length of ``cyclic``.
        pswa_period [10]: PSWA period in epochs (a multiple of ``cycle``).
        init_from: checkpoint to start from (fine-tuning).
        seed [0]: seed of initialization, shuffling, augmentation and dropout.
        device ["auto"], precision ["fp32"], channels_last [False]: where and how to compute
            (``auto``, ``cpu``, ``cuda`` or ``cuda:N``: ``swa.devices``; ``fp32``, ``tf32`` or ``bf16``:
            ``swa.precision``, whose bf16 autocast applies to training on CUDA only; channels_last on CUDA only).
        deterministic [False]: deterministic algorithms (``swa.determinism``), which a bitwise
            identical resumption on CUDA needs.
        bn_pass ["exact"]: how the average's BatchNorm statistics are recomputed, ``exact`` or
            ``single-pass`` (``swa.bn``; called ``bn_update`` in runs written before).
        eval_batch_size [1024], eval_freq [1]: evaluation batch size and how often (in epochs) the
            average is evaluated; the last epoch is always evaluated.
    """

    model: ModelSpec
    data: DataSpec
    out: str
    epochs: int = 20
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.1
    lr_min: Optional[float] = None
    lr_schedule: Optional[str] = None
    lr_milestones: Optional[tuple[int, ...]] = None
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    method: str = "sgd"
    swa_start: Optional[int] = None
    swa_lr: Optional[float] = None
    cycle: int = 1
    pswa_period: Optional[int] = None
    init_from: Optional[str] = None
    train_only: Optional[tuple[str, ...]] = None  # parameter-name prefixes to train; the rest frozen
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    deterministic: bool = False
    bn_pass: str = "exact"
    eval_batch_size: int = 1024
    eval_freq: int = 1

    def __post_init__(self) -> None:
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("method", self.method, METHODS)
        check_device_name(self.device)
        _choice("precision", self.precision, PRECISIONS)
        _choice("bn_pass", self.bn_pass, BN_PASSES)
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"`deterministic` must be True or False, got {self.deterministic!r}")
        for name in ("epochs", "batch_size", "cycle", "eval_batch_size", "eval_freq"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"`{name}` must be a positive integer, got {value!r}")
        _finite("lr", self.lr, 0, strict=True)
        _finite("lr_gamma", self.lr_gamma, 0, strict=True)
        _finite("weight_decay", self.weight_decay, 0)
        if not (isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1):
            raise ConfigError(f"`momentum` must be in [0, 1), got {self.momentum!r}")
        # Fill the defaults that depend on other settings.
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731  (frozen dataclass)
        if self.lr_min is None:
            set_("lr_min", 0.01 * self.lr)
        _finite("lr_min", self.lr_min, 0)
        if self.lr_min > self.lr:
            raise ConfigError(f"`lr_min={self.lr_min!r}` must not exceed `lr={self.lr!r}`")
        if self.swa_lr is None:
            set_("swa_lr", 0.5 * self.lr)
        _finite("swa_lr", self.swa_lr, 0, strict=True)
        if self.lr_schedule is None:
            set_("lr_schedule", "cosine" if self.method == "sgd" else "swa")
        _choice("lr_schedule", self.lr_schedule, tuple(SCHEDULES))
        if self.lr_milestones is None:
            set_("lr_milestones", (max(1, self.epochs // 2), max(1, (3 * self.epochs) // 4)))
        set_("lr_milestones", tuple(int(m) for m in self.lr_milestones))
        if any(m < 1 for m in self.lr_milestones):
            raise ConfigError(f"`lr_milestones` must be positive epochs, got {list(self.lr_milestones)}")
        if self.train_only is not None:
            set_("train_only", tuple(str(p) for p in self.train_only))
            if not self.train_only or any(not p for p in self.train_only):
                raise ConfigError(f"`train_only` needs parameter-name prefixes like fc. or layer4,fc, got "
                                  f"{list(self.train_only)}")
        averaging = self.method in ("swa", "pswa")
        if self.swa_start is None and averaging:
            set_("swa_start", int(round(0.75 * self.epochs)))
        if self.swa_start is not None:
            if not isinstance(self.swa_start, int) or self.swa_start < 0:
                raise ConfigError(f"`swa_start` must be an integer >= 0, got {self.swa_start!r}")
            if self.swa_start + self.cycle > self.epochs:
                raise ConfigError(
                    f"`swa_start={self.swa_start!r}` is past the last epoch: the first point is collected after "
                    f"epoch swa-start + cycle = {self.swa_start + self.cycle} but `epochs` is {self.epochs}")
            if self.lr_schedule == "cyclic" and self.swa_start % self.cycle:
                raise ConfigError(f"with `lr_schedule='cyclic'`, `swa_start` ({self.swa_start}) must be a multiple "
                                  f"of `cycle` ({self.cycle}) so that points are collected at cycle ends")
        if self.method == "pswa":
            if self.pswa_period is None:
                set_("pswa_period", min(10, self.epochs - self.swa_start))
            if not isinstance(self.pswa_period, int) or self.pswa_period < 1:
                raise ConfigError(f"`pswa_period` must be a positive integer, got {self.pswa_period!r}")
            if self.pswa_period % self.cycle:
                raise ConfigError(f"`pswa_period` ({self.pswa_period}) must be a multiple of `cycle` ({self.cycle})")
            if (self.epochs - self.swa_start) % self.pswa_period:
                raise ConfigError(
                    f"PSWA needs whole periods: `epochs={self.epochs!r}` minus `swa_start={self.swa_start!r}` must be "
                    f"a multiple of `pswa_period={self.pswa_period!r}`")
        elif self.pswa_period is not None:
            raise ConfigError("`pswa_period` applies to `method='pswa'` only")

    @property
    def averaging(self) -> bool:
        return self.method in ("swa", "pswa")

    def to_json(self) -> dict[str, Any]:
        obj = {f.name: getattr(self, f.name) for f in fields(self)}
        obj["model"] = self.model.to_json()
        obj["data"] = self.data.to_json()
        obj["lr_milestones"] = list(self.lr_milestones)
        if self.train_only is None:  # runs written before the field existed compare equal
            del obj["train_only"]
        else:
            obj["train_only"] = list(self.train_only)
        if not self.deterministic:  # likewise
            del obj["deterministic"]
        return obj

    @staticmethod
    def upgraded_json(obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` (a stored ``config``) with every field of :data:`RENAMED_FIELDS` under its current name."""
        return {RENAMED_FIELDS.get(k, k): v for k, v in obj.items()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "TrainConfig":
        """The config of a stored ``config`` (runs written before a field was renamed included)."""
        obj = cls.upgraded_json(obj)
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in obj.items() if k in known}
        kwargs["model"] = ModelSpec.from_json(obj["model"])
        kwargs["data"] = DataSpec.from_json(obj["data"])
        if kwargs.get("lr_milestones") is not None:
            kwargs["lr_milestones"] = tuple(kwargs["lr_milestones"])
        if kwargs.get("train_only") is not None:
            kwargs["train_only"] = tuple(kwargs["train_only"])
        return cls(**kwargs)

    def with_changes(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)

