"""``swa-landscape plane``: loss and accuracy on the plane through three checkpoints, or around one.

Through three checkpoints (the default): with ``--run RUN_DIR`` the anchors default to the
first, middle and last trajectory points (the SWA paper's experiment) and every trajectory
point, the final SGD iterate and the SWA average are projected onto the plane.

Around one checkpoint (``--around CKPT``, or ``--directions``): the plane CKPT + x·d_x + y·d_y
along two random filter-normalized directions (Li et al. 2018; x, y in multiples of the
directions), the top two principal components of the trajectory (``--directions pca``, from
``--run`` or ``--trajectory``; centred on its last point or ``--center mean``; the path drawn), or
the top two Hessian eigenvectors at CKPT (``--directions hessian``). With ``--run``, CKPT may be
``final`` or ``swa``. The directions are written to OUT/directions.pt.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.cli.common import add_common, add_landscape_args, settings_from_args
from landscape.cli.plot import add_plot_flags, draw_after
from landscape.geometry.directions import NORMALIZATIONS
from landscape.compute.directions import DIRECTION_KINDS, PCA_CENTERS
from landscape.geometry.presets import PRESETS

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("plane", help="loss/accuracy on the plane through three checkpoints",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p, out_default=None)
    add_landscape_args(p)
    a = p.add_argument_group("a plane around one checkpoint (Li et al. 2018)")
    a.add_argument("--around", default=None, metavar="CKPT",
                   help="centre the plane on this checkpoint (with --run: also 'final' or 'swa')")
    a.add_argument("--directions", choices=DIRECTION_KINDS, default=None,
                   help="random (default with --around), pca of the trajectory, or hessian eigenvectors")
    a.add_argument("--normalization", choices=sorted(NORMALIZATIONS), default="filter",
                   help="random directions: per-filter (default), per-layer, unit or raw")
    a.add_argument("--include-bn-bias", action="store_true",
                   help="random directions: also move biases and BatchNorm parameters (Li et al. zero them)")
    a.add_argument("--orthogonal", action="store_true", help="random directions: make the second orthogonal "
                   "to the first (its norm kept)")
    a.add_argument("--center", choices=PCA_CENTERS, default="last",
                   help="pca: centre on the last trajectory point (default, Li et al.) or their mean")
    a.add_argument("--hessian-samples", type=int, default=None, metavar="N",
                   help="hessian: training samples of the Hessian (default: all)")
    a.add_argument("--hessian-batch-size", type=int, default=2048, metavar="N",
                   help="hessian: batch size of the Hessian's sums (2048; halved when the device runs out of memory)")
    a.add_argument("--save-directions", default=None, metavar="FILE",
                   help="also write the directions here (they are always written to OUT/directions.pt)")
    a.add_argument("--load-directions", default=None, metavar="FILE",
                   help="use the directions of this file ({'x': {name: tensor}, 'y': {...}}), e.g. to compare "
                        "two checkpoints on the same directions")
    p.add_argument("--points", nargs=3, default=None, metavar=("A", "B", "C"),
                   help="the three checkpoints spanning the plane (default with --run: first, middle, last point)")
    p.add_argument("--trajectory", nargs="+", default=[], metavar="CKPT", help="more checkpoints to project")
    p.add_argument("--grid", type=int, default=None, help="grid points per axis of the default grid (21; "
                   "around a checkpoint, 51 on CUDA)")
    p.add_argument("--margin", type=float, default=0.2, help="margin around anchors and trajectory, "
                   "as a fraction of their extent (0.2)")
    p.add_argument("--x", default=None, metavar="MIN:MAX:N", help="explicit grid along û (or d_x)")
    p.add_argument("--y", default=None, metavar="MIN:MAX:N", help="explicit grid along v̂ (or d_y)")
    p.add_argument("--like", choices=tuple(PRESETS), default=None,
                   help="a published convention: li2018 (around --around: random filter-normalized directions "
                        "without biases/BN, BN fixed, -1:1:51), garipov2018 (through three points, x from the "
                        "first to the last in their units, BN recomputed, -0.2:1.2:21) or izmailov2018 (the SWA "
                        "paper's plane, BN recomputed); recorded in the sidecar and the figure's title")
    add_plot_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import load_eval_context
    from landscape.geometry.grid import check_grid, check_margin, parse_axis
    from landscape.engine.inputs import load_checkpoints
    from landscape.compute.options import Grid
    from landscape.compute.plane import compute_plane
    from landscape.geometry.presets import plane_preset
    from swa.checkpoint import split_key
    from swa.errors import UserError

    if args.out is None:
        raise UserError("plane needs --out DIR")
    x_axis = parse_axis(args.x, "--x") if args.x is not None else None
    y_axis = parse_axis(args.y, "--y") if args.y is not None else None
    check_grid(args.grid)  # the validators the Python API calls too
    check_margin(args.margin)
    around = args.around is not None or args.directions is not None or args.load_directions is not None
    choice = plane_preset(args.like, around=around, bn=args.bn, grid=args.grid, margin=args.margin, x_axis=x_axis,
                          y_axis=y_axis, directions=args.directions, normalization=args.normalization,
                          include_bn_and_bias=args.include_bn_bias)
    args.bn, args.grid, x_axis, y_axis = choice.bn, choice.grid, choice.x_axis, choice.y_axis
    settings = settings_from_args(args)
    grid = Grid(args.grid, x_axis, y_axis, args.margin)  # what the Python API takes as grid=
    ctx = load_eval_context(args)
    if around:
        return _run_around(args, ctx, settings, grid, choice.record)
    paths, labels = args.points, args.labels
    if paths is None:
        if ctx.run is None:
            raise UserError("plane needs --points A B C, or --run RUN_DIR to take them from a trajectory")
        paths, run_labels = zip(*ctx.run.plane_anchors())
        labels = labels or list(run_labels)
    # Projected: the run's trajectory, then --trajectory checkpoints (joined in order in the figure);
    # marked: the run's final iterate and average.
    traj = [] if ctx.run is None else [(p["path"], f"epoch {p['epoch']}") for p in ctx.run.trajectory]
    traj += [(path, Path(split_key(path)[0]).stem) for path in args.trajectory]
    marks = [] if ctx.run is None else ctx.run.end_points()
    anchors = load_checkpoints(list(paths), labels, ctx.model)
    if choice.x_towards_last:  # Garipov et al.: x from the first point to the last, y towards the middle one
        anchors = [anchors[0], anchors[2], anchors[1]]
    result = compute_plane(ctx, anchors, args.out, settings, trajectory=_load(traj, ctx), marked=_load(marks, ctx),
                           grid=grid, params=args.params, units=choice.units, preset=choice.record)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"plane": [result.store.npz]})
    return 0


def _run_around(args, ctx, settings, grid, preset=None) -> int:
    from landscape.compute.around_plane import evaluate_around
    from landscape.engine.task import Job
    from landscape.compute.options import Directions
    from landscape.cli.common import around_checkpoint
    from landscape.engine.forward import Forward
    from swa.checkpoint import split_key
    from swa.errors import UserError

    if args.points is not None:
        raise UserError("--points spans a plane through three checkpoints; --around/--directions a plane "
                        "around one: give one or the other")
    kind = args.directions or ("pca" if args.around is None and args.load_directions is None else "random")
    if args.hessian_samples is not None and args.hessian_samples < 2:
        raise UserError(f"--hessian-samples must be at least 2, got {args.hessian_samples}")
    center = around_checkpoint(ctx, args.around, args.labels) if args.around is not None else None
    around = None if center is None else center.path
    # PCA: the run's trajectory (and --trajectory) spans the plane and is drawn, the run's end points marked.
    # Random and Hessian planes are about the center alone: only what --trajectory names is projected.
    pca = kind == "pca" and args.load_directions is None
    traj = [] if ctx.run is None or not pca else [(p["path"], f"epoch {p['epoch']}") for p in ctx.run.trajectory]
    traj += [(path, Path(split_key(path)[0]).stem) for path in args.trajectory]
    if pca and len(traj) < 3:
        raise UserError("--directions pca needs a trajectory of at least 3 points: --run RUN_DIR or --trajectory "
                        "CKPT CKPT CKPT ...")
    marks = [] if ctx.run is None or not pca else [(p, lab) for p, lab in ctx.run.end_points() if p != around]
    directions = kind
    if args.load_directions is not None:
        directions = Path(args.load_directions)  # loaded and checked against the model there
        if center is None:
            raise UserError("--load-directions needs --around CKPT (the center of the plane)")
    options = Directions(directions, normalization=args.normalization, include_bn_and_bias=args.include_bn_bias,
                         orthogonal=args.orthogonal, pca_center=args.center, hessian_samples=args.hessian_samples,
                         hessian_batch_size=args.hessian_batch_size)  # what the Python API takes as directions=
    job = Job(ctx.model, ctx.eval_data(), Forward(task=ctx.data.task), settings, ctx.to_json(), args.params)
    result = evaluate_around(job, center, directions=options, grid=grid, out=args.out, trajectory=_load(traj, ctx),
                             marked=_load(marks, ctx), save_copy=args.save_directions, preset=preset)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"plane": [result.store.npz]})
    return 0


def _load(points, ctx):
    from landscape.engine.inputs import load_checkpoints

    return load_checkpoints([p for p, _ in points], [lab for _, lab in points], ctx.model) if points else []
