"""``swa-landscape export``: a plane or curve result in another project's format.

``h5``: Li et al.'s surface file (their ``plot_2D.py`` / ``h52vtp.py``; needs ``h5py``, in the
``export`` extra); ``vtp``: a ParaView surface of one metric (optionally log10, clipped at
``--zmax``); ``mc-npz``: dnn-mode-connectivity's ``plane.npz`` (their ``plane_plot.py``). See
``landscape.results.export`` for the layouts. A curve (``curve.npz``) exports as ``mc-npz``: the reference's
``eval_curve.py`` file. The output replaces only an earlier export of the same format
(``--overwrite`` for any other file); a partly computed plane is exported with NaN where points are
missing, and a warning.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from landscape.results.export import FORMATS

    p = sub.add_parser("export", help="a plane result as h5 (Li et al.), vtp (ParaView) or mc-npz "
                       "(dnn-mode-connectivity)", description=__doc__.split(":", 1)[1].strip())
    p.add_argument("result", metavar="RESULT", help="a plane.npz or curve.npz, or the directory holding it")
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--out", dest="output", default=None, metavar="FILE",
                   help="output file (default beside the result: plane.h5, plane_<metric>.vtp, plane_mc.npz)")
    p.add_argument("--metric", default="train_loss", help="vtp: the metric drawn as height (default train_loss)")
    p.add_argument("--log", action="store_true", help="vtp: height log10 of the metric")
    p.add_argument("--zmax", type=float, default=None, help="vtp: clip the height at this value")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the output even if it is not an earlier export of this format")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import contextlib
    import sys
    from pathlib import Path

    from landscape.results.export import default_output, export_curve, export_plane
    from landscape.results.read import read_curve, read_plane
    from swa.errors import UserError
    from swa.lock import output_lock

    path = Path(args.result)
    if path.is_dir():
        path = path / "plane.npz" if (path / "plane.npz").exists() or not (path / "curve.npz").exists() \
            else path / "curve.npz"
    if not path.exists():
        raise UserError(f"{args.result}: no plane or curve result there (expected a plane.npz, a curve.npz or a "
                        "directory holding one)")
    curve = path.name == "curve.npz"
    data = read_curve(path) if curve else read_plane(path)
    out = Path(args.output) if args.output else default_output(data, args.format, args.metric)
    if out.parent.exists() and not out.parent.is_dir():
        raise UserError(f"--out {out}: {out.parent} is not a directory")
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(output_lock(out.parent))  # one writer per directory, as for every --out
        except OSError as exc:  # a folder we cannot write into: name the file asked for, not the lock file
            raise OSError(exc.errno, exc.strerror or str(exc), str(out)) from exc
        if curve:
            export_curve(data, args.format, out, overwrite=args.overwrite)
        else:
            export_plane(data, args.format, out, metric=args.metric, log=args.log, zmax=args.zmax,
                         overwrite=args.overwrite)
    print(f"wrote {out}")
    done, total = int(data.done.sum()), int(data.done.size)
    if done < total:
        print(f"swa-landscape: warning: {path} has {done} of {total} points computed; the other {total - done} "
              f"are NaN in {out}", file=sys.stderr)
    return 0
