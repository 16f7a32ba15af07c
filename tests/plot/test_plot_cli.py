"""``swa-landscape plot`` and the figures plane / interp / rays / sharpness draw when they finish (in-process)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from landscape.cli import main
from landscape.plot.html import network_references

from plot_cases import write_line, write_plane, write_rays, write_run, write_sharpness
from support import assert_picture


def _run(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def _wrote(stdout: str) -> list[str]:
    return [line[len("wrote "):] for line in stdout.splitlines() if line.startswith("wrote ")]


@pytest.mark.slow
def test_plot_draws_every_kind_one_line_per_file(tmp_path, capsys):
    src = tmp_path / "results"
    write_plane(src / "plane", nonfinite=True)
    write_line(src / "to_sgd", "SGD")
    write_line(src / "to_swa", "SWA", length=3.0)
    write_rays(src / "rays", nonfinite=True)
    write_sharpness(src / "sharp")
    write_run(src / "run_swa", "swa")
    write_run(src / "run_pswa", "pswa")
    code, out, err = _run(capsys, ["plot", str(src), "--out", str(tmp_path / "fig"), "--html"])
    assert code == 0, err
    files = _wrote(out)
    assert len(files) == len(out.strip().splitlines())
    names = sorted(p.rsplit("/", 1)[1] for p in files)
    assert names == sorted(["plane.png", "plane.html", "interp.png", "interp.html", "rays.png", "rays.html",
                            "sharpness.png", "spectrum.png", "curves.png"])
    for f in files:
        if f.endswith(".png"):
            assert_picture(f)
        else:
            assert network_references(open(f, encoding="utf-8").read()) == []


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plot_options(tmp_path, capsys):
    a = write_plane(tmp_path / "a", regression=True)
    code, out, err = _run(capsys, ["plot", str(a), "--out", str(tmp_path / "o"), "--format", "pdf", "svg",
                                   "--linear", "--vmax", "train_loss=2", "--metric", "train_loss", "test_loss",
                                   "--width", "single"])
    assert code == 0, err
    assert sorted(p.rsplit("/", 1)[1] for p in _wrote(out)) == ["plane.pdf", "plane.svg"]


@pytest.mark.slow  # two figures (over 1 s): not in make test-fast
def test_plot_dpi(tmp_path, capsys):
    """``--dpi`` sets the PNG's resolution: the pixel size scales with it, and the file records it."""
    from PIL import Image

    a = write_plane(tmp_path / "a")
    sizes = {}
    for dpi in (50, 100):
        code, out, err = _run(capsys, ["plot", str(a), "--out", str(tmp_path / f"o{dpi}"), "--dpi", str(dpi)])
        assert code == 0, err
        with Image.open(tmp_path / f"o{dpi}" / "plane.png") as im:
            sizes[dpi] = im.size
            assert round(im.info["dpi"][0]) == dpi
    assert sizes[100][0] == pytest.approx(2 * sizes[50][0], abs=2)


def test_plot_run_directory(tiny_run, tmp_path, capsys):
    code, out, err = _run(capsys, ["plot", str(tiny_run.out), "--out", str(tmp_path)])
    assert code == 0, err
    assert _wrote(out) == [str(tmp_path / "curves.png")]
    assert_picture(tmp_path / "curves.png")


def _text(path):
    path.write_text("x")
    return path


@pytest.mark.parametrize("setup,extra,pattern", [
    (lambda d: _text(d / "notes.txt"), [], r"cannot plot .*notes\.txt"),
    (lambda d: (d / "notes.txt").write_text("x") and None, [], r"holds no result to plot"),
    (lambda d: np.savez(d / "plane.npz", alphas=np.arange(2.0)), [], r"missing betas"),
    (lambda d: np.savez(
        d / "plane.npz", alphas=np.zeros(0), betas=np.zeros(2), train_loss=np.zeros((0, 2)),
        train_acc=np.zeros((0, 2)), test_loss=np.zeros((0, 2)), test_acc=np.zeros((0, 2))), [], r"non-empty"),
    (lambda d: (d / "plane.npz").write_bytes(b"PK\x03\x04 not a zip") and None, [], r"cannot read"),
    (lambda d: write_line(d, "SWA"), ["--vmax", "lots"], r"--vmax takes V or METRIC=V"),
    (lambda d: write_line(d, "SWA"), ["--labels", "a", "b"], r"2 labels for 1 lines"),
    (lambda d: write_line(d, "SWA", regression=True), ["--metric", "test_err"], r"no test_err"),
])
def test_plot_bad_input_is_one_line(tmp_path, capsys, setup, extra, pattern):
    src = tmp_path / "in"
    src.mkdir()
    target = setup(src) or src  # a file the case names, else the folder
    code, out, err = _run(capsys, ["plot", str(target), "--out", str(tmp_path / "o"), *extra])
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(pattern, err), err
    assert "Traceback" not in err


