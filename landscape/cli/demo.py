"""``swa-landscape demo``: a small, honest fine-tuning study on the embedded data, and its report.

The MNIST fine-tuning reimplementation's protocol, scaled down (``swa.study``): pretrain the
model with Adam, tune plain SGD's constant rate on the training loss, then fine-tune from the
same start with SGD (constant), SGD (step decay), SWA (cyclical), SWA (constant) and PSWA (3
periods) over ``--seeds`` seeds. Prints the results table (test metrics as mean ± std over seeds;
each method's paired difference with SGD, its 95 % interval and a plain sentence), then looks at
the landscape of the first seed: the line from the pretrained model to each fine-tuned one past
both ends, the planes through the cyclical and the constant SWA trajectories, the SGD → SWA line,
rays from SGD and SWA, random filter-normalized planes around SGD and around SWA on the same
directions, the PCA plane of the trajectory and the sharpness of SGD and SWA; and writes
OUT/report/report.html with all of it. Re-running reuses finished runs and results.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from landscape.cli.common import add_common

__all__ = ["add_parser", "run"]

DATA = ("digits", "toy2d")


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="a fine-tuning study over seeds (SGD, SWA, PSWA) with its landscape and report",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p, out_default="runs/demo")
    p.add_argument("--data", choices=DATA, default="digits",
                   help="digits (classification, small CNN) or toy2d (the CIFAR reimplementation's 2D regression "
                        "toy, MLP)")
    p.add_argument("--epochs", type=int, default=12, help="fine-tuning epochs per run, a multiple of 3 (default 12)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per method (default 3)")
    p.add_argument("--grid", type=int, default=15, help="plane grid points per axis (default 15)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--no-plot", action="store_true", help="no figures and no report")
    p.set_defaults(handler=run)


def _check(args: argparse.Namespace) -> None:
    from swa.errors import UserError

    if args.epochs < 3 or args.epochs % 3:
        raise UserError(f"demo --epochs must be a positive multiple of 3 (PSWA's 3 periods), got {args.epochs}")
    if args.seeds < 1:
        raise UserError(f"--seeds must be at least 1, got {args.seeds}")
    if args.grid < 2:  # checked before anything is trained, not after
        raise UserError(f"--grid must be at least 2, got {args.grid}")


def _metrics(run_dir: Path, checkpoint: Path) -> dict:
    """Train and test loss (and accuracy) of ``checkpoint`` in eval mode on the full sets."""
    from swa.evaluation import evaluate
    from swa.rundir import open_run

    run = open_run(run_dir)
    data = run.load_data()
    model = run.build_model(checkpoint)
    tr = evaluate(model, data.x_train, data.y_train, data.task)
    te = evaluate(model, data.x_test, data.y_test, data.task)
    return {"train_loss": tr["loss"], "train_acc": tr["acc"], "test_loss": te["loss"], "test_acc": te["acc"],
            "checkpoint": str(checkpoint)}


def run(args: argparse.Namespace) -> int:
    from landscape.study_table import study_markdown, summarize_study
    from swa.io import write_json, write_text
    from swa.study import (LABELS, METHODS, StudySpec, method_config, pretrain_config, reported_checkpoint,
                           train_or_reuse, tuning_configs)

    _check(args)
    started = time.perf_counter()
    out = Path(args.out)
    say = (lambda _: None) if args.quiet else print
    spec = StudySpec(out=out, data=args.data, epochs=args.epochs, device=args.device or "auto")
    seeds = [(args.seed or 0) + i for i in range(args.seeds)]
    pre_dir = train_or_reuse(pretrain_config(spec), log=say)
    say(f"demo: pretrained with Adam ({spec.pretrain_epochs} epochs) -> {pre_dir}")
    tuning = {}
    for rate, config in tuning_configs(spec).items():
        run_dir = train_or_reuse(config, log=say)
        tuning[rate] = _metrics(run_dir, reported_checkpoint(run_dir))["train_loss"]
    rate = min(tuning, key=lambda r: tuning[r])
    say("demo: SGD's constant rate tuned on the training loss: " + ", ".join(
        f"{r:g} -> {loss:.4f}" for r, loss in tuning.items()) + f"; chosen {rate:g}")
    per_seed: dict[str, list[dict]] = {m: [] for m in METHODS}
    total, done = len(METHODS) * len(seeds), 0
    for seed in seeds:
        for method in METHODS:
            run_dir = train_or_reuse(method_config(spec, method, seed, rate), log=say)
            per_seed[method].append({"seed": seed, **_metrics(run_dir, reported_checkpoint(run_dir))})
            done += 1
            say(f"demo: [{done}/{total}] seed {seed} {LABELS[method]}: test loss "
                f"{per_seed[method][-1]['test_loss']:.4f}")
    pretrained = {"label": LABELS["pretrained"], **_metrics(pre_dir, pre_dir / "final.pt")}
    task = "classification" if pretrained["test_acc"] is not None else "regression"
    study = summarize_study(per_seed, labels=LABELS, seeds=seeds, task=task, pretrained=pretrained,
                            extra={"data": args.data, "epochs": args.epochs, "tuned_rate": rate,
                                   "tuning": {f"{r:g}": loss for r, loss in tuning.items()},
                                   "protocol": "swa.study"})
    write_json(study, out / "study.json")
    table = study_markdown(study)
    write_text(f"# Fine-tuning study on {args.data}\n\n{table}", out / "study.md")
    print(table)
    landscape = _landscape(spec, seeds[0], args)
    if not args.no_plot:
        from landscape.report import build_report

        files = build_report([out / "study.json", out / f"seed-{seeds[0]}", landscape], out / "report",
                             title=f"SGD, SWA and PSWA fine-tuning on {args.data}",
                             progress=(lambda k: None) if args.quiet else (lambda k: print(f"report: {k} ...")))
        print(f"demo: report -> {files.html}")
    print(f"demo: {total} runs over {len(seeds)} seeds, landscape of seed {seeds[0]}, in "
          f"{time.perf_counter() - started:.0f}s -> {out}")
    return 0


def _reuse_or_redo(compute):
    """Resume or reuse earlier results; recompute from scratch if they came from other inputs."""
    from landscape.store import StaleResultsError

    try:
        return compute(False)
    except StaleResultsError:
        return compute(True)


def _landscape(spec, seed: int, args: argparse.Namespace) -> Path:
    """The first seed's landscape (see the module docstring), each result resumed or reused; returns its folder."""
    from landscape.affine_plane import compute_plane
    from landscape.around_plane import evaluate_around
    from landscape.forward import Forward
    from landscape.inputs import load_checkpoints, load_context
    from landscape.interp import compute_interp
    from landscape.measure import SharpnessSettings, compute_sharpness
    from landscape.plane_directions import load_directions
    from landscape.random_rays import compute_rays
    from landscape.settings import EvalSettings
    from landscape.weights import ParamSpace
    from swa.study import LABELS, METHODS, reported_checkpoint

    say = (lambda _: None) if args.quiet else print
    runs = {m: spec.out / f"seed-{seed}" / m for m in METHODS}
    out = spec.out / "landscape"
    ctx = load_context(str(runs["swa-cyclic"]), None, None)
    settings = EvalSettings(device=args.device or "auto", seed=args.seed or 0, progress=not args.quiet)
    load = lambda path, label: load_checkpoints([str(path)], [label], ctx.model)[0]  # noqa: E731
    pre = load(spec.out / "pretrain" / "final.pt", LABELS["pretrained"])
    tuned = {m: load(reported_checkpoint(runs[m]), LABELS[m]) for m in METHODS}
    sgd, swa = tuned["sgd"], tuned["swa-cyclic"]

    def again(compute):
        result = _reuse_or_redo(lambda overwrite: compute(replace(settings, overwrite=overwrite)))
        say(result.summary_line())
        return result

    for m in METHODS:  # the MNIST study's Fig. 2: pretrained -> fine-tuned, past both ends
        again(lambda s, m=m: compute_interp(ctx, pre, tuned[m], out / f"finetune-{m}", s))
    for m in ("swa-cyclic", "swa-const"):  # the SWA paper's Fig. 1/3: the plane through each trajectory
        run_ctx = load_context(str(runs[m]), None, None)
        anchors = load_checkpoints(*map(list, zip(*run_ctx.run.plane_anchors())), ctx.model)
        traj = load_checkpoints([p["path"] for p in run_ctx.run.trajectory],
                                [f"epoch {p['epoch']}" for p in run_ctx.run.trajectory], ctx.model)
        ends = load_checkpoints(*map(list, zip(*run_ctx.run.end_points())), ctx.model)
        again(lambda s, a=anchors, t=traj, e=ends, m=m: compute_plane(ctx, a, out / f"plane-{m}", s, trajectory=t,
                                                                       marked=e, grid=args.grid))
    again(lambda s: compute_interp(ctx, sgd, swa, out / "sgd-to-swa", s))  # Fig. 5
    again(lambda s: compute_rays(ctx, [sgd, swa], out / "rays", s, directions=6, max_distance=10.0, steps=11))
    forward, data = Forward(task=ctx.data.task), ctx.eval_data()
    for name, center in (("random-sgd", sgd), ("random-swa", swa)):  # Li et al.: the same two directions
        shared = "random" if name == "random-sgd" else load_directions(out / "random-sgd" / "directions.pt",
                                                                       ParamSpace.of(ctx.model))
        again(lambda s, c=center, d=shared, n=name: evaluate_around(
            ctx.model, data, forward, c, s, about=ctx.to_json(), directions=d, out=out / n, grid=args.grid,
            x_axis=None, y_axis=None, log=say))
    run_ctx = load_context(str(runs["swa-const"]), None, None)
    traj = load_checkpoints([p["path"] for p in run_ctx.run.trajectory],
                            [f"epoch {p['epoch']}" for p in run_ctx.run.trajectory], ctx.model)
    again(lambda s: evaluate_around(ctx.model, data, forward, None, s, about=ctx.to_json(), directions="pca",
                                    trajectory=traj, marked=[tuned["swa-const"]], out=out / "pca", grid=args.grid,
                                    log=say))
    sharp = _reuse_or_redo(lambda overwrite: compute_sharpness(
        ctx, [sgd, swa], out / "sharpness", SharpnessSettings(top_k=1),
        metrics=("hessian_top_eigenvalues", "hessian_trace", "adaptive_average"), seed=args.seed or 0,
        device=args.device or "auto", overwrite=overwrite, progress=not args.quiet))
    if not args.quiet:
        print(sharp.md_path.read_text().split("\n\nTraining loss")[0])
    return out
