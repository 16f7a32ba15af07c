"""``swa-landscape demo``: SGD, SWA and PSWA on the embedded ``digits`` data, side by side.

Trains three runs of the small BatchNorm CNN from the same seed (re-running the
command resumes or reuses them), prints a table of the final SGD iterates and
the averages, then looks at the SWA run's landscape: the plane through its
first, middle and last trajectory points, the line from the final SGD iterate to
the SWA average, and the sharpness of both (top Hessian eigenvalue, trace,
average-case adaptive sharpness).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from landscape.cli.common import add_common

__all__ = ["add_parser", "run", "demo_configs"]


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="SGD vs SWA vs PSWA on digits, with a summary table",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p, out_default="runs/demo")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    p.add_argument("--grid", type=int, default=15, help="plane grid points per axis (default 15)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-plot", action="store_true", help="draw no figures")
    p.set_defaults(handler=run)


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


def _evaluate_checkpoints(run_dir: Path) -> list[tuple[str, dict, dict]]:
    """Train and test metrics of a run's final iterate and average, both in eval mode on the full sets."""
    from swa.evaluation import evaluate
    from swa.rundir import open_run

    run = open_run(run_dir)
    data = run.load_data()
    rows = []
    for which in ("final", "swa"):
        path = run.checkpoint(which)
        if path is None:
            continue
        model = run.build_model(path)
        rows.append((which, evaluate(model, data.x_train, data.y_train, data.task),
                     evaluate(model, data.x_test, data.y_test, data.task)))
    return rows


def run(args: argparse.Namespace) -> int:
    from swa.rundir import MANIFEST, read_manifest
    from swa.trainer import train

    from swa.errors import UserError

    if args.epochs < 6:
        raise UserError(f"demo --epochs must be at least 6 (the plane needs 3 averaged points), got {args.epochs}")
    if args.grid < 2:  # checked before three runs are trained, not after
        raise UserError(f"--grid must be at least 2, got {args.grid}")
    out = Path(args.out)
    rows = []
    for name, config in demo_configs(out, args.epochs, args.seed or 0, args.device or "auto").items():
        run_dir = Path(config.out)
        if (run_dir / MANIFEST).exists() and read_manifest(run_dir)["config"] == config.to_json():
            result = train(out=run_dir, resume=True, progress=not args.quiet)
        else:
            result = train(config, overwrite=True, progress=not args.quiet)
        per_period = f"{config.pswa_period // config.cycle} pts/period" if name == "pswa" else \
            f"{len(result.trajectory)} pts"
        for which, tr, te in _evaluate_checkpoints(run_dir):
            label = f"{name} final iterate" if which == "final" else f"{name} average ({per_period})"
            rows.append((label, tr["loss"], tr["acc"], te["loss"], te["acc"]))
    header = f"{'model':<30} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8}"
    print(header)
    print("-" * len(header))
    for label, trl, tra, tel, tea in rows:
        print(f"{label:<30} {trl:>10.4f} {tra:>9.4f} {tel:>9.4f} {tea:>8.4f}")
    print(f"demo: 3 runs in {out}; all numbers evaluated in eval mode on the full digits train/test sets")
    files = _landscape(out / "swa", out / "landscape", args)
    from landscape.cli.plot import draw_after

    draw_after(args, {**{kind: [path] for kind, path in files.items()},
                      "run": [out / name for name in ("sgd", "swa", "pswa")]})
    return 0


def _reuse_or_redo(compute):
    """Resume or reuse earlier results; recompute from scratch if they came from other inputs."""
    from landscape.store import StaleResultsError

    try:
        return compute(False)
    except StaleResultsError:
        return compute(True)


def _landscape(run_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Plane through the SWA trajectory, the SGD → SWA line, rays and sharpness (resumed if already computed).

    Returns the result file of each kind.
    """
    from landscape.inputs import load_checkpoints, load_context
    from landscape.interp import compute_interp
    from landscape.settings import EvalSettings
    from landscape.affine_plane import compute_plane
    from landscape.random_rays import compute_rays

    ctx = load_context(str(run_dir), None, None)
    anchors = load_checkpoints(*map(list, zip(*ctx.run.plane_anchors())), ctx.model)
    traj = load_checkpoints([p["path"] for p in ctx.run.trajectory],
                            [f"epoch {p['epoch']}" for p in ctx.run.trajectory], ctx.model)
    ends = load_checkpoints(*map(list, zip(*ctx.run.end_points())), ctx.model)
    settings = EvalSettings(device=args.device or "auto", seed=args.seed or 0, progress=not args.quiet)
    plane = _reuse_or_redo(lambda overwrite: compute_plane(ctx, anchors, out, replace(settings, overwrite=overwrite),
                                                           trajectory=traj, marked=ends, grid=args.grid))
    print(plane.summary_line())
    line = _reuse_or_redo(lambda overwrite: compute_interp(ctx, ends[0], ends[1], out,
                                                           replace(settings, overwrite=overwrite)))
    print(line.summary_line())
    rays = _reuse_or_redo(lambda overwrite: compute_rays(ctx, ends, out, replace(settings, overwrite=overwrite),
                                                         directions=6, max_distance=10.0, steps=11))
    print(rays.summary_line())
    from landscape.measure import SharpnessSettings, compute_sharpness

    sharp = _reuse_or_redo(lambda overwrite: compute_sharpness(
        ctx, ends, out, SharpnessSettings(top_k=1), metrics=("hessian_top_eigenvalues", "hessian_trace",
                                                             "adaptive_average"),
        seed=args.seed or 0, device=args.device or "auto", overwrite=overwrite, progress=not args.quiet))
    print(sharp.md_path.read_text().split("\n\nTraining loss")[0])
    return {"plane": plane.store.npz, "interp": line.store.npz, "rays": rays.store.npz, "sharpness": sharp.json_path}
