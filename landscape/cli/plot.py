"""``swa-landscape plot``: figures and interactive pages from result files and runs.

Accepts plane.npz, interp.npz, rays.npz, sharpness.json, run directories (training
curves) and directories holding any of these. Results of one kind are drawn on
shared axes (each plane on its own); one line is printed per file written.
"""

from __future__ import annotations

import argparse

from landscape.cli.common import add_common
from landscape.cli.flags import to_flags

__all__ = ["add_parser", "run", "add_plot_flags", "add_math_labels", "draw_after", "DRAWING_FAILED"]

#: exit status of a landscape command whose results were saved but whose figure could not be drawn
DRAWING_FAILED = 3


def add_plot_flags(p: argparse.ArgumentParser, html: bool = True) -> None:
    """``--no-plot`` (and ``--html``): what a landscape command draws next to its results when it finishes."""
    g = p.add_argument_group("figures")
    g.add_argument("--no-plot", action="store_true", help="do not draw the figure at the end")
    if html:
        g.add_argument("--html", action="store_true", help="also write the interactive page (plotly, offline)")
    add_math_labels(g)


def add_math_labels(p) -> None:
    """``--math-labels``: labels are plain text unless asked (a ``$`` in a folder's name is a dollar)."""
    p.add_argument("--math-labels", action="store_true",
                   help="draw $...$ in labels and names as math (matplotlib mathtext); default: plain text")


def draw_after(args: argparse.Namespace, files: dict) -> None:
    """Draw the default figures of ``files`` (kind → paths, already saved) into the folder of the first one.

    The results are on disk before this runs, so a failure to draw (whatever its cause: matplotlib,
    plotly, a full disk) does not fail the computation: the command ends with one line that names the
    saved file and the ``plot`` command that retries the drawing, and exit status 3 (results saved,
    figure missing), so that a script sees the figure is not there.
    """
    from pathlib import Path

    from landscape.cli.common import fail
    from landscape.plot.draw import PlotOptions, draw
    from swa.errors import UserError
    from landscape.results.read import read_result

    if args.no_plot:
        return
    saved = [Path(p) for paths in files.values() for p in paths]
    out = saved[0].parent
    html, math = getattr(args, "html", False), getattr(args, "math_labels", False)
    overwrite = bool(getattr(args, "overwrite", False))  # --overwrite replaces what --out holds, figures too
    try:
        results = {kind: [read_result(p)[1] for p in paths] for kind, paths in files.items()}
        written = draw(results, out, PlotOptions(html=html, math_labels=math, overwrite=overwrite))
    except Exception as exc:  # noqa: BLE001 - any drawing failure: the results are saved, say so and how to retry
        why = " ".join(f"{type(exc).__name__}: {exc}".split())
        why = why if len(why) <= 160 else why[:157] + "..."
        if isinstance(exc, UserError):  # our own message says what to do: keep it whole
            why = " ".join(to_flags(str(exc), args.command).split())
        retry = " ".join(["swa-landscape plot", *map(str, saved), "--out", str(out)]
                         + ["--html"] * bool(html) + ["--math-labels"] * bool(math) + ["--overwrite"] * overwrite)
        fail(f"results saved to {', '.join(map(str, saved))}; drawing the figure failed ({why}): "
             f"run {retry} to retry", code=DRAWING_FAILED)
    for path in written:
        print(f"wrote {path}")


def add_parser(sub) -> None:
    from landscape.plot.rays import BANDS
    from landscape.plot.style import FORMATS, PLOT_METRICS, WIDTHS

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
    p.add_argument("--metric", nargs="+", default=None, metavar="METRIC",
                   help=f"what to draw: {', '.join(PLOT_METRICS)}, or a forward_fn's own metric train_NAME / test_NAME "
                   "(default: train loss and test error; line: train/test loss and test error)")
    p.add_argument("--labels", nargs="+", default=None, help="series labels, in order (results of one kind)")
    p.add_argument("--width", choices=list(WIDTHS), default="double",
                   help="figure width: double (7 in, panels side by side) or single (3.3 in, stacked)")
    p.add_argument("--band", choices=list(BANDS), default="minmax", help="rays: min-max or mean ± 1 std band")
    p.add_argument("--dpi", type=int, default=200, help="resolution of PNGs (default 200; 30 to 600)")
    add_math_labels(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace files in --out that swa-landscape did not write (default: refuse)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.plot.draw import PlotOptions, draw_paths, parse_vmax
    from swa.errors import UserError

    from landscape.plot.style import metric

    if args.out is None:
        raise UserError("plot needs --out DIR")
    for name in args.metric or []:
        metric(name)  # an unknown name lists the valid ones
    if not 30 <= args.dpi <= 600:
        raise UserError(f"--dpi must be between 30 and 600, got {args.dpi}")
    options = PlotOptions(formats=tuple(dict.fromkeys(args.format)), html=args.html, vmax=parse_vmax(args.vmax),
                          log=args.log, metrics=tuple(args.metric) if args.metric else None,
                          labels=tuple(args.labels) if args.labels else None, width=args.width, band=args.band,
                          math_labels=args.math_labels, overwrite=args.overwrite, dpi=args.dpi)
    for path in draw_paths(args.inputs, args.out, options):
        print(f"wrote {path}")
    return 0
