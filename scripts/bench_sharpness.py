"""Benchmark: `sharpness --run` on digits with the default metrics (issue 4's target) and HVP variants.

Run:  .venv/bin/python scripts/bench_sharpness.py [--device cpu|cuda]
Trains a digits SWA run (defaults), times `swa-landscape sharpness --run RUN` (SGD final vs SWA, default
metrics, whole process) and times Hessian-vector products plain (jvp of grad per call) and linearized
(torch.func.linearize once) side by side, on a clock that waits for the GPU (``benchlib.clock``).
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import cli, clock, digits_swa_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from landscape.curvature.objective import ModelObjective
    from swa.rundir import open_run

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = digits_swa_run(Path(tmp) / "swa", args.device)
        total = cli("sharpness", "--run", str(run_dir), "--out", f"{tmp}/sharp", "--quiet", "--device", args.device)
        doc = json.loads(Path(f"{tmp}/sharp/sharpness.json").read_text())
        per_metric = {}
        for res in doc["results"].values():
            for name, sec in res["seconds"].items():
                per_metric[name] = per_metric.get(name, 0.0) + sec

        run = open_run(run_dir)
        data = run.load_data()
        state = torch.load(run.checkpoint("swa"), map_location="cpu", weights_only=True)
        obj = ModelObjective(run.build_model(), data, state, device=args.device)
        v = torch.randn(obj.num_params, device=obj.device)
        obj.hvp(v)  # linearize once
        started = clock(obj.device)
        for _ in range(10):
            obj.hvp(v)
        fast = (clock(obj.device) - started) / 10
        started = clock(obj.device)
        for _ in range(10):
            obj.hvp(v, w=obj.point)  # an explicit w takes the plain jvp-of-grad path
        plain = (clock(obj.device) - started) / 10
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {args.device}\n")
    print("| measurement | result |\n|---|---|")
    print(f"| `sharpness --run` SGD final vs SWA, default metrics, digits, whole process | {total:.1f} s |")
    print("| of which, per metric (both checkpoints) | " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                                                  per_metric.items()) + " |")
    print(f"| Hessian-vector product plain / linearized (cnn_small, 1,347 samples) | {plain / fast:.2f}× "
          f"({plain * 1000:.0f} vs {fast * 1000:.0f} ms) |")


if __name__ == "__main__":
    main()
