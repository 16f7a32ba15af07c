"""Landscape evaluation side by side: this toolkit, the reference loops and loss_landscapes (issue 10).

Every implementation evaluates the same points p0 + α(p1 − p0) + β(p2 − p0) of the same model
on the same data, one after another in one process:

* ``toolkit``: landscape's evaluator (the engine under ``landscape.plane`` and the CLI) on those
  points; ``api`` (``landscape.plane``) and ``cli`` (``swa-landscape plane`` as a whole process,
  start-up and data loading included) on a grid of as many points, timed only;
* ``reference``: the loop as Li et al.'s scripts run it: per point the state is built on the CPU
  and loaded into the model, then a ``DataLoader`` over uint8 images with ``ToTensor`` +
  ``Normalize`` per sample at batch 128; for ``--bn recompute``, ``torch.optim.swa_utils.update_bn``
  at batch 128 per point (as the SWA reference code does: a running average of per-batch
  statistics, so its values differ slightly from the exact statistics);
* ``naive``: a strong plain loop: ready tensors on the device, channels_last, inference mode, the
  better of batch 128 and 1024 (chosen on the first point); recompute: ``update_bn`` over all
  training inputs as one batch (exact);
* ``loss_landscapes``: ``loss_landscapes.planar_interpolation`` (BN fixed only, train loss only),
  whose grid — including its alternating off-by-one in β — the points reproduce exactly.

Cases: an MLP and the small CNN on ``digits``; PreResNet-20 on random 32×32 CIFAR-shaped data
(5,000 samples: 4,000 train + 1,000 test); each with ``--bn fixed`` and ``--bn recompute``.

Same arithmetic: the baselines run inside the toolkit's ``fp32`` precision scope (TF32 off for
matmuls and cuDNN convolutions on CUDA, ``benchlib.toolkit_arithmetic``), and every timing of
device work reads a clock that waits for the GPU first (``benchlib.clock``).

FLOPs: useful forward FLOPs per point = forward FLOPs per sample (``torch.utils.flop_counter``)
× (train + test samples), plus one forward over the training samples for ``recompute``;
achieved = that × points per second; peak = a large fp32 matmul measured in the same run.

Prints a Markdown table, then one JSON object as the last line. ``--quick``: small data (256 + 128
digits, 64 + 32 CIFAR-shaped images) and grids, and the whole-process command for the first case only (the test suite runs it and checks
that every implementation computed the same values).

Re-run: ``.venv/bin/python scripts/bench_landscape.py [--quick] [--device cpu|cuda]``
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import cli, clock, toolkit_arithmetic  # noqa: E402

MEAN, STD = 0.45, 0.25  # Normalize's constants (one per channel, the same for all)
MODEL_KWARGS = {"mlp": {"hidden": [64, 64]}, "cnn_small": {"width": 16}, "preresnet20": {}}


# ---------------------------------------------------------------------------- data and points
def make_case(name: str, quick: bool, seed: int = 0):
    """(model, uint8 images (N, H, W, C), labels, n_train) of a case."""
    from swa.models import ModelSpec, build_model

    rng = np.random.default_rng(seed)
    if name in ("mlp", "cnn_small"):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = (digits.images * 15).astype(np.uint8)[..., None]  # (1797, 8, 8, 1), values 0..240
        labels = digits.target.astype(np.int64)
        n_train = 1347
        if quick:  # CI-sized: 256 + 128 of them
            images, labels, n_train = images[:384], labels[:384], 256
        model = build_model(ModelSpec(name, MODEL_KWARGS[name]), num_outputs=10, input_shape=(1, 8, 8))
    else:
        n_train, n_test = (64, 32) if quick else (4000, 1000)
        images = rng.integers(0, 256, size=(n_train + n_test, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_train + n_test).astype(np.int64)
        model = build_model(ModelSpec(name, MODEL_KWARGS[name]), num_outputs=10, input_shape=(3, 32, 32))
    return model, images, labels, n_train


def to_float(images: np.ndarray) -> torch.Tensor:
    """ToTensor + Normalize on the whole array at once (bitwise what the per-sample pipeline gives)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float().div(255)
    return (x - MEAN) / STD


