"""Learning-rate schedules as pure functions of the global iteration.

Each schedule maps the 0-based global iteration ``step`` (the paper's ``i`` is
``step + 1``) to a learning rate, so a resumed run needs no scheduler state.
Build one by name with :func:`build_schedule`; :data:`SCHEDULES` lists the names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from swa.errors import ConfigError

__all__ = ["Schedule", "Constant", "Cyclic", "SWAReference", "StepDecay", "Cosine", "SCHEDULES", "build_schedule"]


class Schedule(Protocol):
    def __call__(self, step: int) -> float: ...


@dataclass(frozen=True)
class Constant:
    """α(i) = α."""

    lr: float

    def __call__(self, step: int) -> float:
        return self.lr


@dataclass(frozen=True)
class Cyclic:
    """The SWA paper's cyclical schedule (Izmailov et al. 2018, eq. 2), per iteration.

    α(i) = (1 − t(i))·α1 + t(i)·α2 with t(i) = (((i − 1) mod c) + 1)/c, where
    ``i = step + 1``, α1 = ``lr_max``, α2 = ``lr_min`` and ``c`` = ``cycle_iters``.
    The rate falls linearly from just below α1 to α2, reached at the last
    iteration of each cycle (where SWA collects the weights), then jumps back.
    """

    lr_max: float
    lr_min: float
    cycle_iters: int

    def __call__(self, step: int) -> float:
        c = self.cycle_iters
        t = ((step % c) + 1) / c  # (((i - 1) mod c) + 1) / c with i = step + 1
        return (1.0 - t) * self.lr_max + t * self.lr_min


@dataclass(frozen=True)
class SWAReference:
    """The schedule of the SWA reference code (timgaripov/swa), per epoch.

    With e the 0-based epoch and t = e / horizon (horizon = ``swa_start`` for
    SWA/PSWA, the number of epochs for plain SGD): α = α0 for t ≤ 0.5, then a
    linear decay to ``lr_final`` until t = 0.9, then ``lr_final``. A zero horizon
    (averaging from the first epoch) gives ``lr_final`` throughout.
    """

    lr: float
    lr_final: float
    horizon_epochs: int
    iters_per_epoch: int

    def __call__(self, step: int) -> float:
        if self.horizon_epochs <= 0:
            return self.lr_final
        t = (step // self.iters_per_epoch) / self.horizon_epochs
        ratio = self.lr_final / self.lr
        if t <= 0.5:
            factor = 1.0
        elif t <= 0.9:
            factor = 1.0 - (1.0 - ratio) * (t - 0.5) / 0.4
        else:
            factor = ratio
        return self.lr * factor


@dataclass(frozen=True)
class StepDecay:
    """α = α0 · γ^k, k the number of milestones (in epochs) already passed."""

    lr: float
    gamma: float
    milestones: tuple[int, ...]
    iters_per_epoch: int

    def __call__(self, step: int) -> float:
        epoch = step // self.iters_per_epoch
        return self.lr * self.gamma ** sum(epoch >= m for m in self.milestones)


@dataclass(frozen=True)
class Cosine:
    """α = α_min + (α0 − α_min)(1 + cos(π·step/total))/2, per iteration."""

    lr: float
    lr_min: float
    total_iters: int

    def __call__(self, step: int) -> float:
        frac = min(step / self.total_iters, 1.0)
        return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1.0 + math.cos(math.pi * frac))


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": lambda *, lr, **_: Constant(lr),
    "cyclic": lambda *, lr, lr_min, cycle, iters_per_epoch, **_: Cyclic(lr, lr_min, cycle * iters_per_epoch),
    "swa": lambda *, lr, swa_lr, horizon, iters_per_epoch, **_: SWAReference(lr, swa_lr, horizon, iters_per_epoch),
    "step": lambda *, lr, gamma, milestones, iters_per_epoch, **_: StepDecay(lr, gamma, tuple(milestones),
                                                                              iters_per_epoch),
    "cosine": lambda *, lr, lr_min, epochs, iters_per_epoch, **_: Cosine(lr, lr_min, epochs * iters_per_epoch),
}


def build_schedule(name: str, *, lr: float, lr_min: float, swa_lr: float, horizon: int, cycle: int,
                   gamma: float, milestones: Sequence[int], epochs: int, iters_per_epoch: int) -> Schedule:
    """Build the schedule ``name`` (one of :data:`SCHEDULES`) from the run's hyperparameters.

    Args:
        lr: initial (or maximal) rate α0 / α1.
        lr_min: lowest rate of ``cyclic`` (α2) and ``cosine``.
        swa_lr: the rate ``swa`` decays to.
        horizon: epochs over which ``swa`` decays (``swa_start``, or ``epochs`` for SGD).
        cycle: cycle length of ``cyclic`` in epochs.
        gamma, milestones: factor and epochs of ``step``.
        epochs, iters_per_epoch: length of the run.
    """
    if name not in SCHEDULES:
        raise ConfigError(f"unknown `lr_schedule={name!r}`; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](lr=lr, lr_min=lr_min, swa_lr=swa_lr, horizon=horizon, cycle=cycle, gamma=gamma,
                           milestones=milestones, epochs=epochs, iters_per_epoch=iters_per_epoch)
