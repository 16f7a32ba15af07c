"""The command line against the Python API on the same plane, and tensors against a DataLoader (issue 20).

Issue 20's user measured, on a 309k-parameter ResNet-style BatchNorm model and 3,000 + 1,000
CIFAR-shaped samples, an 11×11 plane: API 304 s, CLI 390 s (system time 3 min 49 s vs 1 min 21 s),
and the API with tensors slower than with a DataLoader (22.9 s vs 16.2 s for 6 points). This script
rebuilds that setting at a size that runs in a few minutes: it writes a model file (``resnet_bn``,
about 300k parameters), a CIFAR-shaped float32 ``.npz`` and three state dicts from a short training,
then evaluates the same plane (BN recomputed at every point, the default) in three ways, each in a
fresh process started the same way, rounds interleaved (ABC ABC ...):

* ``api-loader``: ``landscape.plane(model, states, {"train": DataLoader, "test": DataLoader})``
  (shuffled, batch 128, as the user's script);
* ``api-tensors``: the same with ``{"train": (x, y), "test": (x_test, y_test)}``;
* ``cli``: ``python -m landscape plane --model model.py:resnet_bn --data data.npz --points ... --no-plot``;
* with ``--without-fix``, also ``api-tensors-nofix`` and ``cli-nofix``: the same without
  :func:`landscape.engine.allocator.reuse_freed_memory` (patched out in the process), to measure what it removes.

For each: wall time of the process, its user and system CPU time (``getrusage(RUSAGE_CHILDREN)``),
points per second of the whole process and of the evaluation alone (the sidecar's ``compute_seconds``),
the batch sizes the engine used (from the sidecar) and the process's thread count. Prints the hardware
and a Markdown table to paste into BENCHMARKS.md.

Re-run: ``.venv/bin/python scripts/bench_api_cli.py`` (about 4–5 minutes on a quiet 2-core CPU;
``--train/--test/--grid/--rounds`` change the size).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import hardware  # noqa: E402

MODES = ("api-loader", "api-tensors", "cli")
# The same without landscape.engine.allocator.reuse_freed_memory (the fix of issue 20), to measure what it removes.
BASELINES = ("api-tensors-nofix", "cli-nofix")
NOFIX = ("import contextlib, landscape.engine.task as d; "
         "d.reuse_freed_memory = lambda device, _c=contextlib: _c.nullcontext(False)")

MODEL_FILE = '''"""A ResNet-style network with BatchNorm for 3x32x32 inputs (about 300k parameters)."""
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.short(x))


class ResNetBN(nn.Module):
    def __init__(self, num_classes=10, width=32):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layers = nn.Sequential(Block(width, width, 1), Block(width, 2 * width, 2), Block(2 * width, 4 * width, 2))
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def resnet_bn(num_outputs=10, input_shape=None, **kwargs):
    return ResNetBN(num_classes=num_outputs, **kwargs)
'''


def prepare(work: Path, n_train: int, n_test: int, seed: int = 0) -> dict:
    """Write model.py, data.npz (float32, N×3×32×32, 10 classes) and three state dicts s0..s2 of a short
    training (a few SGD steps between them, BatchNorm statistics of train mode)."""
    import numpy as np
    import torch

    (work / "model.py").write_text(MODEL_FILE)
    g = np.random.default_rng(seed)
    # Class-dependent means so that the training does something; CIFAR shape and dtype.
    centers = g.normal(0, 0.5, size=(10, 3, 1, 1)).astype(np.float32)

    def make(n):
        y = g.integers(0, 10, size=n)
        x = (g.normal(0, 1, size=(n, 3, 32, 32)).astype(np.float32) + centers[y]).astype(np.float32)
        return x, y.astype(np.int64)

    x, y = make(n_train)
    x_test, y_test = make(n_test)
    np.savez(work / "data.npz", x=x, y=y, x_test=x_test, y_test=y_test)
    sys.path.insert(0, str(work))
    from model import resnet_bn  # noqa: E402 (written just above)

    torch.manual_seed(seed)
    net = resnet_bn()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    paths = []
    for i in range(3):
        for _ in range(4):
            idx = torch.randint(0, n_train, (64,))
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        path = work / f"s{i}.pt"
        torch.save(net.state_dict(), path)
        paths.append(str(path))
    return {"params": sum(p.numel() for p in net.parameters()), "states": paths}


def worker(mode: str, work: Path, grid: int, out: Path) -> None:
    """One API evaluation in this process (``api-loader``, ``api-tensors``, ``api-tensors-nofix``)."""
    if mode.endswith("-nofix"):
        exec(NOFIX, {})
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    import landscape

    sys.path.insert(0, str(work))
    from model import resnet_bn  # noqa: E402

    with np.load(work / "data.npz") as f:
        x, y, x_test, y_test = (torch.from_numpy(f[k]) for k in ("x", "y", "x_test", "y_test"))
    states = [torch.load(work / f"s{i}.pt", weights_only=True) for i in range(3)]
    if mode == "api-loader":
        data = {"train": DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True),
                "test": DataLoader(TensorDataset(x_test, y_test), batch_size=128)}
    else:
        data = {"train": (x, y), "test": (x_test, y_test)}
    landscape.plane(resnet_bn(), states, data, grid=grid, out=out,
                    settings=landscape.Settings(progress=False, overwrite=True))


def run_one(mode: str, work: Path, grid: int, info: dict) -> dict:
    """Run ``mode`` in a fresh process; its wall, user and system time, and what the sidecar recorded."""
    out = work / f"out-{mode}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if mode.startswith("cli"):
        start = NOFIX + "; " if mode.endswith("-nofix") else ""
        # python -c "...main()" plane ... is python -m landscape plane ... (landscape/__main__.py), with room
        # for the -nofix patch before it
        cmd = [sys.executable, "-c", start + "import sys; from landscape.cli import main; sys.exit(main())",
               "plane", "--model", f"{work / 'model.py'}:resnet_bn",
               "--data", str(work / "data.npz"), "--points", *info["states"], "--grid", str(grid),
               "--out", str(out), "--no-plot", "--quiet", "--overwrite"]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--work", str(work),
               "--grid", str(grid), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    side = json.loads((out / "plane.json").read_text())
    ev = side.get("evaluation", {})
    return {"wall": wall, "user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
            "majflt": after.ru_majflt - before.ru_majflt, "minflt": after.ru_minflt - before.ru_minflt,
            "compute": side.get("timings", {}).get("compute_seconds"), "batch_size": ev.get("batch_size"),
            "bn_batch_size": ev.get("bn_batch_size"), "vmap": ev.get("vmap"),
            "train_loss": float(__import__("numpy").load(out / "plane.npz")["train_loss"].min()),
            "log": proc.stdout}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=600, help="training samples (default 600)")
    ap.add_argument("--test", type=int, default=200, help="test samples (default 200)")
    ap.add_argument("--grid", type=int, default=2, help="grid points per axis (default 2)")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the three modes (default 2)")
    ap.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    ap.add_argument("--work", default=None, help="working directory (default: a temporary one)")
    ap.add_argument("--without-fix", action="store_true",
                    help="also run api-tensors and cli without the allocator fix (landscape.engine.allocator)")
    ap.add_argument("--worker", choices=MODES[:2] + BASELINES[:1], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, Path(args.work), args.grid, Path(args.out))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    if unknown := set(modes) - set(MODES):
        ap.error(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    if args.without_fix:
        modes += [b for b in BASELINES if b.removesuffix("-nofix") in modes]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        info = prepare(work, args.train, args.test)
        print(f"hardware: {hardware()}", flush=True)
        print(f"model: resnet_bn, {info['params']:,} parameters; data {args.train} + {args.test} samples "
              f"(3x32x32 float32); plane {args.grid}x{args.grid}, BN recomputed", flush=True)
        runs: dict[str, list[dict]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode in modes:
                res = run_one(mode, work, args.grid, info)
                runs[mode].append(res)
                print(f"round {r + 1} {mode:12s} wall {res['wall']:6.1f} s  user {res['user']:6.1f} s  sys "
                      f"{res['sys']:5.1f} s  eval {res['compute'] or float('nan'):6.1f} s  batch {res['batch_size']} "
                      f"bn batch {res['bn_batch_size']}  minflt {res['minflt']}  min train loss "
                      f"{res['train_loss']:.4f}", flush=True)
        points = args.grid ** 2
        med = {m: {k: statistics.median(r[k] for r in rs) for k in ("wall", "user", "sys", "compute")}
               for m, rs in runs.items()}
        base = med.get("api-loader")
        print(f"\n{date_line()}; {hardware()}\n")
        print(f"`{args.grid}x{args.grid}` plane ({points} points), resnet_bn {info['params']:,} parameters, "
              f"{args.train} + {args.test} samples, BN recomputed; medians of {args.rounds} interleaved rounds, "
              "each in a fresh process:\n")
        print("| path | wall | user CPU | system CPU | user + system | minor faults | evaluation | points/s "
              "(evaluation) | evaluation / api-loader | outside the evaluation | batch (evaluation, BN) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for m in modes:
            d, last = med[m], runs[m][-1]
            ratio = f"{d['compute'] / base['compute']:.2f}x" if base else "-"
            faults = statistics.median(r["minflt"] for r in runs[m])
            batches = "the loader's (128)" if last["batch_size"] is None else \
                f"{last['batch_size']}, {last['bn_batch_size']}"
            print(f"| {m} | {d['wall']:.1f} s | {d['user']:.1f} s | {d['sys']:.1f} s | {d['user'] + d['sys']:.1f} s | "
                  f"{faults / 1e6:.2f} M | "
                  f"{d['compute']:.1f} s | {points / d['compute']:.3f} | {ratio} | {d['wall'] - d['compute']:.1f} s | "
                  f"{batches} |")
    return 0


def date_line() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


if __name__ == "__main__":
    raise SystemExit(main())