def anchor_states(model: nn.Module, seed: int = 0) -> list[dict]:
    """Three points: the initial weights and two perturbations of them (BN buffers perturbed too)."""
    gen = torch.Generator().manual_seed(seed)
    base = {k: v.clone() for k, v in model.state_dict().items()}
    states = [base]
    for _ in range(2):
        s = {}
        for k, v in base.items():
            if v.is_floating_point():
                noise = 0.2 * v.abs().mean().clamp_min(1e-3) * torch.randn(v.shape, generator=gen)
                s[k] = (v + noise).abs() if k.endswith("running_var") else v + noise
            else:
                s[k] = v.clone()
        states.append(s)
    return states


def ll_grid(steps: int) -> np.ndarray:
    """(α, β) of loss_landscapes.planar_interpolation's grid, [i, j] order, as it walks it."""
    coords = np.zeros((steps, steps, 2))
    for i in range(steps):
        for j in range(steps):
            coords[i, j] = (i / steps, (j + 1) / steps if i % 2 == 0 else j / steps)
    return coords


# ---------------------------------------------------------------------------- implementations
def state_at(model, states, alpha, beta):
    """The state at (α, β): parameters interpolated, buffers p0's (as loss_landscapes moves them)."""
    params = {n for n, _ in model.named_parameters()}
    s0, s1, s2 = states
    return {k: (s0[k] + alpha * (s1[k] - s0[k]) + beta * (s2[k] - s0[k])) if k in params else s0[k] for k in s0}


def run_toolkit(model, states, x, y, n_train, coords, bn, device):
    from landscape.engine.data import as_eval_data
    from landscape.engine.evaluator import AffineFamily, Evaluator
    from landscape.engine.forward import Forward
    from landscape.engine.weights import ParamSpace

    space = ParamSpace.of(model)
    p = [space.params_of(s) for s in states]
    data = as_eval_data({"train": (x[:n_train], y[:n_train]), "test": (x[n_train:], y[n_train:])})
    ev = Evaluator(model, data, Forward(task="classification"), space, device=device, bn=bn, batch_size=None)
    fam = AffineFamily(p[0], torch.stack([p[1] - p[0], p[2] - p[0]]), coords.reshape(-1, 2),
                       space.buffers_of(states[0])).to(ev.device)
    choice = ev.tune(fam)  # batch sizes and vmap, as the driver chooses them (not timed here)
    ev.evaluate_rows(fam, np.array([0]))  # warm-up
    t0 = clock(device)
    out = ev.evaluate_rows(fam, np.arange(len(fam)))
    return clock(device) - t0, out[:, [0, 2]], {k: v for k, v in choice.items() if k != "probe_seconds"}


