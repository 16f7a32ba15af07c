"""The console script's parser: one subparser per subcommand module, each adding its own flags.

Each module of :data:`SUBCOMMANDS` (``landscape.cli.<name>``) has ``add_parser(subparsers)``; it is imported
here, and imports its work only when it runs, so ``swa-landscape --help`` stays quick.
"""

from __future__ import annotations

import importlib

from landscape.cli.common import OneLineParser

__all__ = ["SUBCOMMANDS", "build_parser"]

SUBCOMMANDS = ("train", "plane", "interp", "rays", "curve", "sharpness", "plot", "export", "report", "demo")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="swa-landscape", description=(
        "Train SGD/SWA/PSWA trajectories and look at the loss landscape around them."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"landscape.cli.{name}").add_parser(sub)
    return parser
