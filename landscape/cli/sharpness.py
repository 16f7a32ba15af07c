"""``swa-landscape sharpness``: flatness in numbers, checkpoints side by side.

Writes ``sharpness.json`` (per checkpoint: train/test loss and accuracy and every
metric with its settings and uncertainty) and ``sharpness.md`` (a table); with
``--eigenvectors`` also the top Hessian eigenvectors (``eigenvectors.pt``) and each
checkpoint's plane directions along the top two (``hessian-directions-<i>.pt``). With
``--run RUN_DIR [RUN_DIR ...]`` the checkpoints are each run's final SGD iterate
and its average (SWA or PSWA).
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common, add_data_model_args, add_params_arg, samples_help
from landscape.cli.plot import add_plot_flags, draw_after

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("sharpness", help="Hessian spectrum, ε-/adaptive sharpness, PAC-Bayes σ, ray width",
                       description=__doc__.split(":", 1)[1].strip())
    add_common(p)
    p.add_argument("--run", nargs="+", default=None, metavar="RUN_DIR", help="runs: final iterate and average of each")
    add_data_model_args(p)
    p.add_argument("--points", nargs="+", default=None, metavar="CKPT", help="checkpoints to measure")
    p.add_argument("--labels", nargs="+", default=None, help="labels of the checkpoints, in order")
    p.add_argument("--metrics", nargs="+", default=None, metavar="NAME",
                   help="metrics to compute, or 'all' (default: Hessian top eigenvalues and trace, ε-sharpness, "
                   "adaptive average/worst-case, PAC-Bayes σ, ray width; names in the README)")
    p.add_argument("--samples", type=int, default=None, metavar="N", help=samples_help(test=False))
    p.add_argument("--bn", choices=("fixed", "recompute"), default="fixed",
                   help="BatchNorm statistics: the checkpoint's own, eval mode, as PyHessian (default), or "
                   "recomputed once at the point on the training inputs (a different function, other Hessian)")
    p.add_argument("--batch-size", type=int, default=2048, help="batch size of the sums (2048)")
    p.add_argument("--eigenvectors", action="store_true",
                   help="also write the top-k Hessian eigenvectors: OUT/eigenvectors.pt, and per checkpoint i "
                   "OUT/hessian-directions-i.pt (the top two) for plane --load-directions")
    add_params_arg(p)
    g = p.add_argument_group("metric settings")
    g.add_argument("--top-k", type=int, default=5, help="top Hessian eigenvalues (5)")
    g.add_argument("--trace-matvecs", type=int, default=30, help="Hutch++ Hessian-vector products (30)")
    g.add_argument("--eps", type=float, nargs="+", default=[1e-3, 5e-4], help="ε of ε-sharpness (1e-3 5e-4)")
    g.add_argument("--subspace-dim", type=int, default=100, help="random subspace of ε-sharpness (100)")
    g.add_argument("--rho-average", type=float, default=0.1, help="ρ of average-case adaptive sharpness (0.1)")
    g.add_argument("--rho-worst-l2", type=float, default=0.5, help="ρ of worst-case adaptive ℓ2 sharpness (0.5)")
    g.add_argument("--rho-worst-linf", type=float, default=0.01, help="ρ of worst-case adaptive ℓ∞ (0.01)")
    g.add_argument("--pac-target", type=float, default=0.1, help="loss rise defining PAC-Bayes σ (0.1)")
    g.add_argument("--directions", type=int, default=10, help="ray-width directions (10)")
    g.add_argument("--max-distance", type=float, default=20.0, help="ray length (20)")
    g.add_argument("--delta", type=float, default=0.1, help="loss rise defining the ray width (0.1)")
    p.add_argument("--overwrite", action="store_true", help="replace results of other inputs in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_plot_flags(p, html=False)
    p.set_defaults(handler=run)


def _run_points(run_dirs):
    """(paths, labels) of each run's final iterate and average; model and data must agree across runs."""
    from swa.errors import UserError
    from swa.rundir import open_run

    runs = [open_run(r) for r in run_dirs]
    first = runs[0].config
    for r in runs[1:]:
        if r.config.model != first.model or r.config.data != first.data:
            raise UserError(f"runs {runs[0].path} and {r.path} differ in model or data; measure them separately")
    methods = [r.config.method for r in runs]
    paths, labels = [], []
    for r in runs:
        method = r.config.method.upper()
        name = f"{r.path.name} " if methods.count(r.config.method) > 1 else ""
        (final, final_label), *average = r.end_points()
        paths.append(final)
        labels.append(f"{name}{final_label}" + (f" ({method} run)" if len(runs) > 1 and method != "SGD" else ""))
        for path, label in average:
            paths.append(path)
            labels.append(f"{name}{label}")
    return str(runs[0].path), paths, labels


def run(args: argparse.Namespace) -> int:
    from landscape.cli.common import landscape_specs, settings_from_args
    from landscape.engine.inputs import load_checkpoints, load_context
    from landscape.curvature.sharpness import check_eigenvectors, compute_sharpness, parse_metrics, sharpness_settings
    from swa.errors import UserError

    if args.out is None:
        raise UserError("sharpness needs --out DIR")
    metrics = parse_metrics(args.metrics)
    check_eigenvectors(args.eigenvectors, metrics)
    for name in ("samples", "batch_size", "top_k", "trace_matvecs", "subspace_dim", "directions"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if args.trace_matvecs < 3:  # checked before any work
        raise UserError(f"--trace-matvecs must be at least 3 (Hutch++ splits it in three), got {args.trace_matvecs}")
    evaluation = settings_from_args(args)  # what the Python API takes as settings=
    settings = sharpness_settings(
        evaluation, top_k=args.top_k, trace_matvecs=args.trace_matvecs, eps=tuple(args.eps),
        subspace_dim=args.subspace_dim, rho_average=args.rho_average, rho_worst_l2=args.rho_worst_l2,
        rho_worst_linf=args.rho_worst_linf, pac_target=args.pac_target, directions=args.directions,
        max_distance=args.max_distance, delta=args.delta)
    run_dir, paths, labels = None, args.points, args.labels
    if args.run:
        run_dir, run_paths, run_labels = _run_points(args.run)
        if paths is None:
            paths, labels = run_paths, labels or run_labels
    if paths is None:
        raise UserError("sharpness needs --points CKPT [CKPT ...] or --run RUN_DIR [RUN_DIR ...]")
    ctx = load_context(run_dir, *landscape_specs(args))
    points = load_checkpoints(paths, labels, ctx.model)
    if len({p.label for p in points}) != len(points):
        raise UserError("checkpoint labels must be distinct; pass --labels")
    result = compute_sharpness(ctx, points, args.out, settings, evaluation=evaluation, metrics=metrics,
                               params=args.params, eigenvectors=args.eigenvectors)
    print(result.summary_line())
    draw_after(args, {"sharpness": [result.json_path]})
    return 0
