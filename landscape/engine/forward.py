"""The one definition of "loss and accuracy of a batch", shared by the evaluator and the Hessian objective.

A :class:`Forward` turns ``(model, batch)`` into ``(loss_sum, n_correct, n)``: the batch's summed
per-sample loss (a differentiable 0-d tensor), its number of correct predictions (``None`` when
accuracy has no meaning) and its size. Sums make every reported quantity the exact per-sample mean

    L = (1/N) Σ_batches loss_sum,    acc = (1/N) Σ_batches n_correct,    N = Σ_batches n

whatever the batch sizes. Three ways to define it:

* default: ``batch = (x, y)``, ``out = model(x)``; cross-entropy and argmax accuracy for integer
  targets, mean squared error over output dimensions for floating ones (``swa.evaluation.batch_loss``);
* ``loss_fn(out, y)`` returning the batch *mean* (e.g. label-smoothed cross-entropy); accuracy is
  still counted for integer targets and 2-D outputs;
* ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size[, extras])`` for models
  called another way (dict batches, ``model(**batch).loss``). ``extras``, optional, is a dict
  ``{name: batch mean}`` (0-d tensors or numbers) of metrics of the user's own (a calibration error,
  a second loss); each is reduced like the loss, ``m = (1/N) Σ_batches n_b·m_b``
  (:func:`split_means`), and recorded as ``train_<name>``/``test_<name>``.

The loss's name (:attr:`Forward.name`, from :func:`callable_name` or the caller's ``loss_name``) is
recorded with the results and shown in figures, so that a label-smoothed loss is not read as the default.

:class:`Applied` wraps a model and a forward as one module, so that
``torch.func.functional_call(applied, weights, (batch,))`` evaluates the batch at other weights
without touching the model's own (names in ``weights`` carry the prefix ``model.``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

import torch
import torch.nn as nn
from torch.func import functional_call

from swa.data import CLASSIFICATION, REGRESSION
from swa.errors import UserError
from swa.evaluation import batch_loss

__all__ = ["Forward", "Applied", "split_metrics", "split_means", "SplitMeans", "callable_name", "DEFAULT_LOSS",
           "CUSTOM_LOSS", "RESERVED_EXTRAS"]

DEFAULT_LOSS = "default"      # the recorded name of the built-in loss (cross-entropy or MSE)
CUSTOM_LOSS = "custom loss"   # the recorded name of a loss that has none (a lambda) when no loss_name is given
RESERVED_EXTRAS = ("loss", "acc", "err")  # train_<name> would clash with the built-in metrics

LossFn = Callable[[Any, Any], torch.Tensor]
ForwardFn = Callable[[nn.Module, Any], tuple]


def callable_name(fn: Any) -> Optional[str]:
    """A readable name of a loss or forward function: a function's ``__name__``, the wrapped function's for a
    ``functools.partial``, the class name of a callable object (``nn.CrossEntropyLoss(label_smoothing=0.1)`` →
    ``CrossEntropyLoss``); ``None`` for a lambda (it has no name)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return None if name == "<lambda>" else name
    return type(fn).__name__


