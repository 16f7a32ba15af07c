"""Memory of a plane is bounded by the chunk, not the grid (issue 10, item 3).

Runs ``swa-landscape plane`` as separate processes on one MLP with about 1.1 M parameters
(weights of one point: 4.4 MB) on digits, for two grid sizes and two chunk sizes, BN fixed,
and reports each process's peak resident memory (``ru_maxrss``; on CUDA also
``torch.cuda.max_memory_allocated``). The grid's own arrays (four float64 metrics and a done
flag per point, plus coordinates) are the only part that grows with the grid.

Re-run: ``.venv/bin/python scripts/bench_memory.py [--device cpu|cuda]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, torch
from landscape.cli import main
code = main(sys.argv[1:])
peak_gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
print(json.dumps({"code": code, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "gpu_mb": None if peak_gpu is None else peak_gpu / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from swa.data import DataSpec, load_data
    from swa.models import ModelSpec, build_model

    spec = ModelSpec("mlp", {"hidden": [1024, 1024]})
    data = load_data(DataSpec("digits"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for seed in range(3):
            torch.manual_seed(seed)
            model = build_model(spec, num_outputs=10, input_shape=data.input_shape)
            paths.append(f"{tmp}/p{seed}.pt")
            torch.save(model.state_dict(), paths[-1])
        n_params = sum(p.numel() for p in model.parameters())
        for grid in (11, 31):
            for chunk in (4, 64):
                out = f"{tmp}/g{grid}c{chunk}"
                cmd = [sys.executable, "-c", CHILD, "plane", "--model", "mlp", "--model-kwargs",
                       json.dumps(spec.kwargs), "--data", "digits", "--points", *paths, "--grid", str(grid),
                       "--chunk", str(chunk), "--bn", "fixed", "--out", out, "--quiet", "--no-plot",
                       "--device", args.device]
                res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
                info = json.loads(res.stdout.strip().splitlines()[-1])
                rows.append((grid * grid, chunk, info))
    print(f"MLP 64-1024-1024-10 ({n_params:,} parameters, {4 * n_params / 1e6:.1f} MB per point), digits, "
          f"device {args.device}\n")
    print("| points | chunk | peak RSS (MB) | peak GPU allocated (MB) |\n|---|---|---|---|")
    for points, chunk, info in rows:
        gpu = "–" if info["gpu_mb"] is None else f"{info['gpu_mb']:.0f}"
        print(f"| {points} | {chunk} | {info['rss_mb']:.0f} | {gpu} |")


if __name__ == "__main__":
    main()
