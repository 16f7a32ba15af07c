"""How points are evaluated, and with which loss: what every landscape computation shares, checked at the boundary.

:class:`Settings` groups the evaluation settings (BatchNorm, batch size, chunk, device, precision, seed,
progress, budget, self-check, the sample subset, overwrite); :class:`Loss` the loss definition (``loss_fn`` or
``forward_fn``, the task, the loss's name). The Python API takes them as ``settings=`` and ``loss=``, and the
command line builds the same objects from its flags (``landscape.cli.common.settings_from_args``), so both run
the same code with the same inputs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional

import torch

from swa.bn import BN_PASSES
from swa.devices import check_device_name
from swa.errors import UserError
from landscape.engine.bn import BN_STRATEGIES, default_bn
from landscape.engine.budget import DEFAULT_MAX_POINTS
from landscape.engine.checks import arg, check_int
from landscape.engine.forward import Forward
from landscape.engine.precision import PRECISIONS

__all__ = ["Settings", "Loss", "PRECISIONS", "SETTINGS_FIELDS"]


@dataclass(frozen=True)
class Settings:
    """How points are evaluated: ``landscape.Settings(bn="fixed", device="cpu")``.

    Args:
        bn: ``recompute``/``interpolate``/``fixed``; ``None`` picks ``recompute`` for models with
            BatchNorm (and ``fixed``, which then changes nothing, otherwise).
        bn_samples, bn_pass: see :class:`~landscape.engine.evaluator.Evaluator`.
            ``bn`` choices: :data:`landscape.engine.bn.BN_STRATEGIES`.
        batch_size, chunk: evaluation batch size (``None``: the fastest of a short timed probe,
            ``landscape.engine.probe``); points per saved chunk.
        precision, device, seed: ``fp32``/``tf32``/``bf16`` (``landscape.engine.precision``);
            ``auto``/``cpu``/``cuda``/``cuda:N`` (``swa.devices``); seed of random choices.
        overwrite: replace results of other inputs in the output directory. It is here, not beside ``out``,
            because the result store obeys it together with the other settings and every sidecar records it in
            ``settings`` (results written before keep resuming).
        progress: show a progress bar.
        log: where info lines go (``print``; any ``fn(str)``, e.g. ``logging.getLogger(__name__).info``).
            It is here, beside ``progress``, because it changes what is shown, never the numbers: it is not
            compared, recorded or part of the resume key.
        max_points: refuse computations with more points (see :mod:`landscape.engine.budget`).
        self_check: re-evaluate the points a result is built from by a plain forward pass
            (``landscape.engine.self_check``); off only to time the engine alone.
        samples: evaluate on a fixed random subset of ``samples`` training samples (and min(``samples``, test
            size) test samples), drawn from ``seed`` (:meth:`landscape.engine.data.EvalData.sampled`); ``None``:
            all. It is here because it is chosen with the other settings (``--samples`` is an evaluation flag)
            and drawn from ``seed``; it is not in the sidecar's ``settings`` but in ``inputs.sample`` (the
            subset drawn, part of the resume key). ``sharpness`` takes the same subset of training samples.

    Raises:
        UserError: a choice not offered or a count out of range, naming the argument in Python words
            (`` `batch_size` ``; the console script writes ``--batch-size``, ``landscape.engine.checks``).
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
    samples: Optional[int] = None
    log: Callable[[str], None] = field(default=print, compare=False, repr=False)

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
        if self.samples is not None:
            check_int(self.samples, "samples", 1)
        check_device_name(self.device, flag=arg("device"))
        if not callable(self.log):
            raise UserError(f"{arg('log')} must be a function taking one line, got {type(self.log).__name__}")

    def resolved_bn(self, model: torch.nn.Module) -> str:
        return default_bn(model, self.bn)

    def to_json(self) -> dict[str, Any]:
        """The settings as the sidecar records them."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("progress", "max_points", "samples", "log")}

    def inputs(self, model: torch.nn.Module) -> dict[str, Any]:
        """The settings that change the numbers (resumption compares them)."""
        bn = self.resolved_bn(model)
        return {"bn": bn, "bn_samples": self.bn_samples if bn == "recompute" else None,
                "bn_pass": self.bn_pass if bn == "recompute" else None, "precision": self.precision,
                "seed": self.seed}


SETTINGS_FIELDS = tuple(Settings.__dataclass_fields__)


@dataclass(frozen=True)
class Loss:
    """The loss of an evaluation: ``landscape.Loss(fn=nn.CrossEntropyLoss(label_smoothing=0.1), name="smoothed")``.

    Args:
        fn: ``loss_fn(outputs, targets)`` returning the batch mean.
        forward_fn: ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size[, {name: batch
            mean}])`` for models called another way (the optional dict: extra metrics, recorded as
            ``train_<name>``/``test_<name>``); not with ``fn``.
        task: ``classification`` or ``regression``; default: the data's (cross-entropy and accuracy for
            integer targets, MSE for floating ones).
        name: the loss's name in results and figures (default: the function's or class's name).
    """

    fn: Optional[Callable] = None
    forward_fn: Optional[Callable] = None
    task: Optional[str] = None
    name: Optional[str] = None

    def forward(self, default_task: Optional[str]) -> Forward:
        """The :class:`~landscape.engine.forward.Forward` the engine evaluates (``default_task``: the data's)."""
        return Forward(task=self.task or default_task, loss_fn=self.fn, forward_fn=self.forward_fn, name=self.name)
