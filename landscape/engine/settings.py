"""How points are evaluated: the settings every landscape computation shares, checked at the boundary."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch

from swa.bn import BN_PASSES
from swa.devices import check_device_name
from swa.errors import UserError
from landscape.engine.bn import BN_STRATEGIES, default_bn
from landscape.engine.budget import DEFAULT_MAX_POINTS
from landscape.engine.checks import arg, check_int
from landscape.engine.precision import PRECISIONS

__all__ = ["EvalSettings", "PRECISIONS"]


@dataclass(frozen=True)
class EvalSettings:
    """How points are evaluated.

    Args:
        bn: ``recompute``/``interpolate``/``fixed``; ``None`` picks ``recompute`` for models with
            BatchNorm (and ``fixed``, which then changes nothing, otherwise).
        bn_samples, bn_pass: see :class:`~landscape.engine.evaluator.Evaluator`.
            ``bn`` choices: :data:`landscape.engine.bn.BN_STRATEGIES`.
        batch_size, chunk: evaluation batch size (``None``: the fastest of a short timed probe,
            ``landscape.engine.probe``); points per saved chunk.
        precision, device, seed: ``fp32``/``tf32``/``bf16`` (``landscape.engine.precision``); ``auto``/``cpu``/``cuda``/``cuda:N``
            (``swa.devices``); seed of random choices.
        overwrite: replace results of other inputs in the output directory.
        progress: show a progress bar.
        max_points: refuse computations with more points (see :mod:`landscape.engine.budget`).
        self_check: re-evaluate the points a result is built from by a plain forward pass
            (``landscape.engine.self_check``); off only to time the engine alone.

    Raises:
        UserError: a choice not offered or a count out of range, named as the caller spells it
            (``--batch-size`` on the command line, ``batch_size`` in the Python API, ``landscape.engine.checks``).
    """

    bn: Optional[str] = None
    bn_samples: Optional[int] = None
    bn_pass: str = "single-pass"
    batch_size: Optional[int] = None
    chunk: int = 16
    precision: str = "fp32"
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False
    progress: bool = True
    max_points: int = DEFAULT_MAX_POINTS
    self_check: bool = True

    def __post_init__(self) -> None:
        for name in ("batch_size", "chunk", "max_points"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                                      or value < 1):
                raise UserError(f"{arg(name)} must be a positive integer, got {value!r}")
        for name, value, allowed in (("bn", self.bn, (None, *BN_STRATEGIES)),
                                     ("bn_pass", self.bn_pass, BN_PASSES),
                                     ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise UserError(f"{arg(name)} {value!r} is not one of {', '.join(a for a in allowed if a)}")
        if self.bn_samples is not None:
            check_int(self.bn_samples, "bn_samples", 2)
        check_device_name(self.device, flag=arg("device"))

    def resolved_bn(self, model: torch.nn.Module) -> str:
        return default_bn(model, self.bn)

    def to_json(self) -> dict[str, Any]:
        """The settings as the sidecar records them."""
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "max_points")}

    def inputs(self, model: torch.nn.Module) -> dict[str, Any]:
        """The settings that change the numbers (resumption compares them)."""
        bn = self.resolved_bn(model)
        return {"bn": bn, "bn_samples": self.bn_samples if bn == "recompute" else None,
                "bn_pass": self.bn_pass if bn == "recompute" else None, "precision": self.precision,
                "seed": self.seed}