class Forward:
    """``(model, batch) -> (loss_sum, n_correct or None, n)``; see the module docstring.

    Args:
        task: ``classification`` or ``regression`` (the default loss and accuracy); may be ``None``
            with ``forward_fn``.
        loss_fn: ``loss_fn(outputs, targets)`` returning the batch mean.
        forward_fn: ``forward_fn(model, batch) -> (mean_loss, n_correct or None, batch_size[, extras])``.
        name: the loss's name in results and figures; default :data:`DEFAULT_LOSS` for the built-in loss, else
            :func:`callable_name` of ``loss_fn``/``forward_fn`` (:data:`CUSTOM_LOSS` for a lambda).

    Raises:
        ValueError: both ``loss_fn`` and ``forward_fn``, no task to default to, or a ``name`` that is not a
            non-empty string.
    """

    def __init__(self, task: Optional[str] = None, loss_fn: Optional[LossFn] = None,
                 forward_fn: Optional[ForwardFn] = None, name: Optional[str] = None) -> None:
        if loss_fn is not None and forward_fn is not None:
            raise ValueError("give loss_fn or forward_fn, not both (forward_fn computes the loss itself)")
        if forward_fn is None and task not in (CLASSIFICATION, REGRESSION):
            raise ValueError("cannot tell the task from the data (targets are not a tensor): pass forward_fn, or "
                             "task='classification'/'regression'")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise UserError(f"loss_name must be a non-empty string, got {name!r}")
        self.task, self.loss_fn, self.forward_fn = task, loss_fn, forward_fn
        given = forward_fn if forward_fn is not None else loss_fn
        #: a custom loss with no name of its own (a lambda) and no ``name`` given: recorded as CUSTOM_LOSS
        self.unnamed = name is None and given is not None and callable_name(given) is None
        self.name = name.strip() if name is not None else (
            DEFAULT_LOSS if given is None else callable_name(given) or CUSTOM_LOSS)

    def describe(self) -> dict[str, Any]:
        """``{"task", "loss"}``, or ``{"forward_fn", "loss"}``: ``loss`` is :attr:`name`."""
        if self.forward_fn is not None:
            return {"forward_fn": callable_name(self.forward_fn) or CUSTOM_LOSS, "loss": self.name}
        return {"task": self.task, "loss": self.name}

    def counts_accuracy(self, targets: Any) -> bool:
        """Whether the default/``loss_fn`` path counts accuracy for these targets (integer, not regression)."""
        return (self.forward_fn is None and isinstance(targets, torch.Tensor) and not targets.is_floating_point()
                and self.task != REGRESSION)

    def run(self, model: nn.Module, batch: Any) -> Any:
        """Only the network's forward on ``batch`` (what BatchNorm statistics need)."""
        if self.forward_fn is not None:
            return self.forward_fn(model, batch)
        return model(_pair(batch)[0])

    def __call__(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Optional[torch.Tensor], int]:
        return self.with_extras(model, batch)[:3]

    def with_extras(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, Optional[torch.Tensor], int,
                                                                  dict[str, torch.Tensor]]:
        """``(loss_sum, n_correct or None, n, extras)``: ``extras`` maps a ``forward_fn``'s extra metric names to
        their batch sums ``n·m`` (float64 0-d tensors; empty without them)."""
        if self.forward_fn is not None:
            got = self.forward_fn(model, batch)
            if not (isinstance(got, (tuple, list)) and len(got) in (3, 4)):
                raise TypeError("forward_fn must return (mean_loss, n_correct or None, batch_size) or (mean_loss, "
                                f"n_correct or None, batch_size, {{name: batch mean}}), got {type(got).__name__}"
                                + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
            loss, correct, n = got[:3]
            n = int(n)
            extras = _extra_sums(got[3], n) if len(got) == 4 else {}
            return torch.as_tensor(loss).reshape(()) * n, correct, n, extras
        x, y = _pair(batch)
        out = model(x)
        n = out.shape[0]
        if self.loss_fn is None:
            total = batch_loss(out, y, self.task, reduction="sum")
        else:
            promoted = out if out.dtype in (torch.float32, torch.float64) else out.float()
            total = torch.as_tensor(self.loss_fn(promoted, y)).reshape(()) * n
        correct = None
        if not y.is_floating_point() and out.dim() == 2 and self.task != REGRESSION:
            correct = (out.argmax(dim=1) == y).sum()
        return total, correct, n, {}


def _extra_sums(extras: Any, n: int) -> dict[str, torch.Tensor]:
    """``{name: n·m}`` of a ``forward_fn``'s 4th element, checked: a dict of identifier names (not
    :data:`RESERVED_EXTRAS`) to 0-d tensors or real numbers.

    Raises:
        UserError: naming ``forward_fn`` and the key.
    """
    if not isinstance(extras, dict):
        raise UserError(f"forward_fn's 4th element must be a dict {{name: batch mean}}, got {type(extras).__name__}")
    out = {}
    for name, value in extras.items():
        if not isinstance(name, str) or not name.isidentifier() or name in RESERVED_EXTRAS:
            raise UserError(f"forward_fn's extra metric {name!r}: names must be Python identifiers other than "
                            f"{', '.join(RESERVED_EXTRAS)} (they are recorded as train_<name> and test_<name>)")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1 or value.dim() > 1 or value.is_complex():
                raise UserError(f"forward_fn's extra metric {name!r} must be a scalar (a 0-d tensor or a number), "
                                f"got a tensor of shape {tuple(value.shape)}")
            value = value.detach().reshape(()).double()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = torch.tensor(float(value), dtype=torch.float64)
        else:
            raise UserError(f"forward_fn's extra metric {name!r} must be a scalar (a 0-d tensor or a number), got "
                            f"{type(value).__name__}")
        out[name] = value * n
    return out


def _pair(batch: Any) -> tuple[Any, Any]:
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"a batch of type {type(batch).__name__} is not an (inputs, targets) pair: pass forward_fn to "
                    "say how the model is called on it")


