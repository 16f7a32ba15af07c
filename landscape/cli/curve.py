"""``swa-landscape curve``: train a low-loss curve between two solutions and evaluate it beside the line.

A Bezier curve or a polygonal chain through ``--bends`` points (Garipov et al. 2018; ``swa.curves``) is
trained from ``--from A`` to ``--to B`` on the training data of the run (or of ``--model``/``--data``), then
train/test loss and accuracy are evaluated at ``--t`` along the curve and along the straight line between
its ends (``landscape.compute.curve``). With ``--run RUN_DIR``, A and B may be ``final`` or ``swa`` (the
default: the run's last SGD iterate to its SWA average). Both
steps resume after an interruption. The evaluation flags (``--batch-size``, ``--bn-pass``, ...) are those of
``plane``; the curve's training batch size is ``--train-batch-size``.
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common, add_landscape_args, settings_from_args
from landscape.cli.plot import add_plot_flags, draw_after

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("curve", help="train a low-loss curve between two checkpoints and evaluate it",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p)
    add_landscape_args(p)
    p.add_argument("--from", dest="start", default=None, metavar="A",
                   help="start checkpoint (t = 0); with --run also 'final' or 'swa'")
    p.add_argument("--to", dest="end", default=None, metavar="B",
                   help="end checkpoint (t = 1); with --run also 'final' or 'swa'")
    p.add_argument("--t", default=None, metavar="MIN:MAX:N", help="values of t in [0, 1] (default 0:1:61)")
    g = p.add_argument_group("curve training")
    g.add_argument("--kind", choices=("bezier", "polychain"), default="bezier",
                   help="a Bezier curve (default) or a polygonal chain through the bends")
    g.add_argument("--bends", type=int, default=3, metavar="N",
                   help="points of the curve, the two ends included (default 3: one bend to train)")
    g.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    g.add_argument("--lr", type=float, default=0.015, help="learning rate (default 0.015, the reference's)")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, default=5e-4, metavar="WD",
                   help="weight decay on the point of the curve, ½·wd·‖φ(t)‖² (default 5e-4)")
    g.add_argument("--train-batch-size", type=int, default=128, metavar="N", help="training batch size (128)")
    g.add_argument("--free-ends", action="store_true", help="train the endpoints too (default: fixed)")
    g.add_argument("--plane-grid", type=int, default=11, metavar="N",
                   help="also the plane through A, the middle bend and B, N x N points, the curve drawn on it "
                        "(default 11; 0: none)")
    g.add_argument("--init-noise", type=float, default=0.0, metavar="STD",
                   help="Gaussian noise on the middle bends at the start (default 0: on the straight line)")
    add_plot_flags(p, html=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import around_checkpoint, load_eval_context
    from landscape.compute.curve import DEFAULT_CURVE_T, compute_curve
    from landscape.geometry.grid import parse_axis
    from swa.curves import CurveConfig
    from swa.errors import UserError

    if args.out is None:
        raise UserError("curve needs --out DIR")
    if args.start is None and args.end is None and args.run is not None:  # a run's SGD iterate to its average
        args.start, args.end = "final", "swa"
    if args.start is None or args.end is None:
        raise UserError("curve needs --from A --to B (checkpoints; with --run also 'final' or 'swa', the default)")
    t_axis = parse_axis(args.t, "--t") if args.t is not None else DEFAULT_CURVE_T
    settings = settings_from_args(args)
    training = CurveConfig(kind=args.kind, bends=args.bends, epochs=args.epochs, lr=args.lr, momentum=args.momentum,
                           weight_decay=args.weight_decay, batch_size=args.train_batch_size,
                           fix_ends=not args.free_ends, init_noise=args.init_noise, seed=settings.seed,
                           device=settings.device)
    ctx = load_eval_context(args)
    labels = args.labels or [None, None]
    if len(labels) != 2:
        raise UserError(f"--labels takes two labels (start, end), got {len(labels)}")
    start = around_checkpoint(ctx, args.start, [labels[0]] if labels[0] else None, flag="--from")
    end = around_checkpoint(ctx, args.end, [labels[1]] if labels[1] else None, flag="--to")
    if args.plane_grid < 0 or args.plane_grid == 1:
        raise UserError(f"--plane-grid must be 0 (no plane) or at least 2, got {args.plane_grid}")
    result = compute_curve(ctx, start, end, args.out, settings, training, t=t_axis, plane_grid=args.plane_grid,
                           params=args.params)
    if result.is_main:
        print(result.summary_line())
        if result.plane is not None:
            print(result.plane.summary_line())
        draw_after(args, {"curve": [result.store.npz],
                          **({"plane": [result.plane.store.npz]} if result.plane is not None else {})})
    return 0
