"""Benchmark: wall time of `swa-landscape train --method swa` on digits, the cost of the BN-update modes, and
the per-epoch overhead of SWA against plain SGD.

SWA overhead: `train --method sgd` and `--method swa` on the same data, model (cnn_small, width 32), constant
rate and seed, run alternately twice each; the average is evaluated only after the last epoch
(`--eval-freq` past the end), so an SWA-phase epoch is plain SGD's epoch (which saves no trajectory)
plus collecting the point (saving it and `AveragedModel.update_parameters`). The overhead is the median epoch time of the SWA phase (averaging
epochs but the last) against the same epochs of the SGD run; the last epoch's extra time (the average's
BatchNorm update and evaluation) is reported apart.

Run:  .venv/bin/python scripts/bench_train.py
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import copy
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import cli  # noqa: E402


def main() -> None:
    from torch.optim.swa_utils import update_bn

    from swa.bn import update_bn_exact
    from swa.data import DataSpec, load_data
    from swa.models import ModelSpec, build_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t = cli("train", "--method", "swa", "--out", f"{tmp}/swa", "--quiet", "--device", "cpu")
        rows.append(("`train --method swa` on digits (20 epochs, defaults), whole process", f"{t:.1f} s"))
    data = load_data(DataSpec("digits"))
    model = build_model(ModelSpec("cnn_small"), num_outputs=10, input_shape=data.input_shape)
    loader = [data.x_train[i:i + 128] for i in range(0, len(data.x_train), 128)]
    timings = {}
    for name, fn in (("torch update_bn", lambda m: update_bn(loader, m)),
                     ("exact", lambda m: update_bn_exact(m, data.x_train, batch_size=128, mode="exact")),
                     ("single-pass", lambda m: update_bn_exact(m, data.x_train, batch_size=128, mode="single-pass"))):
        best = float("inf")
        for _ in range(5):
            m = copy.deepcopy(model)
            started = time.perf_counter()
            fn(m)
            best = min(best, time.perf_counter() - started)
        timings[name] = best
    for name in ("exact", "single-pass"):
        rows.append((f"BN update `{name}` / torch `update_bn` (cnn_small, 3 BN layers, digits, batch 128)",
                     f"{timings[name] / timings['torch update_bn']:.2f}×"))
    sgd_epoch, swa_epoch, final_extra = swa_overhead()
    rows.append(("SWA-phase epoch / SGD epoch (cnn_small width 32, digits, median of 2 alternating runs "
                 "each)", f"{swa_epoch / sgd_epoch:.3f}× ({swa_epoch * 1000:.0f} vs {sgd_epoch * 1000:.0f} ms)"))
    rows.append(("of which apart: the average's BN update and train+test evaluation (last epoch)",
                 f"{final_extra * 1000:.0f} ms once"))
    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print("| measurement | result |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


def swa_overhead(epochs: int = 16, swa_start: int = 4) -> tuple[float, float, float]:
    """(median SGD epoch, median SWA-phase epoch, SWA's last-epoch extra), in seconds (see the docstring)."""
    import json
    import statistics

    common = ["--model-kwargs", '{"width": 32}', "--epochs", str(epochs), "--lr-schedule", "constant",
              "--lr", "0.05", "--eval-freq", str(epochs + 1), "--quiet",
              "--device", "cpu"]
    seconds: dict[str, list[list[float]]] = {"sgd": [], "swa": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(2):
            for method in ("sgd", "swa"):
                out = f"{tmp}/{method}{repeat}"
                extra = ["--swa-start", str(swa_start)] if method == "swa" else []  # plain SGD saves no points
                cli("train", "--method", method, "--out", out, *common, *extra)
                assert (method == "swa") == Path(out, "checkpoints", "point_0001.pt").exists()
                lines = Path(out, "metrics.jsonl").read_text().splitlines()
                seconds[method].append([json.loads(line)["seconds"] for line in lines])
    phase = slice(swa_start + 1, epochs - 1)  # averaging epochs, the first (warm-up of the average) and last apart
    sgd = statistics.median(s for run in seconds["sgd"] for s in run[phase])
    swa = statistics.median(s for run in seconds["swa"] for s in run[phase])
    last = statistics.median(run[-1] for run in seconds["swa"]) - statistics.median(run[-1] for run in seconds["sgd"])
    return sgd, swa, last


if __name__ == "__main__":
    main()
