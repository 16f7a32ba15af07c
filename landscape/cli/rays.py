"""``swa-landscape rays``: loss along random rays from each point and the basin width along them.

With ``--run RUN_DIR`` and no ``--points``, the rays start at the final SGD iterate
and at the SWA average (the SWA paper's Fig. 4).
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common, add_landscape_args, settings_from_args
from landscape.cli.plot import add_plot_flags, draw_after

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("rays", help="loss along random rays and the width of the basin",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p)
    add_landscape_args(p)
    p.add_argument("--points", nargs="+", default=None, metavar="CKPT", help="where the rays start")
    p.add_argument("--directions", type=int, default=10, help="random directions per point (10)")
    p.add_argument("--max-distance", type=float, default=20.0, help="length of each ray (20)")
    p.add_argument("--steps", type=int, default=21, help="points per ray, the start included (21)")
    p.add_argument("--delta", type=float, default=0.1, help="loss rise that defines the width (0.1)")
    p.add_argument("--normalization", choices=("unit", "filter", "layer", "none"), default="unit",
                   help="unit: uniform on the unit sphere (the SWA paper); filter: Li et al. 2018 (unit)")
    p.add_argument("--include-bn-bias", action="store_true",
                   help="with filter/layer normalization, perturb biases and BatchNorm parameters too")
    add_plot_flags(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import load_eval_context
    from landscape.engine.inputs import load_checkpoints
    from landscape.compute.options import Rays
    from landscape.compute.rays import compute_rays
    from swa.errors import UserError

    if args.out is None:
        raise UserError("rays needs --out DIR")
    rays = Rays(directions=args.directions, max_distance=args.max_distance, steps=args.steps, delta=args.delta,
                normalization=args.normalization, include_bn_and_bias=args.include_bn_bias)
    settings = settings_from_args(args)
    ctx = load_eval_context(args)
    paths, labels = args.points, args.labels
    if paths is None:
        if ctx.run is None:
            raise UserError("rays needs --points CKPT [CKPT ...] or --run RUN_DIR")
        paths = [p for p, _ in ctx.run.end_points()]
        labels = labels or [lab for _, lab in ctx.run.end_points()]
    points = load_checkpoints(paths, labels, ctx.model)
    result = compute_rays(ctx, points, args.out, settings, rays, params=args.params)
    if result.is_main:
        print(result.summary_line())
        draw_after(args, {"rays": [result.store.npz]})
    return 0
