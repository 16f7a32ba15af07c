"""Progress lines where a bar does not show, and the cost line before long work (issue 20)."""

from __future__ import annotations

import re

import pytest

import landscape
import landscape.engine.evaluator
import landscape.engine.progress
from landscape.engine.progress import ProgressLines, cost_line

from support import small_bn_problem

LINE = re.compile(r"^plane: (\d+)/(\d+) points \((\d+)%\), (\d+m\d\ds|\d+s) elapsed(, ETA (\d+m\d\ds|\d+s)|, done)$")


@pytest.fixture(scope="module")
def problem():
    """A small BN net, three states of it (with their own running statistics) and data."""
    return small_bn_problem()


def test_lines_every_tenth_or_every_30_seconds_with_eta():
    now = [0.0]
    lines: list[str] = []
    bar = ProgressLines("plane", 441, write=lines.append, clock=lambda: now[0])
    for _ in range(441):  # a point every 0.1 s: a tenth (45 points) takes 4.5 s, long before 30 s
        now[0] += 0.1
        bar.update(1)
    assert len(lines) == 10 and all(LINE.match(line) for line in lines), lines
    assert lines[0] == "plane: 45/441 points (10%), 4s elapsed, ETA 40s"
    assert lines[-1] == "plane: 441/441 points (100%), 44s elapsed, done"

    now[0], lines[:] = 0.0, []
    slow = ProgressLines("plane", 441, write=lines.append, clock=lambda: now[0])
    for _ in range(120):  # 10 s a point: 30 s pass before a tenth is done
        now[0] += 10.0
        slow.update(1)
    assert lines[0] == "plane: 3/441 points (0%), 30s elapsed, ETA 1h13m"
    assert len(lines) == 40  # every 30 s (3 points) or at a tenth (45, 89 points), not more often
    assert lines[-1] == "plane: 119/441 points (26%), 19m50s elapsed, ETA 53m40s"


def test_plane_prints_progress_lines_to_a_non_terminal_and_nothing_when_off(problem, capsys, monkeypatch):
    net, states, data = problem
    monkeypatch.setattr(landscape.engine.progress, "EVERY_FRACTION", 1 / 3)
    landscape.plane(net, states, data, grid=3,
                    settings=landscape.Settings(chunk=1, device="cpu", bn="fixed", self_check=False,
                                                log=lambda _: None))
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 3 and all(LINE.match(line) for line in lines), err
    assert [LINE.match(line).group(1) for line in lines] == ["3", "6", "9"]
    assert "ETA" in lines[0] and lines[-1].endswith(", done")

    landscape.plane(net, states, data, grid=3,
                    settings=landscape.Settings(chunk=1, device="cpu", bn="fixed", self_check=False, progress=False,
                                                log=print))
    assert capsys.readouterr() == ("", "")


def test_cost_line_arithmetic(problem, monkeypatch):
    net, states, data = problem
    # the probe: one pass over the 120 probe samples (all the train split) takes 0.12 s at batch size 64,
    # so 1 ms a sample and, with the BN pass, (120 + 120 + 60) ms = 0.3 s a point; 9 points: 2.7 s.
    monkeypatch.setattr(landscape.engine.evaluator, "probe_batch_size", lambda run, samples, device: (64, {64: 0.12, 32: 0.5}))
    said: list[str] = []
    landscape.plane(net, states, data, grid=3,
                    settings=landscape.Settings(device="cpu", progress=False, self_check=False, log=said.append))
    assert not any("points x" in s for s in said)  # 2.7 s: under the threshold, quiet

    monkeypatch.setattr(landscape.engine.progress, "COST_LINE_MIN_SECONDS", 2.0)
    said.clear()
    landscape.plane(net, states, data, grid=3,
                    settings=landscape.Settings(device="cpu", progress=False, self_check=False, log=said.append))
    assert ("plane: 9 points x (BN pass 120 + train 120 + test 60 samples) = 27 forward passes over 2,700 "
            "samples; about 3 s at 0.3 s a point (from the probe)") in said, said

    said.clear()  # no BN pass with bn="fixed": (120 + 60) ms a point, 9 points 1.62 s
    monkeypatch.setattr(landscape.engine.progress, "COST_LINE_MIN_SECONDS", 1.0)
    landscape.plane(net, states, data, grid=3,
                    settings=landscape.Settings(device="cpu", progress=False, self_check=False, bn="fixed",
                                                log=said.append))
    assert ("plane: 9 points x (train 120 + test 60 samples) = 18 forward passes over 1,620 samples; "
            "about 2 s at 0.18 s a point (from the probe)") in said, said


def test_cost_line_format():
    line = cost_line("plane", 441, bn_samples=1400, train=1400, test=397, seconds_per_point=0.7)
    assert line == ("plane: 441 points x (BN pass 1,400 + train 1,400 + test 397 samples) = 1,323 forward passes "
                    "over 1,409,877 samples; about 5 min at 0.7 s a point (from the probe)")
