"""``swa-landscape interp``: loss and accuracy along the line between two checkpoints, past both ends.

With ``--run RUN_DIR`` and no ``--from``/``--to``, the line goes from the final SGD
iterate to the SWA average (the SWA paper's Fig. 5). ``--around CKPT`` instead draws the
line through one checkpoint along a random filter-normalized direction or the top Hessian
eigenvector (``--direction``; Li et al. 2018's 1D plots); with ``--run``, CKPT may be
``final`` or ``swa``.
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common, add_landscape_args, settings_from_args
from landscape.cli.plot import add_plot_flags, draw_after

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("interp", help="loss/accuracy on the line through two checkpoints",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p)
    add_landscape_args(p)
    p.add_argument("--from", dest="start", default=None, metavar="A", help="start checkpoint (t = 0)")
    p.add_argument("--to", dest="end", default=None, metavar="B", help="end checkpoint (t = 1)")
    p.add_argument("--t", default=None, metavar="MIN:MAX:N", help="values of t (default -0.5:1.5:41; "
                   "around a checkpoint -1:1:41, or ±sqrt(2/λ) for the Hessian direction)")
    p.add_argument("--around", default=None, metavar="CKPT", help="a line through this checkpoint along "
                   "--direction instead (with --run: also 'final' or 'swa')")
    p.add_argument("--direction", choices=("random", "hessian"), default="random",
                   help="with --around: a random direction (normalized by --normalization) or the top Hessian "
                        "eigenvector")
    p.add_argument("--hessian-batch-size", type=int, default=2048, metavar="N",
                   help="with --direction hessian: batch size of the Hessian's sums (2048; halved when the device "
                        "runs out of memory)")
    p.add_argument("--normalization", choices=("filter", "layer", "unit", "none"), default="filter",
                   help="with --around --direction random: per-filter (default, Li et al.), per-layer, unit, raw")
    p.add_argument("--include-bn-bias", action="store_true",
                   help="with --direction random: also move biases and BatchNorm parameters")
    add_plot_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import load_eval_context
    from landscape.geometry.grid import parse_axis
    from landscape.engine.inputs import load_checkpoints
    from landscape.compute.line import DEFAULT_T, compute_interp
    from swa.errors import UserError

    if args.out is None:
        raise UserError("interp needs --out DIR")
    t_axis = parse_axis(args.t, "--t") if args.t is not None else DEFAULT_T
    settings = settings_from_args(args)
    ctx = load_eval_context(args)
    if args.around is not None:
        return _run_around(args, ctx, settings, parse_axis(args.t, "--t") if args.t is not None else None)
    paths, labels = [args.start, args.end], args.labels
    if None in paths:
        if ctx.run is None or len(ctx.run.end_points()) < 2 or args.start or args.end:
            raise UserError("interp needs --from A --to B (or --run RUN_DIR of an SWA run: SGD final -> SWA)")
        paths, run_labels = zip(*ctx.run.end_points())
        labels = labels or list(run_labels)
    start, end = load_checkpoints(list(paths), labels, ctx.model)
    result = compute_interp(ctx, start, end, args.out, settings, t_axis=t_axis, params=args.params)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"interp": [result.store.npz]})
    return 0


def _run_around(args, ctx, settings, t_axis) -> int:
    from landscape.compute.around_line import evaluate_around_line
    from landscape.compute.options import Directions
    from landscape.cli.common import around_checkpoint
    from landscape.engine.forward import Forward
    from landscape.engine.task import Job
    from swa.errors import UserError

    if args.start or args.end:
        raise UserError("--from/--to give a line between two checkpoints; --around a line through one: "
                        "give one or the other")
    center = around_checkpoint(ctx, args.around, args.labels)
    direction = Directions(args.direction, normalization=args.normalization, include_bn_and_bias=args.include_bn_bias,
                           hessian_batch_size=args.hessian_batch_size)
    job = Job(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), settings, ctx.to_json(), args.params)
    result = evaluate_around_line(job, center, direction=direction, t=t_axis, out=args.out)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"interp": [result.store.npz]})
    return 0
