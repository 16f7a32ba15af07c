"""Benchmark: the cost of one epoch of curve training (``swa.curves``) against one epoch of plain SGD training.

Both sides train the same architecture on the same data with the same batch size, on the same device: plain
SGD is the trainer's own epoch (``swa.trainer.Trainer.train_epoch``: forward, loss, backward, step); a curve
epoch additionally builds the point φ(t) = Σₖ cₖ(t) θₖ of 3 bends at every step, runs the network on it through
``torch.func.functional_call``, adds ½·wd·‖φ(t)‖² and back-propagates into the bends. The epochs run
alternately (SGD, curve, SGD, curve, ...) after one warm-up epoch each, and the table gives the median
epoch time of each and their ratio, measured side by side in one run.

Run:  .venv/bin/python scripts/bench_curve.py [--device cpu] [--repeats 5]
Prints the machine and a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchlib import clock, hardware  # noqa: E402

CASES = (("cnn_small", {"width": 32}, "digits", {}, 128),
         ("preresnet20", {}, "cifar10", {}, 128))


def _data(name: str):
    """digits as shipped; for CIFAR-shaped models, 2,048 random 32×32 images in 10 classes (no download)."""
    from swa.data import DataSpec, TensorData, load_data

    if name == "digits":
        return load_data(DataSpec("digits"))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (2048,), generator=g)
    return TensorData(x, y, x[:256], y[:256], "classification", 10)


def measure(model_name: str, kwargs: dict, data_name: str, batch_size: int, device: str,
            repeats: int) -> tuple[float, float]:
    """Median seconds of a plain SGD epoch and of a curve epoch, alternated ``repeats`` times after a warm-up."""
    from swa.config import TrainConfig
    from swa.curves import CurveConfig, _CurveTrainer
    from swa.data import DataSpec
    from swa.models import ModelSpec, build_model
    from swa.trainer import Trainer

    data = _data(data_name)
    spec = ModelSpec(model_name, kwargs)
    config = TrainConfig(model=spec, data=DataSpec("digits"), epochs=repeats + 1, batch_size=batch_size,
                         lr=0.01, device=device, out=str(ROOT / "runs" / "bench-curve"))
    trainer = Trainer(config, data, progress=False)
    torch.manual_seed(0)
    model = build_model(spec, num_outputs=data.num_outputs, input_shape=data.input_shape)
    a = {k: v.clone() for k, v in model.state_dict().items()}
    b = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v.clone() for k, v in a.items()}
    dev = torch.device(trainer.device)
    curve = _CurveTrainer(model, a, b, CurveConfig(epochs=repeats + 1, batch_size=batch_size, device=device), dev)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    sgd, cur = [], []
    for i in range(repeats + 1):
        started = clock(dev)
        trainer.train_epoch()
        t_sgd = clock(dev) - started
        started = clock(dev)
        curve.train_epoch(x, y, data.task, None, progress=False)
        t_curve = clock(dev) - started
        if i:  # the first of each is a warm-up
            sgd.append(t_sgd)
            cur.append(t_curve)
    return statistics.median(sgd), statistics.median(cur)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{date.today().isoformat()}; {hardware()}\n")
    print("| model, data, batch | SGD epoch | curve epoch (3 bends) | curve / SGD |")
    print("|---|---|---|---|")
    for model_name, kwargs, data_name, _, batch in CASES:
        started = time.perf_counter()
        sgd, cur = measure(model_name, kwargs, data_name, batch, args.device, args.repeats)
        what = f"{model_name}{'(' + ', '.join(f'{k}={v}' for k, v in kwargs.items()) + ')' if kwargs else ''}"
        print(f"| {what}, {data_name}, {batch} | {sgd:.3f} s | {cur:.3f} s | {cur / sgd:.2f}× |", flush=True)
        print(f"<!-- {time.perf_counter() - started:.0f} s -->", file=sys.stderr)


if __name__ == "__main__":
    main()
