"""The part every landscape computation shares: settings, device and process group, evaluator, store, run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from swa.bn import has_batchnorm
from swa.devices import resolve_device
from swa.errors import UserError
from landscape.budget import DEFAULT_MAX_POINTS, check_budget
from landscape.distributed import Dist, setup
from landscape.evaluator import METRICS, AffineFamily, Evaluator
from landscape.inputs import Checkpoint, Context
from landscape.runner import run_points
from landscape.store import ResultStore
from landscape.weights import ParamSpace

__all__ = ["EvalSettings", "Job", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16")  # fp16 autocast is not offered: it overflows in BatchNorm statistics


@dataclass(frozen=True)
class EvalSettings:
    """How points are evaluated.

    Args:
        bn: ``recompute``/``interpolate``/``fixed``; ``None`` picks ``recompute`` for models with
            BatchNorm (and ``fixed``, which then changes nothing, otherwise).
        bn_samples, bn_pass: see :class:`~landscape.evaluator.Evaluator`.
        batch_size, chunk: evaluation batch size; points per saved chunk.
        precision, device, seed: ``fp32``/``bf16``; ``auto``/``cpu``/``cuda``; seed of random choices.
        overwrite: replace results of other inputs in the output directory.
        progress: show a progress bar.
        max_points: refuse computations with more points (see :mod:`landscape.budget`).
    """

    bn: Optional[str] = None
    bn_samples: Optional[int] = None
    bn_pass: str = "exact"
    batch_size: int = 2048
    chunk: int = 16
    precision: str = "fp32"
    device: str = "auto"
    seed: int = 0
    overwrite: bool = False
    progress: bool = True
    max_points: int = DEFAULT_MAX_POINTS

    def __post_init__(self) -> None:
        for name in ("batch_size", "chunk", "max_points"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        for name, value, allowed in (("bn", self.bn, (None, "recompute", "interpolate", "fixed")),
                                     ("bn_pass", self.bn_pass, ("exact", "single-pass")),
                                     ("precision", self.precision, PRECISIONS)):
            if value not in allowed:
                raise UserError(f"--{name.replace('_', '-')} {value!r} is not one of "
                                f"{', '.join(a for a in allowed if a)}")
        if self.bn_samples is not None and self.bn_samples < 2:
            raise UserError(f"--bn-samples must be at least 2, got {self.bn_samples}")

    def resolved_bn(self, model: torch.nn.Module) -> str:
        if self.bn is not None:
            return self.bn
        return "recompute" if has_batchnorm(model) else "fixed"

    def inputs(self, model: torch.nn.Module) -> dict[str, Any]:
        """The settings that change the numbers (resumption compares them)."""
        bn = self.resolved_bn(model)
        return {"bn": bn, "bn_samples": self.bn_samples if bn == "recompute" else None,
                "bn_pass": self.bn_pass if bn == "recompute" else None, "precision": self.precision,
                "seed": self.seed}


@dataclass
class Job:
    """A prepared computation: its space, first point, evaluator and process group."""

    ctx: Context
    settings: EvalSettings
    space: ParamSpace
    dist: Dist
    evaluator: Evaluator
    bn: str

    @classmethod
    def prepare(cls, ctx: Context, first: Checkpoint, settings: EvalSettings,
                log: Callable[[str], None] = print) -> "Job":
        device = resolve_device(settings.device)
        dist, device = setup(device)
        model = ctx.model
        model.load_state_dict(first.state)
        bn = settings.resolved_bn(model)
        evaluator = Evaluator(model, ctx.data, device=device, bn_mode=bn, bn_samples=settings.bn_samples,
                              bn_pass=settings.bn_pass, batch_size=settings.batch_size,
                              precision=settings.precision, seed=settings.seed)
        n_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
        if bn == "recompute" and settings.bn_pass == "exact" and len(evaluator.x_bn) > settings.batch_size \
                and n_bn > 8 and dist.is_main:
            log(f"note: exact BatchNorm statistics take about {n_bn // 2} passes over {len(evaluator.x_bn)} inputs "
                f"per point ({n_bn} BatchNorm layers); --bn-pass single-pass takes one, --bn-samples N fewer inputs")
        return cls(ctx=ctx, settings=settings, space=evaluator.space, dist=dist, evaluator=evaluator, bn=bn)

    def check_budget(self, command: str, points: int, directions: int) -> None:
        """Refuse ``points`` points along ``directions`` directions if too many (:func:`landscape.budget.check_budget`)."""
        data = self.ctx.data
        check_budget(command, points, directions=directions, parameters=self.space.num_params,
                     samples=len(data.x_train) + len(data.x_test), batch_size=self.settings.batch_size,
                     max_points=self.settings.max_points)

    def params(self, ckpt: Checkpoint) -> torch.Tensor:
        return self.space.params_of(ckpt.state)

    def buffers(self, ckpt: Checkpoint) -> torch.Tensor:
        return self.space.buffers_of(ckpt.state)

    def store(self, out: str | Path, name: str, shape: tuple[int, ...], inputs: dict[str, Any],
              extra: dict[str, np.ndarray], sidecar: dict[str, Any]) -> ResultStore:
        full_inputs = {"command": name, **self.ctx.to_json(), **self.settings.inputs(self.ctx.model), **inputs}
        full_sidecar = {"settings": {k: v for k, v in asdict(self.settings).items()
                                     if k not in ("progress", "max_points")},
                        "bn_mode": self.bn, **sidecar}
        return ResultStore(out, name, shape, METRICS, full_inputs, extra, full_sidecar,
                           overwrite=self.settings.overwrite)

    def run(self, families: Sequence[AffineFamily], store: ResultStore, log: Callable[[str], None]) -> dict:
        try:
            return run_points(self.evaluator, families, store, chunk=self.settings.chunk, dist=self.dist,
                              progress=self.settings.progress, log=log)
        finally:
            self.dist.close()


