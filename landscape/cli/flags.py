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

from landscape.cli.parser import build_parser

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
def flag_table() -> dict[str, dict[str, tuple[argparse.Action, ...]]]:
    """``{subcommand: {python name: its argparse actions}}`` of the console script; ``"*"`` holds the names of
    all subcommands together (the first subcommand that has a name wins). Each ``dest`` maps to the actions
    that set it, in the parser's order (two for a pair of switches such as ``--log``/``--linear``);
    :data:`ALIASES` adds the Python names spelled otherwise, as the action owning that option."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    table: dict[str, dict[str, tuple[argparse.Action, ...]]] = {"*": {}}
    for command, subparser in sub.choices.items():
        names: dict[str, tuple[argparse.Action, ...]] = {}
        for action in subparser._actions:
            if action.option_strings and action.dest != "help":
                names[action.dest] = names.get(action.dest, ()) + (action,)
        for alias_scope in ("*", command):
            for name, option in ALIASES.get(alias_scope, {}).items():
                if option in subparser._option_string_actions:
                    names[name] = (subparser._option_string_actions[option],)
        table[command] = names
        for name, actions in names.items():
            table["*"].setdefault(name, actions)
    return table


def _shell_word(value: Any) -> str:
    text = str(value)
    return text if _PLAIN.fullmatch(text) else shlex.quote(text)


def _with_value(actions: tuple[argparse.Action, ...], value: str) -> str:
    """``--flag value`` for ``name=value`` (``value`` as Python wrote it)."""
    option = _long_option(actions[0])
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):  # a placeholder (NAME) or an expression: as written
        return f"{option} {value}"
    if all(a.nargs == 0 for a in actions):  # switches: name=True is --flag, name=False --no-flag (store_false)
        chosen = [a for a in actions if a.const is parsed]
        return _long_option(chosen[0]) if chosen else f"no {option}"
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
        actions = names.get(name) or table["*"].get(name)
        if not actions:
            return match.group(0)
        return _long_option(actions[0]) if value is None else _with_value(actions, value)

    return _NAMED.sub(rewrite, message)
