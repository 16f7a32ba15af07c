"""Writers (issue 19): nothing the toolkit writes replaces a file it did not write itself (figures, pages and
reports carry a marker; ``--overwrite`` to replace anything else), links inside ``--out`` are not followed,
and the lock file is removed after a run."""

from __future__ import annotations

import pytest

from swa.errors import UserError
from swa.io import check_replaceable, our_kind
from swa.lock import LOCK_NAME

from support import cli
from plot_cases import write_line, write_plane


def _one_line_refusal(code: int, err: str, path) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert str(path) in lines[0] and "pass --overwrite to replace it" in lines[0] and "Traceback" not in err


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plot_never_replaces_a_users_figure_without_overwrite(tmp_path, capsys):
    plane = write_plane(tmp_path / "p", alphas=[0.0, 1.0, 2.0], betas=[0.0, 1.0])
    out = tmp_path / "figs"
    out.mkdir()
    (out / "plane.png").write_bytes(b"the user's own figure")
    code, _, err = cli(capsys, "plot", str(plane), "--out", str(out))
    _one_line_refusal(code, err, out / "plane.png")
    assert (out / "plane.png").read_bytes() == b"the user's own figure"
    code, _, err = cli(capsys, "plot", str(plane), "--out", str(out), "--overwrite")
    assert code == 0, err
    assert our_kind(out / "plane.png") == "png"
    code, _, err = cli(capsys, "plot", str(plane), "--out", str(out))  # our own figure: replaced freely
    assert code == 0, err
    assert not (out / LOCK_NAME).exists()  # the lock file goes with the run


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_every_figure_and_page_carries_the_marker(tmp_path, capsys):
    plane = write_plane(tmp_path / "p", alphas=[0.0, 1.0, 2.0], betas=[0.0, 1.0])
    line = write_line(tmp_path / "l", "SWA")
    out = tmp_path / "figs"
    code, _, err = cli(capsys, "plot", str(plane), str(line), "--out", str(out), "--format", "png", "pdf", "svg",
                       "--html")
    assert code == 0, err
    for stem in ("plane", "interp"):
        for kind in ("png", "pdf", "svg", "html"):
            assert our_kind(out / f"{stem}.{kind}") == kind, (stem, kind)
    (out / "interp.html").write_text("<html><head><title>mine</title></head></html>")
    code, _, err = cli(capsys, "plot", str(line), "--out", str(out), "--html")
    _one_line_refusal(code, err, out / "interp.html")
    assert (out / "interp.html").read_text() == "<html><head><title>mine</title></head></html>"


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_report_never_replaces_a_users_files_without_overwrite(tmp_path, capsys):
    line = write_line(tmp_path / "l", "SWA")
    out = tmp_path / "rep"
    out.mkdir()
    for name in ("report.html", "report.md"):
        (out / name).write_text(f"my own {name}")
        code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet")
        _one_line_refusal(code, err, out / name)
        assert (out / name).read_text() == f"my own {name}"
        assert not (out / "figures").exists()  # refused before drawing anything
        (out / name).unlink()
    (out / "figures").mkdir()
    (out / "figures" / "line-l.png").write_bytes(b"my own picture")
    code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet")
    _one_line_refusal(code, err, out / "figures" / "line-l.png")
    assert (out / "figures" / "line-l.png").read_bytes() == b"my own picture"
    code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet", "--overwrite")
    assert code == 0, err
    assert our_kind(out / "report.html") == "html" and our_kind(out / "report.md") == "md"
    assert our_kind(out / "figures" / "line-l.png") == "png"
    code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet")  # ours now: replaced freely
    assert code == 0, err
    assert not (out / LOCK_NAME).exists()


def _tree(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_symlinked_folder_or_file_inside_out_is_not_followed(tmp_path, capsys):
    line = write_line(tmp_path / "l", "SWA")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "line-l.png").write_bytes(b"not yours")
    (outside / "page.html").write_text("not yours either")
    before = _tree(outside)
    out = tmp_path / "rep"
    out.mkdir()
    (out / "figures").symlink_to(outside, target_is_directory=True)
    for extra in ([], ["--overwrite"]):
        code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet", *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "symbolic link" in err, err
        assert str(out / "figures") in err
        assert _tree(outside) == before
        assert set(p.name for p in outside.iterdir()) == {"line-l.png", "page.html"}
    (out / "figures").unlink()
    (out / "report.html").symlink_to(outside / "page.html")
    code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet")
    assert code == 2 and "symbolic link" in err and str(out / "report.html") in err, err
    assert _tree(outside) == before
    code, _, err = cli(capsys, "report", str(line), "--out", str(out), "--quiet", "--overwrite")
    assert code == 0, err  # the link itself is replaced, its target is untouched
    assert not (out / "report.html").is_symlink() and _tree(outside) == before


def test_check_replaceable(tmp_path):
    missing = tmp_path / "new.png"
    check_replaceable(missing, "png", overwrite=False)
    foreign = tmp_path / "plane.png"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(UserError, match="plane.png.*pass `overwrite=True` to replace it"):
        check_replaceable(foreign, "png", overwrite=False)
    check_replaceable(foreign, "png", overwrite=True)
    folder = tmp_path / "dir.png"
    folder.mkdir()
    with pytest.raises(UserError, match="directory"):
        check_replaceable(folder, "png", overwrite=True)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_a_landscape_commands_figure_honours_its_overwrite(tiny_run, tmp_path, capsys):
    """interp draws into its --out after saving: a foreign figure there is kept (exit 3, results saved, one line
    naming --overwrite), and --overwrite, which replaces what --out holds, replaces it."""
    out = tmp_path / "line"
    out.mkdir()
    (out / "interp.png").write_bytes(b"the user's own figure")
    args = ["interp", "--run", str(tiny_run.out), "--t", "0:1:2", "--out", str(out), "--device", "cpu", "--quiet"]
    code, _, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "--overwrite" in lines[0] and (out / "interp.npz").exists(), err
    assert (out / "interp.png").read_bytes() == b"the user's own figure"
    code, _, err = cli(capsys, *args, "--overwrite")
    assert code == 0, err
    assert our_kind(out / "interp.png") == "png"
