"""Issue 22: library errors name Python arguments ("`batch_size=0`", "`bn='foo'`"); the console script alone
speaks in flags, through one mapping read from its parsers (landscape.cli.flags)."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from landscape.cli import build_parser, main
from landscape.cli.flags import ALIASES, flag_table, to_flags
from swa.config import TrainConfig
from swa.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FLAG = re.compile(r"(?<![\w-])--[a-z]")

# Files whose messages still name flags, to be reworded when the concurrent signature rewrite of these files
# lands (issue 22's report lists each message and its Python wording). Empty this as they are converted: a file
# listed here that no longer names a flag fails too, so the list cannot go stale.
PENDING: set[str] = set()  # files whose messages still name flags (none)


def _flag_raises(source: str) -> list[int]:
    """The lines of every ``raise`` whose string constants name a ``--flag``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            texts = [c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            if any(FLAG.search(t) for t in texts):
                found.append(node.lineno)
    return found


def _library_files() -> dict[str, str]:
    """``{path: source}`` of every module outside ``landscape/cli/``, ``swa/`` included."""
    files = [*sorted((ROOT / "swa").rglob("*.py")), *sorted((ROOT / "landscape").rglob("*.py"))]
    cli = ROOT / "landscape" / "cli"
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in files if not p.is_relative_to(cli)}


def test_no_library_error_names_a_flag():
    files = _library_files()
    assert len(files) > 50 and "swa/config.py" in files and "landscape/cli/flags.py" not in files
    offending = [f"{name}:{line}" for name, source in files.items() if name not in PENDING
                 for line in _flag_raises(source)]
    assert offending == [], "library errors must name Python arguments (`name=value`), not flags"
    stale = [name for name in PENDING if not _flag_raises(files[name])]
    assert stale == [], "converted: remove these from PENDING"


def test_the_scan_sees_a_flag_in_a_raise():
    """The check above can fail: the scan finds flags in plain and formatted strings, not in Python wording."""
    source = ('raise UserError("pass --overwrite")\n'
              'raise UserError(f"{path}: pass --bn-samples N")\n'
              'raise UserError(f"pass `overwrite=True`; not-a--flag, x--y")\n')
    assert _flag_raises(source) == [1, 2]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_dest_of_every_subcommand_maps_to_its_own_option():
    table = flag_table()
    for command, sub in _subparsers().items():
        overridden = set(ALIASES.get(command, {})) | set(ALIASES["*"])
        for action in sub._actions:
            if not action.option_strings or action.dest == "help" or action.dest in overridden:
                continue
            mapped = table[command][action.dest]
            assert action.option_strings in [a.option_strings for a in mapped], (command, action.dest)
            flag = to_flags(f"`{action.dest}`", command)
            assert flag in mapped[0].option_strings and flag.startswith("--"), (command, action.dest, flag)
            assert sub._option_string_actions[flag].dest == action.dest


def test_every_alias_names_an_option_that_exists():
    subs = _subparsers()
    for scope, aliases in ALIASES.items():
        parsers = list(subs.values()) if scope == "*" else [subs[scope]]
        for name, option in aliases.items():
            owners = [p for p in parsers if option in p._option_string_actions]
            assert owners, (scope, name, option)
            for p in owners:  # and the alias is what the table gives for that subcommand
                command = next(c for c, s in subs.items() if s is p)
                assert to_flags(f"`{name}`", command) == option


@pytest.mark.parametrize("message,command,expected", [
    ("`batch_size` must be a positive integer, got 0", "plane", "--batch-size must be a positive integer, got 0"),
    ("`batch_size=0`", "plane", "--batch-size 0"),
    ("pass `overwrite=True` to replace them", "plot", "pass --overwrite to replace them"),
    ("`bn='foo'` is not one of", "interp", "--bn foo is not one of"),
    ("`t` must be a non-empty 1-D array", "interp", "--t must be a non-empty 1-D array"),
    ("`include_bn_and_bias=True` clashes", "rays", "--include-bn-bias clashes"),
    ("`include_bn_and_bias=False`", "plane", "no --include-bn-bias"),
    ("`hessian_samples=100`", "plane", "--hessian-samples 100"),
    ("`self_check=False`", "rays", "--no-self-check"),
    ("`log=False`", "plot", "--linear"),
    ("`log=True`", "plot", "--log"),
    ("`start='a.pt'`", "interp", "--from a.pt"),
    ("`center=CKPT`", "plane", "--around CKPT"),
    ("`pca_center='mean'`", "plane", "--center mean"),
    ("`out='/tmp/a b'` is a file", "train", "--out '/tmp/a b' is a file"),
    ("`labels=['one', 'two words']`", "plot", "--labels one 'two words'"),
    ("pass `data_kwargs={'scale': 255}`", "train", "pass --data-kwargs '{\"scale\": 255}'"),
    ("`lr_min=1.0` must not exceed `lr=0.1`", "train", "--lr-min 1.0 must not exceed --lr 0.1"),
    ("`data=NAME` (or `run=RUN_DIR`)", "plane", "--data NAME (or --run RUN_DIR)"),
    ("`max_points=5000`", None, "--max-points 5000"),
    ("`forward_fn` has no flag; `x.transpose(0, 1)` is code", "plane",
     "`forward_fn` has no flag; `x.transpose(0, 1)` is code"),
])
def test_python_words_become_flags(message, command, expected):
    assert to_flags(message, command) == expected


def test_the_library_says_python_names_and_the_console_script_says_flags(capsys, tmp_path):
    """One refusal, two audiences: TrainConfig names the field; ``swa-landscape train`` names the flag."""
    with pytest.raises(ConfigError) as exc:
        TrainConfig(model="mlp", data="toy2d", out=str(tmp_path / "api"), momentum=3.0, lr=0.1)
    assert str(exc.value) == "`momentum` must be in [0, 1), got 3.0"
    with pytest.raises(ConfigError) as exc:
        TrainConfig(model="mlp", data="toy2d", out=str(tmp_path / "api"), lr=0.1, lr_min=1.0)
    assert str(exc.value) == "`lr_min=1.0` must not exceed `lr=0.1`"

    for flags, line in ((["--momentum", "3"], "--momentum must be in [0, 1), got 3.0"),
                        (["--lr", "0.1", "--lr-min", "1"], "--lr-min 1.0 must not exceed --lr 0.1")):
        with pytest.raises(SystemExit) as stop:
            main(["train", "--data", "toy2d", "--out", str(tmp_path / "run"), "--quiet", *flags])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err == f"swa-landscape: error: {line}\n"
        assert "`" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "api").exists()
