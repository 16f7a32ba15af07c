"""Library wording to command-line flags, in one place.

Library errors name arguments in Python words, between backticks (:mod:`landscape.engine.checks`):
"`batch_size` must be at least 1", "`bn='interpolate'` needs two checkpoints", "pass `overwrite=True`".
When the console script reports such an error, :func:`to_flags` rewrites each of them into the flag the
user typed: "--batch-size must be at least 1", "--bn interpolate needs two checkpoints", "pass --overwrite".

The table is read from the argparse parsers themselves (:func:`flag_table`: each action's ``dest`` to its
option string), so a renamed flag cannot leave a stale name behind; :data:`ALIASES` adds only the Python
names that no parser spells the same way (the Python API's ``include_bn_and_bias`` is ``--include-bn-bias``).
A name in backticks that no subcommand knows is left as it is.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import re
import shlex
from typing import Any, Mapping, Optional

__all__ = ["ALIASES", "flag_table", "to_flags"]

# Python names (the API's, the library's) whose flag is spelled otherwise, per subcommand ("*": every one).
ALIASES: Mapping[str, Mapping[str, str]] = {
    "*": {"include_bn_and_bias": "--include-bn-bias", "pca_center": "--center", "output": "--out"},
    "plane": {"center": "--around"},
    "plot": {"formats": "--format", "metrics": "--metric"},  # landscape.plot.PlotOptions
    "export": {"fmt": "--format"},  # landscape.results.export.export_plane
}

_NAMED = re.compile(r"`([a-z_][a-z0-9_]*)(?:=([^`]*))?`")
_PLAIN = re.compile(r"[\w.:/,+@%=~-]+")  # a value the shell takes without quotes


def _long_option(action: argparse.Action) -> str:
    longs = [s for s in action.option_strings if s.startswith("--")]
    return (longs or action.option_strings)[0]


@functools.lru_cache(maxsize=1)
def flag_table() -> dict[str, dict[str, argparse.Action]]:
    """``{subcommand: {python name: argparse action}}`` of the console script; ``"*"`` holds the names of all
    subcommands together (the first subcommand that has a name wins). Each action's ``dest`` maps to the
    action; :data:`ALIASES` adds the Python names spelled otherwise, as the action owning that option."""
    from landscape.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    table: dict[str, dict[str, argparse.Action]] = {"*": {}}
    for command, subparser in sub.choices.items():
        by_option = {s: a for a in subparser._actions for s in a.option_strings}
        names = {a.dest: a for a in subparser._actions if a.option_strings and a.dest != "help"}
        for alias_scope in ("*", command):
            for name, option in ALIASES.get(alias_scope, {}).items():
                if option in by_option:
                    names[name] = by_option[option]
        table[command] = names
        for name, action in names.items():
            table["*"].setdefault(name, action)
    return table


def _shell_word(value: Any) -> str:
    text = str(value)
    return text if _PLAIN.fullmatch(text) else shlex.quote(text)


def _with_value(action: argparse.Action, value: str) -> str:
    """``--flag value`` for ``name=value`` (``value`` as Python wrote it)."""
    option = _long_option(action)
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):  # a placeholder (NAME) or an expression: as written
        return f"{option} {value}"
    if action.nargs == 0:  # a switch: name=True is --flag (name=False is --no-flag for a store_false;
        # the other value: no --flag)
        if parsed is action.const:
            return option
        return f"no {option}"
    if isinstance(parsed, dict):  # JSON options (--data-kwargs)
        return f"{option} {shlex.quote(json.dumps(parsed))}"
    if isinstance(parsed, str):
        return f"{option} {_shell_word(parsed)}"
    if isinstance(parsed, (list, tuple)) and parsed and all(isinstance(v, str) for v in parsed):
        return f"{option} {' '.join(_shell_word(v) for v in parsed)}"
    return f"{option} {value}"


def to_flags(message: str, command: Optional[str] = None) -> str:
    """``message`` with every argument in Python words (between backticks) written as the flag of
    ``command`` (else of any subcommand): "`batch_size=0`" → "--batch-size 0", "`overwrite=True`" →
    "--overwrite", "`bn='foo'`" → "--bn foo", "`max_points`" → "--max-points"."""
    table = flag_table()
    names = table.get(command or "*", {})

    def rewrite(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        action = names.get(name) or table["*"].get(name)
        if action is None:
            return match.group(0)
        return _long_option(action) if value is None else _with_value(action, value)

    return _NAMED.sub(rewrite, message)
