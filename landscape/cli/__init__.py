"""The ``swa-landscape`` console script: a thin dispatcher over one module per subcommand.

Each subcommand module has ``add_parser(subparsers)`` and ``run(args) -> int``.
User errors (:class:`swa.errors.UserError`) become one line on stderr and exit code 2, the arguments the
library names in Python words written as this script's flags (:func:`landscape.cli.flags.to_flags`).
A command holds the lock of its ``--out`` directory while it runs (:mod:`swa.lock`).
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from landscape.cli.common import fail
from landscape.cli.flags import to_flags
from landscape.cli.parser import SUBCOMMANDS, build_parser

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

# Flags whose values may start with '-' (``--x -0.5:1.5:21``), which argparse would take for an option.
_RANGE_FLAGS = ("--x", "--y", "--t")


def _join_range_values(argv: Sequence[str]) -> list[str]:
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _RANGE_FLAGS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _writer_lock(args):
    """The lock of ``--out``: one writer per output directory (only rank 0 writes under torchrun)."""
    import contextlib
    import os

    from swa.lock import output_lock

    if getattr(args, "out", None) is None or os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return output_lock(args.out)


def _how_to_resume(args) -> str:
    """The exact advice for continuing an interrupted command."""
    if args.command == "train" and getattr(args, "out", None):
        return f"continue with: swa-landscape train --resume --out {args.out}"
    kept = {"demo": "finished runs and results are reused", "sharpness": "finished metrics are kept",
            "plot": "files already written are complete"}.get(args.command, "finished points are kept and skipped")
    return f"run the same command again: {kept}"


def main(argv: Optional[Sequence[str]] = None) -> int:
    from swa.errors import UserError

    argv = _join_range_values(sys.argv[1:] if argv is None else list(argv))
    args = build_parser().parse_args(argv)
    try:
        with _writer_lock(args):
            return int(args.handler(args) or 0)
    except UserError as exc:
        fail(to_flags(str(exc), args.command))
    except KeyboardInterrupt:
        fail(f"interrupted; finished work is saved ({_how_to_resume(args)})", code=130)
    except OSError as exc:  # disk full, permission denied, --out is a file, ...
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


if __name__ == "__main__":
    sys.exit(main())
