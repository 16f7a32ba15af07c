"""Progress where a bar does not show, and the cost line printed before long work.

A tqdm bar turns itself off when stderr is not a terminal (a script logging to a file),
so :class:`ProgressLines` writes one plain line whenever another ``EVERY_FRACTION`` of the
points is done or ``EVERY_SECONDS`` have passed since the last line, whichever comes first:
``plane: 120/441 points (27%), 1m10s elapsed, ETA 3m08s``.

:func:`cost_line` says beforehand what a computation costs (points, forward passes,
samples, and the time estimated from the batch-size probe); the driver prints it only
when the estimate exceeds ``COST_LINE_MIN_SECONDS``.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Callable, Optional, TextIO

__all__ = ["ProgressLines", "EVERY_FRACTION", "EVERY_SECONDS", "COST_LINE_MIN_SECONDS", "duration", "rough_duration",
           "cost_line", "use_bar"]

EVERY_FRACTION = 0.1  # a line each time another tenth of the points is done ...
EVERY_SECONDS = 30.0  # ... or this long after the last line, whichever comes first
COST_LINE_MIN_SECONDS = 10.0  # the cost line is printed only when the estimate exceeds this


def duration(seconds: float) -> str:
    """``45s``, ``1m10s``, ``2h03m``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def rough_duration(seconds: float) -> str:
    """``40 s``, ``5 min``, ``2.5 h``: an estimate, said as roughly as it is known."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def use_bar(stream: Optional[TextIO] = None) -> bool:
    """True where a tqdm bar shows: a terminal, or a notebook where ``tqdm.auto`` draws a widget."""
    import tqdm.autonotebook
    import tqdm.std
    if tqdm.autonotebook.tqdm is not tqdm.std.tqdm:  # notebook widget
        return True
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressLines:
    """Plain progress lines for ``total`` points, written by ``write`` (a line to stderr by default).

    Args:
        name: what is computed (``plane``), the lines' prefix.
        total: the number of points.
        every_fraction, every_seconds: the cadence (the module's constants by default).
        write: takes one line; stderr (flushed) by default.
        clock: seconds, monotonic (``time.perf_counter``).
    """

    def __init__(self, name: str, total: int, *, every_fraction: Optional[float] = None,
                 every_seconds: Optional[float] = None, write: Optional[Callable[[str], None]] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.name, self.total, self.done = name, int(total), 0
        self.every_fraction = EVERY_FRACTION if every_fraction is None else every_fraction
        self.every_seconds = EVERY_SECONDS if every_seconds is None else every_seconds
        self.write = write or _stderr_line
        self.clock = clock
        self.started = self.last_line = clock()
        self.tenths = 0  # lines due at ceil(total * k * every_fraction) points, k = 1, 2, ...
        self.next_done = self._due(1)

    def line(self) -> str:
        elapsed = self.clock() - self.started
        pct = 100 * self.done // self.total if self.total else 100
        text = f"{self.name}: {self.done:,}/{self.total:,} points ({pct}%), {duration(elapsed)} elapsed"
        if self.done >= self.total:
            return text + ", done"
        if self.done:
            text += f", ETA {duration(elapsed / self.done * (self.total - self.done))}"
        return text

    def update(self, n: int) -> None:
        """``n`` more points are done; writes a line when one is due."""
        self.done = min(self.total, self.done + int(n))
        now = self.clock()
        if self.done >= self.next_done or now - self.last_line >= self.every_seconds or self.done >= self.total:
            self.write(self.line())
            self.last_line = now
            while self.next_done <= self.done:
                self.tenths += 1
                self.next_done = self._due(self.tenths + 1)

    def _due(self, k: int) -> int:
        return max(k, math.ceil(self.total * k * self.every_fraction - 1e-9))

    def close(self) -> None:
        """Nothing to release (the same interface as a tqdm bar)."""


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cost_line(name: str, points: int, *, bn_samples: Optional[int], train: int, test: int,
              seconds_per_point: float, world: int = 1) -> str:
    """``plane: 441 points x (BN pass 1,400 + train 1,400 + test 397 samples) = 1,323 forward passes over
    1,410,777 samples; about 5 min at 0.7 s a point (from the probe)``. ``bn_samples`` None: no BN pass;
    ``world`` processes share the points."""
    parts = ([f"BN pass {bn_samples:,}"] if bn_samples is not None else []) + [f"train {train:,}"] \
        + ([f"test {test:,}"] if test else [])
    passes = points * len(parts)
    samples = points * ((bn_samples or 0) + train + test)
    total = points * seconds_per_point / max(1, world)
    over = f" over {world} processes" if world > 1 else ""
    return (f"{name}: {points:,} points x ({' + '.join(parts)} samples) = {passes:,} forward passes over "
            f"{samples:,} samples; about {rough_duration(total)}{over} at {seconds_per_point:.2g} s a point "
            "(from the probe)")
