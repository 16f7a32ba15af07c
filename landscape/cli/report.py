"""``swa-landscape report``: every run and result under the given directories on one page.

Writes OUT/report.html (self-contained: plotly and the images inlined, opens offline), OUT/report.md
and OUT/figures/: the runs' settings, the results table, training curves, every plane (static and
interactive), line, ray set and sharpness result found, the Hessian spectrum when computed, and
for each how it was made (inputs, checkpoint SHA-256s, BN mode, seeds, versions). Sections appear
only for results that exist. Files in OUT are replaced only if the report wrote them (--overwrite
for any other); a symbolic link inside OUT is not followed.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from landscape.cli.plot import add_math_labels

    p = sub.add_parser("report", help="one HTML/Markdown page of every run and result under some directories",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("paths", nargs="+", metavar="RUN_OR_RESULT_DIR", help="run directories, result files or "
                   "directories holding them (searched a few levels deep)")
    p.add_argument("--out", required=True, metavar="DIR", help="where report.html, report.md and figures/ go")
    p.add_argument("--title", default=None, help="the page's title (default: Loss landscape report)")
    p.add_argument("--dpi", type=int, default=110, help="resolution of the figures (default 110)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    add_math_labels(p)
    p.add_argument("--overwrite", action="store_true",
                   help="replace report files in --out that swa-landscape did not write (default: refuse)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from landscape.report import build_report
    from swa.errors import UserError

    if any(not p.strip() for p in args.paths):
        raise UserError("an empty path was given (RUN_OR_RESULT_DIR)")
    if not 30 <= args.dpi <= 600:
        raise UserError(f"--dpi must be between 30 and 600, got {args.dpi}")
    say = (lambda _: None) if args.quiet else (lambda kind: print(f"report: drawing {kind} ..."))
    files = build_report(args.paths, args.out, title=args.title, dpi=args.dpi, progress=say,
                         math_labels=args.math_labels, overwrite=args.overwrite)
    shown = ", ".join(files.sections) or "no section"
    print(f"report: {len(files.sections)} sections ({shown}) -> {files.html} and {files.markdown}")
    return 0
