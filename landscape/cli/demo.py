"""``swa-landscape demo``: SGD, SWA and PSWA on the embedded ``digits`` data, side by side.

Trains three runs of the small BatchNorm CNN from the same seed (re-running the
command resumes or reuses them) and prints a table of the final SGD iterates and
the averages.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.cli.common import add_common

__all__ = ["add_parser", "run", "demo_configs"]


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="SGD vs SWA vs PSWA on digits, with a summary table",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p, out_default="runs/demo")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def demo_configs(out: Path, epochs: int, seed: int, device: str):
    """The three runs: SGD (cosine), SWA and PSWA (SWA schedule, averaging over the last half)."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec

    half = epochs // 2
    common = dict(model=ModelSpec("cnn_small"), data=DataSpec("digits"), epochs=epochs, batch_size=64, lr=0.05,
                  momentum=0.9, weight_decay=5e-4, seed=seed, device=device)
    period = max(1, half // 3)
    return {
        "sgd": TrainConfig(out=str(out / "sgd"), method="sgd", lr_schedule="cosine", swa_start=half, **common),
        "swa": TrainConfig(out=str(out / "swa"), method="swa", swa_start=half, swa_lr=0.02, **common),
        "pswa": TrainConfig(out=str(out / "pswa"), method="pswa", swa_start=epochs - 3 * period,
                            pswa_period=period, swa_lr=0.02, **common),
    }


def run(args: argparse.Namespace) -> int:
    from swa.rundir import MANIFEST, read_manifest
    from swa.trainer import train

    out = Path(args.out)
    rows = []
    for name, config in demo_configs(out, args.epochs, args.seed or 0, args.device or "auto").items():
        run_dir = Path(config.out)
        if (run_dir / MANIFEST).exists() and read_manifest(run_dir)["config"] == config.to_json():
            result = train(out=run_dir, resume=True, progress=not args.quiet)
        else:
            result = train(config, overwrite=True, progress=not args.quiet)
        last = result.metrics[-1]
        rows.append((f"{name} final iterate", last["train_loss"], last["train_acc"], last["test_loss"],
                     last["test_acc"]))
        if result.swa is not None:
            rows.append((f"{name} average ({len(result.trajectory)} pts)", last["avg_train_loss"],
                         last["avg_train_acc"], last["avg_test_loss"], last["avg_test_acc"]))
    header = f"{'model':<28} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8}"
    print(header)
    print("-" * len(header))
    for label, trl, tra, tel, tea in rows:
        print(f"{label:<28} {trl:>10.4f} {tra:>9.4f} {tel:>9.4f} {tea:>8.4f}")
    print(f"demo: 3 runs in {out} (train loss of final iterates is the running mean over the last epoch)")
    return 0
