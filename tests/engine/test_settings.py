"""Settings checks its choices at the boundary; the demo recomputes only for stale results (issue 9.4)."""

from __future__ import annotations

import pytest

from landscape.study.run import _reuse_or_redo
from landscape.engine.settings import Settings
from landscape.results.store import StaleResultsError
from swa.errors import UserError


@pytest.mark.parametrize("field,value", [("precision", "fp16"), ("bn", "bogus"), ("bn_pass", "twice"),
                                         ("max_points", 0), ("chunk", 0)])
def test_settings_refuse_unknown_choices(field, value):
    with pytest.raises(UserError, match=f"^`{field}`"):  # the Python name: the console script maps it
        Settings(**{field: value})


def test_log_is_where_lines_go_and_never_compared_or_recorded():
    """``Settings.log`` (issue 22, the former ``log=``) changes what is shown, never the numbers."""
    lines: list[str] = []
    quiet, collecting = Settings(log=lambda _: None), Settings(log=lines.append)
    assert quiet == collecting == Settings() and Settings().log is print
    assert "log" not in Settings(log=lines.append).to_json() and "log" not in repr(collecting)
    with pytest.raises(UserError, match=r"^`log` must be a function taking one line, got str$"):
        Settings(log="quiet")


def test_demo_redoes_only_stale_results():
    calls = []

    def stale_then_fine(overwrite):
        calls.append(overwrite)
        if not overwrite:
            raise StaleResultsError("results of other inputs")
        return "redone"

    assert _reuse_or_redo(stale_then_fine) == "redone" and calls == [False, True]

    def other_error(overwrite):  # same words, another error: not swallowed
        raise UserError("cannot read x: results of other inputs")

    with pytest.raises(UserError, match="cannot read"):
        _reuse_or_redo(other_error)
