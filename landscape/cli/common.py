"""Pieces every subcommand shares: a parser whose errors are one line, and the common options."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

__all__ = ["OneLineParser", "add_common", "fail"]

PROG = "swa-landscape"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``swa-landscape: error: message`` as one line on stderr and exit with ``code``."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    raise SystemExit(code)


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (with a pointer to ``--help``)."""

    def error(self, message: str) -> NoReturn:
        fail(f"{self.prog}: {message} (see {self.prog} --help)")


def add_common(parser: argparse.ArgumentParser, *, out_default: str | None = None) -> None:
    """``--out``, ``--device`` and ``--seed``, which every subcommand has."""
    parser.add_argument("--out", default=out_default, metavar="DIR",
                        help="output directory" + (f" (default: {out_default})" if out_default else ""))
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                        help="where to compute (default: auto = CUDA when available)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
