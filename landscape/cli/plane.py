"""``swa-landscape plane``: loss and accuracy on the plane through three checkpoints.

With ``--run RUN_DIR`` the anchors default to the first, middle and last
trajectory points (the SWA paper's experiment) and every trajectory point, the
final SGD iterate and the SWA average are projected onto the plane.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from landscape.cli.common import add_common, add_landscape_args, settings_from_args
from landscape.cli.plot import add_plot_flags, draw_after

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("plane", help="loss/accuracy on the plane through three checkpoints",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p, out_default=None)
    add_landscape_args(p)
    p.add_argument("--points", nargs=3, default=None, metavar=("A", "B", "C"),
                   help="the three checkpoints spanning the plane (default with --run: first, middle, last point)")
    p.add_argument("--trajectory", nargs="+", default=[], metavar="CKPT", help="more checkpoints to project")
    p.add_argument("--grid", type=int, default=21, help="grid points per axis of the default grid (21)")
    p.add_argument("--margin", type=float, default=0.2, help="margin around anchors and trajectory, "
                   "as a fraction of their extent (0.2)")
    p.add_argument("--x", default=None, metavar="MIN:MAX:N", help="explicit grid along û")
    p.add_argument("--y", default=None, metavar="MIN:MAX:N", help="explicit grid along v̂")
    add_plot_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import landscape_specs
    from landscape.geometry import parse_axis
    from landscape.inputs import load_checkpoints, load_context
    from landscape.affine_plane import compute_plane
    from swa.checkpoint import split_key
    from swa.errors import UserError

    if args.out is None:
        raise UserError("plane needs --out DIR")
    x_axis = parse_axis(args.x, "--x") if args.x is not None else None
    y_axis = parse_axis(args.y, "--y") if args.y is not None else None
    settings = settings_from_args(args)
    ctx = load_context(args.run, *landscape_specs(args))
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
    result = compute_plane(ctx, anchors, args.out, settings, trajectory=_load(traj, ctx), marked=_load(marks, ctx),
                           x_axis=x_axis, y_axis=y_axis, grid=args.grid, margin=args.margin,
                           params=args.params)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"plane": [result.store.npz]})
    return 0


def _load(points, ctx):
    from landscape.inputs import load_checkpoints

    return load_checkpoints([p for p, _ in points], [lab for _, lab in points], ctx.model) if points else []
