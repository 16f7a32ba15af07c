"""Which BatchNorm pass for data larger than one batch: ``exact`` or ``single-pass`` (issue 10).

PreResNet-20 (19 BatchNorm layers) is trained for a few epochs with SGD on digits upsampled to
3×32×32, and its last epochs averaged (an SWA point, whose BN statistics are stale). At that point
and at two points off it along a filter-normalized random direction, the statistics are recomputed

* once from the whole training set as one batch (the reference: both passes give exactly this),
* with ``update_bn_exact(mode="exact")`` at batch 128 (about L/2 passes over the data),
* with ``mode="single-pass"`` at batch 128 and 512 (one pass; upstream layers see per-batch
  statistics), and
* with ``torch.optim.swa_utils.update_bn`` at batch 128 (the SWA reference code),

and the training loss (eval mode) after each is compared with the reference's, with the time each
recomputation took. Prints Markdown for BENCHMARKS.md.

Re-run: ``.venv/bin/python scripts/bench_bn_pass.py`` (about 2 minutes on a 2-core CPU).
"""

from __future__ import annotations

import copy
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    from swa.data import DataSpec, load_data

    d = load_data(DataSpec("digits"))
    x = F.interpolate(d.x_train, size=(32, 32), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    return x.contiguous(memory_format=torch.channels_last), d.y_train


def _train(x: torch.Tensor, y: torch.Tensor, epochs: int, average_from: int) -> torch.nn.Module:
    from swa.models.preresnet import preresnet20

    torch.manual_seed(0)
    model = preresnet20(10, tuple(x.shape[1:])).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    swa = torch.optim.swa_utils.AveragedModel(model)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(128):
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        if epoch >= average_from:
            swa.update_parameters(model)
    return swa.module


@torch.inference_mode()
def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return sum(float(F.cross_entropy(model(x[i:i + 512]), y[i:i + 512], reduction="sum"))
               for i in range(0, len(x), 512)) / len(x)


def main() -> None:
    from landscape.geometry.directions import random_directions
    from landscape.engine.weights import ParamSpace
    from swa.bn import update_bn_exact

    torch.set_grad_enabled(True)
    x, y = _data()
    started = time.perf_counter()
    swa_model = _train(x, y, epochs=6, average_from=3)
    trained_s = time.perf_counter() - started
    space = ParamSpace.of(swa_model)
    base = space.params_of(swa_model.state_dict())
    direction = random_directions(space, base, 1, normalization="filter", seed=0)[0]

    methods = {
        "exact, batch 128": lambda m: update_bn_exact(m, x, batch_size=128, mode="exact"),
        "single-pass, batch 128": lambda m: update_bn_exact(m, x, batch_size=128, mode="single-pass"),
        "single-pass, batch 512": lambda m: update_bn_exact(m, x, batch_size=512, mode="single-pass"),
        "torch `update_bn`, batch 128": lambda m: torch.optim.swa_utils.update_bn(
            [x[i:i + 128] for i in range(0, len(x), 128)], m),
    }
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    ref_seconds = []
    for t in (0.0, 0.25, 0.5):
        point = copy.deepcopy(swa_model)
        state = point.state_dict()
        state.update(space.split(base + t * direction))
        point.load_state_dict(state)
        ref = copy.deepcopy(point)
        t0 = time.perf_counter()
        with torch.no_grad():
            update_bn_exact(ref, x, batch_size=len(x))
        ref_seconds.append(time.perf_counter() - t0)
        want = _loss(ref, x, y)
        for name, fn in methods.items():
            m = copy.deepcopy(point)
            t0 = time.perf_counter()
            with torch.no_grad():
                fn(m)
            sec = time.perf_counter() - t0
            rows[name].append((abs(_loss(m, x, y) - want) / want, sec))
    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"PreResNet-20 on {len(x)} digits upsampled to 3×32×32, SWA of epochs 4–6 (training {trained_s:.0f} s)\n")
    ref_s = sum(ref_seconds) / len(ref_seconds)
    print("| recomputation | train-loss difference vs one-batch statistics at t = 0 / 0.25 / 0.5 | "
          "seconds per recomputation | × one-batch time |\n|---|---|---|---|")
    print(f"| one batch of {len(x)} (reference) | 0 / 0 / 0 | {ref_s:.2f} | 1.00× |")
    for name, vals in rows.items():
        sec = sum(s for _, s in vals) / len(vals)
        diffs = " / ".join(f"{d:.1e}" for d, _ in vals)
        print(f"| {name} | {diffs} | {sec:.2f} | {sec / ref_s:.2f}× |")


if __name__ == "__main__":
    main()