class _Images(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        import torchvision.transforms as T

        self.images, self.labels = images, labels
        self.transform = T.Compose([T.ToTensor(), T.Normalize([MEAN] * images.shape[-1], [STD] * images.shape[-1])])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def run_reference(model, states, images, labels, n_train, coords, bn, device):
    from torch.optim.swa_utils import update_bn

    train = torch.utils.data.DataLoader(_Images(images[:n_train], labels[:n_train]), batch_size=128)
    test = torch.utils.data.DataLoader(_Images(images[n_train:], labels[n_train:]), batch_size=128)
    net = copy.deepcopy(model).to(device)

    def point(alpha, beta):
        net.load_state_dict(state_at(model, states, alpha, beta))
        if bn == "recompute":
            update_bn(((xb, yb) for xb, yb in train), net, device=device)
        net.eval()
        row = []
        with torch.no_grad():
            for loader in (train, test):
                total, n = 0.0, 0
                for xb, yb in loader:
                    xb, yb = xb.to(device), yb.to(device)
                    total += F.cross_entropy(net(xb), yb, reduction="sum").item()
                    n += len(yb)
                row.append(total / n)
        return row

    point(*coords.reshape(-1, 2)[0])
    t0 = clock(device)
    out = [point(a, b) for a, b in coords.reshape(-1, 2)]
    return clock(device) - t0, np.array(out)


def run_naive(model, states, x, y, n_train, coords, bn, device):
    from torch.optim.swa_utils import update_bn

    fmt = torch.channels_last if x.dim() == 4 else torch.contiguous_format
    net = copy.deepcopy(model).to(device, memory_format=fmt)
    xs = x.to(device).contiguous(memory_format=fmt)
    ys = y.to(device)
    splits = [(xs[:n_train], ys[:n_train]), (xs[n_train:], ys[n_train:])]

    def point(alpha, beta, batch):
        net.load_state_dict(state_at(model, states, alpha, beta))
        if bn == "recompute":  # exact: all training inputs as one batch, cumulative average (momentum None)
            update_bn([splits[0][0]], net)
        net.eval()
        row = []
        with torch.inference_mode():
            for xx, yy in splits:
                total = sum(F.cross_entropy(net(xx[i:i + batch]), yy[i:i + batch], reduction="sum").item()
                            for i in range(0, len(xx), batch))
                row.append(total / len(xx))
        return row

    first = coords.reshape(-1, 2)[0]
    best, best_t = 128, float("inf")
    for batch in (128, 1024):
        point(*first, batch)
        t0 = clock(device)
        point(*first, batch)
        seconds = clock(device) - t0
        if seconds < best_t:
            best, best_t = batch, seconds
    t0 = clock(device)
    out = [point(a, b, best) for a, b in coords.reshape(-1, 2)]
    return clock(device) - t0, np.array(out), best


def run_loss_landscapes(model, states, x, y, n_train, steps):
    import loss_landscapes
    from loss_landscapes.metrics import Loss

    nets = []
    for s in states:
        net = copy.deepcopy(model)
        net.load_state_dict(s)
        nets.append(net.eval())
    metric = Loss(nn.CrossEntropyLoss(), x[:n_train], y[:n_train])
    with torch.no_grad():
        t0 = time.perf_counter()
        values = loss_landscapes.planar_interpolation(nets[0], nets[1], nets[2], metric, steps=steps,
                                                      deepcopy_model=True)
    return time.perf_counter() - t0, np.asarray(values, dtype=np.float64)


def run_api_and_cli(model, model_name, states, x, y, n_train, steps, bn, device, tmp: Path, with_cli: bool = True):
    """Seconds of ``landscape.plane`` in this process and of ``swa-landscape plane`` as a whole process (``None``
    without ``with_cli``)."""
    import landscape

    data = {"train": (x[:n_train], y[:n_train]), "test": (x[n_train:], y[n_train:])}
    t0 = clock(device)
    # The self-check's two evaluations per anchor are left out: the other implementations do no such check.
    landscape.plane(model, states, data, grid=steps,
                    settings=landscape.Settings(bn=bn, device=device, progress=False, self_check=False,
                                                log=lambda _: None))
    api = clock(device) - t0
    if not with_cli:
        return api, None
    paths = []
    for i, s in enumerate(states):
        paths.append(str(tmp / f"p{i}.pt"))
        torch.save(s, paths[-1])
    torch.save({"x": x[:n_train], "y": y[:n_train], "x_test": x[n_train:], "y_test": y[n_train:]}, tmp / "data.pt")
    return api, cli("plane", "--model", model_name, "--model-kwargs", json.dumps(MODEL_KWARGS[model_name]),
                    "--data", str(tmp / "data.pt"), "--points", *paths, "--grid", str(steps), "--bn", bn,
                    "--out", str(tmp / f"plane-{bn}"), "--quiet", "--no-plot", "--device", device, "--overwrite",
                    "--no-self-check")


# ---------------------------------------------------------------------------- measures
def forward_flops_per_sample(model, x) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    net = copy.deepcopy(model).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x[:2])
    return counter.get_total_flops() / 2


