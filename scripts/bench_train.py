"""Benchmark: wall time of `swa-landscape train --method swa` on digits, and the cost of the BN-update modes.

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
    print(f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}\n")
    print("| measurement | result |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