class Applied(nn.Module):
    """``model`` and a :class:`Forward` as one module: ``applied(batch)`` is ``forward(model, batch)``.

    ``applied(batch, run_only=True)`` is ``forward.run(model, batch)`` (the network alone);
    ``applied(batch, extras=True)`` is ``forward.with_extras(model, batch)``.
    """

    def __init__(self, model: nn.Module, forward: Forward) -> None:
        super().__init__()
        self.model = model
        self.definition = forward

    def forward(self, batch: Any, run_only: bool = False, extras: bool = False) -> Any:
        if run_only:
            return self.definition.run(self.model, batch)
        if extras:
            return self.definition.with_extras(self.model, batch)
        return self.definition(self.model, batch)

    def call(self, weights: dict[str, torch.Tensor], batch: Any, run_only: bool = False, extras: bool = False) -> Any:
        """The forward at ``weights`` (names as in ``model.named_parameters()``/buffers) via ``functional_call``."""
        return functional_call(self, {f"model.{k}": v for k, v in weights.items()}, (batch,),
                               {"run_only": run_only, "extras": extras})


@dataclass
class SplitMeans:
    """Per-sample means over one split: ``loss``, ``acc`` (NaN if not counted) and ``extras`` by name."""

    loss: float
    acc: float
    extras: dict[str, float]


def split_means(step: Callable[[Any], tuple], batches: Iterable[Any]) -> SplitMeans:
    """Per-sample means over ``batches``; ``step(batch)`` returns a Forward's ``(loss_sum, n_correct, n)`` or
    :meth:`Forward.with_extras`'s ``(loss_sum, n_correct, n, extras)``:

        L = (1/N) Σ_b loss_sum_b,   acc = (1/N) Σ_b n_correct_b,   m = (1/N) Σ_b extras_b[m],   N = Σ_b n_b.

    Raises:
        ValueError: no samples. UserError: a batch whose extra metrics have other names than the first's, or an
            extra metric that is non-finite over a split whose loss is finite (a diverged point, whose loss is
            inf/NaN, keeps its values as they are).
    """
    loss, correct, n, counted = None, None, 0, True
    extras: Optional[dict[str, torch.Tensor]] = None
    for batch in batches:  # sums stay on the device: no synchronization per batch
        loss_sum, n_correct, nb, *more = step(batch)
        loss = loss_sum.detach().double() if loss is None else loss + loss_sum.detach().double()
        if n_correct is None:
            counted = False
        elif counted:
            n_correct = torch.as_tensor(n_correct)
            correct = n_correct if correct is None else correct + n_correct
        got = more[0] if more else {}
        if extras is None:
            extras = dict(got)
        elif set(got) != set(extras):
            raise UserError(f"forward_fn returned extra metrics ({', '.join(sorted(got)) or 'none'}) in one batch "
                            f"but ({', '.join(sorted(extras)) or 'none'}) in another: every batch must return the "
                            "same keys")
        else:
            extras = {k: v + got[k].to(v.device) for k, v in extras.items()}
        n += nb
    if n == 0:
        raise ValueError("no samples in the split")
    mean_loss = float(loss) / n
    means = {k: float(v) / n for k, v in (extras or {}).items()}
    for k, v in means.items():
        if not math.isfinite(v) and math.isfinite(mean_loss):
            raise UserError(f"forward_fn's extra metric {k!r} is {v} over a split where the loss is finite "
                            f"({mean_loss:.4g}): return finite batch means")
    return SplitMeans(mean_loss, int(correct) / n if counted and correct is not None else float("nan"), means)


def split_metrics(step: Callable[[Any], tuple], batches: Iterable[Any]) -> tuple[float, float]:
    """Per-sample mean loss and accuracy (NaN if not counted) over ``batches`` (:func:`split_means`)."""
    means = split_means(step, batches)
    return means.loss, means.acc
