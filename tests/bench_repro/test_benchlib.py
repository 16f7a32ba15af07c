"""The benchmarks' shared clock and arithmetic (scripts/benchlib.py; issue 21, items 3 and 4)."""

from __future__ import annotations

import ast
import contextlib

import torch

from support import ROOT
from scripts import benchlib


def test_clock_waits_for_the_gpu_only_on_cuda(monkeypatch):
    synced = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: synced.append(str(device)))
    benchlib.clock("cpu")
    assert synced == []
    benchlib.clock("cuda:0")
    assert synced == ["cuda:0"]


def test_baselines_run_in_the_toolkits_fp32_scope(monkeypatch):
    import landscape.engine.precision

    entered = []

    @contextlib.contextmanager
    def spy(device, precision):
        entered.append((str(device), precision))
        yield

    monkeypatch.setattr(landscape.engine.precision, "precision_scope", spy)
    with benchlib.toolkit_arithmetic("cuda"):
        pass
    assert entered == [("cuda", "fp32")]


def test_benchmarks_time_device_work_on_the_synchronized_clock():
    """No bench that takes --device reads time.perf_counter itself, except around CPU-only work (loss_landscapes)."""
    for name, allowed in (("bench_sharpness.py", 0), ("bench_plane.py", 0), ("bench_landscape.py", 2)):
        tree = ast.parse((ROOT / "scripts" / name).read_text())
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "perf_counter"]
        assert len(calls) == allowed, name
