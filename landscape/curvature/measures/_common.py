"""Shared pieces of the flatness measures: the result base class, JSON conversion, validators, generators."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Optional

import numpy as np
import torch

_SEED_MAX = 2 ** 63 - 1


# --------------------------------------------------------------------------- results
def _plain(x: Any) -> Any:
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    raise TypeError(f"cannot convert {type(x).__name__} to JSON")


def _setting(**kw):
    return field(metadata={"setting": True}, **kw)


@dataclass(frozen=True)
class _Result:
    measure: ClassVar[str]
    lower_bound: ClassVar[bool] = False
    uncertainty_kind: ClassVar[str] = "none: a lower bound found by a local optimizer"

    @property
    def uncertainty(self) -> Optional[float]:
        """The headline uncertainty of ``value`` (see ``uncertainty_kind``); ``None`` for lower bounds."""
        return None

    def to_json(self) -> dict[str, Any]:
        """``{"measure", "lower_bound", "uncertainty", "uncertainty_kind", "settings": {...}, <fields>}``.

        Non-finite numbers become ``None``.
        """
        out: dict[str, Any] = {"measure": self.measure, "lower_bound": self.lower_bound,
                               "uncertainty": _plain(self.uncertainty), "uncertainty_kind": self.uncertainty_kind,
                               "settings": {}}
        for f in fields(self):
            target = out["settings"] if f.metadata.get("setting") else out
            target[f.name] = _plain(getattr(self, f.name))
        return out


# ------------------------------------------------------------------------ validation
def _int(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def _real(name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_obj(obj: Any) -> None:
    for attr in ("value", "value_and_grad", "point", "num_params", "dtype", "device"):
        if not hasattr(obj, attr):
            raise TypeError(f"obj must provide {attr!r} (the landscape.curvature.objective interface); "
                            f"{type(obj).__name__} does not")
    if obj.num_params < 1:
        raise ValueError(f"obj has num_params={obj.num_params}; nothing to perturb")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(n: int, gen: torch.Generator, obj) -> torch.Tensor:
    return torch.randn(n, generator=gen, dtype=obj.dtype).to(obj.device)