def test_plot_needs_out_and_inputs(tmp_path, capsys):
    code, _, err = _run(capsys, ["plot", str(tmp_path)])
    assert code == 2 and "plot needs --out DIR" in err
    code, _, err = _run(capsys, ["plot", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert code == 2 and "does not exist" in err


# ---------------------------------------------------------------- the commands' own figures
def _cmd(name, run_dir, out, *extra):
    return [name, "--run", str(run_dir), "--out", str(out), "--device", "cpu", "--quiet", *extra]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_plane_draws_its_figure(tiny_run, tmp_path, capsys):
    code, out, err = _run(capsys, _cmd("plane", tiny_run.out, tmp_path, "--grid", "3", "--html"))
    assert code == 0, err
    assert _wrote(out) == [str(tmp_path / "plane.png"), str(tmp_path / "plane.html")]
    assert_picture(tmp_path / "plane.png")
    code, out, err = _run(capsys, _cmd("plane", tiny_run.out, tmp_path / "quiet", "--grid", "2", "--no-plot"))
    assert code == 0 and not _wrote(out) and not list((tmp_path / "quiet").glob("*.png"))


@pytest.mark.slow
def test_interp_rays_sharpness_draw_their_figures(tiny_run, tmp_path, capsys):
    for argv, name in (
            (_cmd("interp", tiny_run.out, tmp_path / "i", "--t", "-1:2:7"), "interp"),
            (_cmd("rays", tiny_run.out, tmp_path / "r", "--directions", "2", "--steps", "3", "--max-distance", "5"),
             "rays"),
            (_cmd("sharpness", tiny_run.out, tmp_path / "s", "--metrics", "hessian_trace", "hessian_top_eigenvalues",
                  "--trace-matvecs", "3", "--top-k", "2", "--samples", "200"), "sharpness")):
        code, out, err = _run(capsys, argv)
        assert code == 0, err
        png = argv[argv.index("--out") + 1] + f"/{name}.png"
        assert _wrote(out) == [png]
        assert_picture(png)


# ---------------------------------------------------------------- a failed drawing keeps the results (issue 19)
def _boom(*args, **kwargs):
    raise RuntimeError("matplotlib broke\nover two lines")


@pytest.mark.parametrize("name,target,extra", [
    ("plane", "landscape.plot.plane.plane_figure", ["--grid", "2"]),
    ("interp", "landscape.plot.line.line_figure", ["--t", "0:1:3"]),
    ("rays", "landscape.plot.draw.save_figure", ["--directions", "2", "--steps", "2", "--max-distance", "1"]),
])
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_drawing_failure_keeps_the_results_and_says_so(tiny_run, tmp_path, capsys, monkeypatch, name, target, extra):
    out = tmp_path / name
    with monkeypatch.context() as m:
        m.setattr(target, _boom)
        code, stdout, err = _run(capsys, _cmd(name, tiny_run.out, out, *extra))
    saved = out / f"{name}.npz"
    assert code == 3, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert f"results saved to {saved}" in err and "drawing the figure failed (RuntimeError: matplotlib broke" in err
    assert saved.exists() and saved.with_suffix(".json").exists()
    retry = err.split("run swa-landscape ", 1)[1].rsplit(" to retry", 1)[0].split()
    assert retry == ["plot", str(saved), "--out", str(out)]
    code, stdout, err = _run(capsys, retry)  # the retry the line gives works
    assert code == 0, err
    assert _wrote(stdout) == [str(out / f"{name}.png")]
