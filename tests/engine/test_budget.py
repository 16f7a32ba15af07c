"""Size guard (landscape.engine.budget) and the time-bounded save rate (landscape.engine.loop), issue 8.4."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from landscape.engine.budget import check_budget
from landscape.engine.evaluator import AffineFamily
from landscape.engine import loop
from landscape.engine.loop import SAVE_RATIO, run_points
from swa.errors import UserError

from support import cli


def _run_args(tiny_run, out, command, *extra):
    return [command, "--run", str(tiny_run.out), "--out", str(out), "--device", "cpu", "--quiet", "--no-plot", *extra]


@pytest.mark.parametrize("command,extra,pattern", [
    ("plane", ["--grid", "5000"], r"plane: 25,000,000 points \(825 MB of results, about 25,000,000 forward passes "
                                  r"of up to 2048 samples\) exceed --max-points 1,000,000; pass --max-points 25000000"),
    ("rays", ["--directions", "100000", "--steps", "100000"], r"rays: 20,000,000,000 points .* exceed --max-points"),
    ("interp", ["--t", "0:1:2000000"], r"interp: 2,000,000 points"),
    ("plane", ["--grid", "100000", "--max-points", "100000000000"], r"need about .* of memory; this machine has"),
    ("plane", ["--grid", "30", "--max-points", "800"], r"900 points .* exceed --max-points 800"),
])
def test_too_large_is_refused_before_any_work(tiny_run, tmp_path, capsys, command, extra, pattern):
    import re

    started = time.perf_counter()
    code, _, err = cli(capsys, *_run_args(tiny_run, tmp_path / "o", command, *extra))
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(pattern, err), err
    assert time.perf_counter() - started < 20
    assert not (tmp_path / "o").exists()


def test_max_points_lets_a_large_run_through(tiny_run, tmp_path, capsys):
    code, out, err = cli(capsys, *_run_args(tiny_run, tmp_path, "plane", "--grid", "3", "--max-points", "9"))
    assert code == 0 and "plane: 9 points (9 computed" in out, err


def test_check_budget_counts():
    check_budget("plane", 100, directions=2, parameters=10, samples=500, batch_size=128, max_points=100)
    with pytest.raises(UserError, match=r"101 points \(3.33 kB of results, about 404 forward passes"):
        check_budget("plane", 101, directions=2, parameters=10, samples=500, batch_size=128, max_points=100)


def test_memory_bound_is_the_named_fraction_of_physical_memory(monkeypatch):
    """Results (33 bytes a point), coordinates (8 a point and direction), directions (4 a parameter and direction)
    may take RESULT_MEMORY_FRACTION (a half) of the machine: 100 kB here, so 50,000 bytes pass and 50,008 do not."""
    import landscape.engine.budget as budget

    assert budget.RESULT_MEMORY_FRACTION == 0.5
    monkeypatch.setattr(budget, "_physical_memory", lambda: 100_000)
    sizes = dict(directions=2, samples=10, batch_size=10)
    check_budget("plane", 1000, parameters=125, **sizes)  # 33,000 + 16,000 + 1,000 bytes
    with pytest.raises(UserError, match=r"need about 50 kB of memory; this machine has 100 kB"):
        check_budget("plane", 1000, parameters=126, **sizes)


class _Clock:
    """The time ``run_points`` reads (``time.perf_counter``), advanced only by the fakes below: the test measures
    the save rule, not this machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


CLOCK = _Clock()


class _SlowStore:
    """A store whose save takes ``cost`` seconds (of :data:`CLOCK`) and counts its calls."""

    def __init__(self, n: int, cost: float) -> None:
        self.name, self.npz, self.metrics = "slow", "slow.npz", ("a", "b", "c", "d")
        self.done = np.zeros(n, dtype=bool)
        self.cost, self.saves, self.saved_done = cost, 0, []

    @property
    def pending(self):
        return np.flatnonzero(~self.done)

    def update(self, idx, values):
        self.done[idx] = True

    def save(self):
        CLOCK.sleep(self.cost)
        self.saves += 1
        self.saved_done.append(int(self.done.sum()))


class _FastEvaluator:
    device = torch.device("cpu")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def evaluate_rows(self, family, rows):
        CLOCK.sleep(self.seconds)
        return np.zeros((len(rows), 4))


def _family(n):
    return AffineFamily(torch.zeros(3), torch.ones(1, 3), np.zeros((n, 1)), torch.zeros(0))


def test_saving_takes_a_bounded_share_of_the_time(monkeypatch):
    """Saves cost 20 ms, chunks 2 ms: saving every chunk would take 10x the computing; it takes ~1/SAVE_RATIO."""
    monkeypatch.setattr(loop, "time", CLOCK)
    store = _SlowStore(200, cost=0.02)
    run_points(_FastEvaluator(0.002), [_family(200)], store, chunk=2, progress=False)
    rounds = 100
    assert store.saves < rounds / 4
    assert store.saved_done[-1] == 200  # the last chunk is always saved
    # Cheap saves (relative to a chunk) happen after every chunk.
    quick = _SlowStore(20, cost=0.0)
    run_points(_FastEvaluator(0.05), [_family(20)], quick, chunk=2, progress=False)
    assert quick.saves == 10 and quick.saved_done == list(range(2, 21, 2))
    assert SAVE_RATIO >= 5
