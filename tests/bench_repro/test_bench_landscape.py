"""``scripts/bench_landscape.py --quick``: every implementation computes the same values (issue 10, acceptance 1).

Speed is reported, never asserted (BENCHMARKS.md holds the numbers)."""

from __future__ import annotations

import importlib.util

import pytest

from support import ROOT

pytest.importorskip("loss_landscapes")
pytest.importorskip("torchvision")


@pytest.mark.slow
def test_quick_benchmark_implementations_agree(capsys):
    spec = importlib.util.spec_from_file_location("bench_landscape", ROOT / "scripts" / "bench_landscape.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = bench.main(["--quick"])
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("{")  # the last line is the JSON summary
    cases = {c["case"]: c for c in summary["cases"]}
    assert set(cases) == {f"{m}/{bn}" for m in ("mlp", "cnn_small", "preresnet20") for bn in ("fixed", "recompute")}
    for name, case in cases.items():
        expected = ({"toolkit", "reference", "naive", "api"} | ({"loss_landscapes"} if "fixed" in name else set())
                    | ({"cli"} if name == "mlp/fixed" else set()))  # --quick: one whole-process run
        assert set(case["points_per_s"]) == expected and all(v > 0 for v in case["points_per_s"].values())
        # toolkit, naive loop and loss_landscapes (and the reference loop with BN fixed): the same values
        assert case["max_rel_diff"] <= 1e-4, (name, case["rel_diff"])
        # the reference's update_bn averages per-batch statistics: close to the exact ones, not equal
        assert case["rel_diff"]["reference"] <= 1e-2, (name, case["rel_diff"])
        assert 0 < case["fraction_of_peak"] and case["achieved_flops"] > 0