def peak_flops(device: torch.device, quick: bool) -> float:
    n = 1024 if quick else 2048
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    reps = 5 if quick else 10
    t0 = clock(device)
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (clock(device) - t0)


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data and grids (CI-sized)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cases", nargs="+", default=["mlp", "cnn_small", "preresnet20"])
    parser.add_argument("--bn", nargs="+", default=["fixed", "recompute"], choices=["fixed", "recompute"])
    parser.add_argument("--no-cli", action="store_true", help="skip the whole-process plane command")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    peak = peak_flops(device, args.quick)
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in args.cases:
            model, images, labels, n_train = make_case(name, args.quick)
            states = anchor_states(model)
            x, y = to_float(images), torch.from_numpy(labels)
            steps = 2 if args.quick else (3 if name == "preresnet20" else 6)
            coords = ll_grid(steps)
            fwd = forward_flops_per_sample(model, x)
            for bn in args.bn:
                times, values = {}, {}
                times["toolkit"], values["toolkit"], choice = run_toolkit(model, states, x, y, n_train, coords, bn,
                                                                          device)
                with toolkit_arithmetic(device):  # the baselines at the toolkit's fp32 (TF32 off on CUDA)
                    times["reference"], values["reference"] = run_reference(model, states, images, labels, n_train,
                                                                            coords, bn, device)
                    times["naive"], values["naive"], naive_batch = run_naive(model, states, x, y, n_train, coords,
                                                                             bn, device)
                    if bn == "fixed":
                        times["loss_landscapes"], ll = run_loss_landscapes(model, states, x, y, n_train, steps)
                        values["loss_landscapes"] = ll.reshape(-1, 1)  # train loss only
                if not args.no_cli:
                    # --quick: one whole-process run (the path is exercised; a CI-sized timing says little, and
                    # each process start costs seconds)
                    times["api"], cli_seconds = run_api_and_cli(model, name, states, x, y, n_train, steps, bn,
                                                                args.device, Path(tmpdir),
                                                                with_cli=not args.quick or not results)
                    if cli_seconds is not None:
                        times["cli"] = cli_seconds
                points = steps * steps
                pps = {k: points / t for k, t in times.items()}
                diffs = {k: rel_diff(v, values["toolkit"][:, :v.shape[1]]) for k, v in values.items() if k != "toolkit"}
                exact = {k: v for k, v in diffs.items() if not (k == "reference" and bn == "recompute")}
                useful = fwd * (len(x) + (n_train if bn == "recompute" else 0))
                achieved = useful * pps["toolkit"]
                entry = {"case": f"{name}/{bn}", "points": points, "train": n_train, "test": len(x) - n_train,
                         "points_per_s": pps, "speedup_vs_reference": pps["toolkit"] / pps["reference"],
                         "speedup_vs_naive": pps["toolkit"] / pps["naive"], "naive_batch": naive_batch,
                         "achieved_flops": achieved, "peak_flops": peak, "fraction_of_peak": achieved / peak,
                         "max_rel_diff": max(exact.values()), "rel_diff": diffs,
                         "toolkit_choice": choice}
                results.append(entry)
                print(f"{entry['case']}: toolkit {pps['toolkit']:.2f} pt/s, reference {pps['reference']:.2f}, "
                      f"naive {pps['naive']:.2f}; max rel diff {entry['max_rel_diff']:.1e}", file=sys.stderr)
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"device {device}; peak fp32 matmul {peak / 1e9:.1f} GFLOP/s\n")
    print("| case | points | toolkit pt/s (batch, vmap) | vs reference | vs naive (batch) | loss_landscapes pt/s | "
          "api pt/s | cli pt/s | GFLOP/s (of peak) | max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for e in results:
        p = e["points_per_s"]
        fmt = lambda k: f"{p[k]:.2f}" if k in p else "–"  # noqa: E731
        choice = e["toolkit_choice"]
        print(f"| {e['case']} | {e['points']} | {p['toolkit']:.2f} ({choice.get('batch_size')}, "
              f"{'yes' if choice.get('vmap') else 'no'}) | {e['speedup_vs_reference']:.2f}× | "
              f"{e['speedup_vs_naive']:.2f}× ({e['naive_batch']}) | {fmt('loss_landscapes')} | {fmt('api')} | {fmt('cli')} | "
              f"{e['achieved_flops'] / 1e9:.1f} ({100 * e['fraction_of_peak']:.0f}%) | {e['max_rel_diff']:.1e} |")
    summary = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "quick": args.quick, "cases": results}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
