"""``swa-landscape plot``: figures and interactive pages from result files and runs.

Accepts plane.npz, interp.npz, rays.npz, sharpness.json, run directories (training
curves) and directories holding any of these. Results of one kind are drawn on
shared axes (each plane on its own); one line is printed per file written.
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common

__all__ = ["add_parser", "run", "add_plot_flags"]


def add_plot_flags(p: argparse.ArgumentParser, html: bool = True) -> None:
    """``--no-plot`` (and ``--html``): what a landscape command draws next to its results when it finishes."""
    g = p.add_argument_group("figures")
    g.add_argument("--no-plot", action="store_true", help="do not draw the figure at the end")
    if html:
        g.add_argument("--html", action="store_true", help="also write the interactive page (plotly, offline)")


def draw_after(args: argparse.Namespace, files: dict) -> None:
    """Draw the default figures of ``files`` (kind → paths) into the folder of the first one."""
    from pathlib import Path

    from landscape.plot.draw import PlotOptions, draw
    from landscape.plot.results import read_result

    if args.no_plot:
        return
    results = {kind: [read_result(p)[1] for p in paths] for kind, paths in files.items()}
    out = Path(next(iter(files.values()))[0]).parent
    for path in draw(results, out, PlotOptions(html=getattr(args, "html", False))):
        print(f"wrote {path}")


def add_parser(sub) -> None:
    from landscape.plot.rays import BANDS
    from landscape.plot.style import FORMATS, METRICS, WIDTHS

    p = sub.add_parser("plot", help="figures and interactive pages from result files and runs",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                   help="plane.npz, interp.npz, rays.npz, sharpness.json, a run directory, or a directory of them")
    add_common(p)
    p.add_argument("--format", nargs="+", choices=FORMATS, default=["png"], help="static formats (png)")
    p.add_argument("--html", action="store_true", help="also write interactive pages (plane, line, rays)")
    p.add_argument("--vmax", nargs="+", default=None, metavar="[METRIC=]V",
                   help="where a plane's colours saturate: one value for every panel, or METRIC=V each "
                   "(default: min(max, 10 × median) of the grid)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--log", dest="log", action="store_true", default=True,
                       help="log scale for losses and log-spaced contour levels (default)")
    scale.add_argument("--linear", dest="log", action="store_false", help="linear scale and levels")
    p.add_argument("--metric", nargs="+", choices=list(METRICS), default=None,
                   help="what to draw (default: train loss and test error; line: train/test loss and test error)")
    p.add_argument("--labels", nargs="+", default=None, help="series labels, in order (results of one kind)")
    p.add_argument("--width", choices=list(WIDTHS), default="double",
                   help="figure width: double (7 in, panels side by side) or single (3.3 in, stacked)")
    p.add_argument("--band", choices=list(BANDS), default="minmax", help="rays: min-max or mean ± 1 std band")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.plot.draw import PlotOptions, draw_paths, parse_vmax
    from swa.errors import UserError

    if args.out is None:
        raise UserError("plot needs --out DIR")
    options = PlotOptions(formats=tuple(dict.fromkeys(args.format)), html=args.html, vmax=parse_vmax(args.vmax),
                          log=args.log, metrics=tuple(args.metric) if args.metric else None,
                          labels=tuple(args.labels) if args.labels else None, width=args.width, band=args.band)
    for path in draw_paths(args.inputs, args.out, options):
        print(f"wrote {path}")
    return 0
