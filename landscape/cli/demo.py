"""``swa-landscape demo``: a small, honest fine-tuning study on the embedded data, and its report.

The MNIST fine-tuning reimplementation's protocol, scaled down (``swa.study``): pretrain the
model with Adam, tune plain SGD's constant rate on the training loss, then fine-tune from the
same start with SGD (constant), SGD (step decay), SWA (cyclical), SWA (constant) and PSWA (3
periods) over ``--seeds`` seeds. Prints the results table (test metrics as mean ± std over seeds;
each method's paired difference with SGD, its 95 % interval and a plain sentence), then looks at
the landscape of the first seed: the line from the pretrained model to each fine-tuned one past
both ends, the planes through the cyclical and the constant SWA trajectories, the SGD → SWA line,
rays from SGD and SWA, random filter-normalized planes around SGD and around SWA on the same
directions, the PCA plane of the trajectory, the sharpness of SGD and SWA, and mode-connecting curves
(Garipov et al. 2018) from SGD to SWA (both constant rate) and from SGD to the SGD solution of the second
seed, each against its straight line (``--curve-epochs``); and writes
OUT/report/report.html with all of it. Re-running reuses finished runs and results.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from landscape.cli.common import add_common, samples_help

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
    p.add_argument("--grid", type=int, default=11, help="plane grid points per axis (default 11)")
    p.add_argument("--line-points", type=int, default=25, metavar="N",
                   help="points of each line, t from -0.5 to 1.5 (default 25)")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="the landscape and sharpness: " + samples_help(test=True) + " (a quick look)")
    p.add_argument("--curve-epochs", type=int, default=4, metavar="N",
                   help="epochs of the mode-connecting curves (SGD to SWA, and SGD to another seed's SGD; default "
                        "4; 0: none)")
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
    if args.line_points < 2:
        raise UserError(f"--line-points must be at least 2, got {args.line_points}")
    if args.curve_epochs < 0:
        raise UserError(f"--curve-epochs must be 0 (no curves) or more, got {args.curve_epochs}")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be at least 1, got {args.samples}")


def run(args: argparse.Namespace) -> int:
    from landscape.study.run import CurvePlan, run_study, study_landscape
    from landscape.engine.settings import Settings
    from landscape.study.table import study_markdown
    from swa.study import StudySpec

    _check(args)
    started = time.perf_counter()
    out = Path(args.out)
    say = (lambda _: None) if args.quiet else print
    spec = StudySpec(out=out, data=args.data, epochs=args.epochs, device=args.device or "auto",
                     eval_freq=2)  # the averages' training curves at every 2nd epoch and the last: a minute less
    seeds = [(args.seed or 0) + i for i in range(args.seeds)]
    study = run_study(spec, seeds, title=f"Fine-tuning study on {args.data}", say=say)
    print(study_markdown(study))
    settings = Settings(device=args.device or "auto", seed=args.seed or 0, progress=not args.quiet,
                        samples=args.samples)  # the landscape's evaluation, as the Python API takes it
    curves = CurvePlan(epochs=args.curve_epochs,  # without the curves' planes: `curve --plane-grid` draws them
                       partner_seed=seeds[1] if len(seeds) > 1 else None) if args.curve_epochs else None
    landscape = study_landscape(spec, seeds[0], grid=args.grid, settings=settings, line_points=args.line_points,
                                curves=curves)
    if not args.no_plot:
        from landscape.report import build_report

        # OUT/report is rebuilt from OUT's results every run: ours to replace, even an earlier version's pages
        files = build_report([out / "study.json", out / f"seed-{seeds[0]}", landscape], out / "report",
                             title=f"SGD, SWA and PSWA fine-tuning on {args.data}", overwrite=True,
                             progress=(lambda k: None) if args.quiet else (lambda k: print(f"report: {k} ...")))
    n_runs = len(study["methods"]) * len(seeds)
    where = f"{out}" if args.no_plot else f"{out}; report: {files.html}"  # the page to open, said last
    print(f"demo: {n_runs} runs over {len(seeds)} seeds, landscape of seed {seeds[0]}, in "
          f"{time.perf_counter() - started:.0f}s -> {where}")
    return 0
