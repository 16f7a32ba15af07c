"""How much a plane could save through the first layer's linearity in its weights (issue 10).

On a plane w = w0 + α d1 + β d2 the first layer's pre-activation is linear in (α, β):
x W(α, β)ᵀ = x W0ᵀ + α x D1ᵀ + β x D2ᵀ. Computing the three terms once per data set and combining
them per point replaces the layer's matmul/convolution by two scaled additions. The saving is at
most the first layer's share of a forward pass, measured here for the benchmark cases of
``bench_landscape.py`` (same models and input shapes, batch 1,347 / 512):

* its share of the forward FLOPs (``torch.utils.flop_counter``),
* its share of the forward time (the first layer alone against the whole model, inference mode,
  channels_last for images, best of 5),
* the time of the replacement (two ``add``/``mul`` passes over its output) against the layer itself,
  and the bound 1 / (1 − share + replacement share) on the whole evaluation's speed-up.

Re-run: ``.venv/bin/python scripts/bench_first_layer.py`` (under a minute).
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = {"mlp": ({"hidden": [64, 64]}, (1, 8, 8), 1347), "cnn_small": ({"width": 16}, (1, 8, 8), 1347),
         "preresnet20": ({}, (3, 32, 32), 512)}


def _best(fn, repeats: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@torch.inference_mode()
def main() -> None:
    from swa.models import ModelSpec, build_model

    print(f"Machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print("| case | batch | first layer | FLOP share | time share | replacement / layer time | "
          "bound on the speed-up |\n|---|---|---|---|---|---|---|")
    for name, (kwargs, shape, batch) in CASES.items():
        torch.manual_seed(0)
        model = build_model(ModelSpec(name, kwargs), num_outputs=10, input_shape=shape).eval()
        x = torch.randn(batch, *shape)
        if len(shape) == 3 and name != "mlp":
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        first = next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        inp = x.flatten(1) if isinstance(first, nn.Linear) else x
        out = first(inp)
        parts = [out.clone() for _ in range(3)]
        combine = lambda: parts[0] + 0.3 * parts[1] + 0.7 * parts[2]  # noqa: E731 - per point, after the one-off terms
        flop_share = _flops(lambda: first(inp)) / _flops(lambda: model(x))
        t_layer, t_model, t_combine = _best(lambda: first(inp)), _best(lambda: model(x)), _best(combine)
        share = t_layer / t_model
        bound = 1 / (1 - share + t_combine / t_model)
        print(f"| {name} | {batch} | {type(first).__name__} {tuple(first.weight.shape)} | {flop_share:.1%} | "
              f"{share:.1%} | {t_combine / t_layer:.2f} | {bound:.2f}× |")


if __name__ == "__main__":
    main()
