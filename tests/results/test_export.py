"""Exports (issue 11): the h5 file has Li et al.'s keys and the layout their plot_2D.py draws, the mc-npz
dnn-mode-connectivity's keys and units, and the vtp opens with VTK's own reader with the grid's points."""

from __future__ import annotations

import builtins

import h5py
import numpy as np
import pytest

from landscape.results.export import export_plane
from landscape.results.read import read_plane

from support import cli
from plot_cases import bowl, write_plane

ALPHAS, BETAS = np.linspace(-1.0, 2.0, 7), np.linspace(-2.0, 1.5, 5)  # not square: the layout must be right


@pytest.fixture
def plane(tmp_path):
    return write_plane(tmp_path / "p", alphas=ALPHAS, betas=BETAS)


def test_h5_has_li_et_al_keys_and_layout(plane, tmp_path, capsys):
    code, out, err = cli(capsys, "export", str(plane.parent), "--format", "h5")
    assert code == 0, err and "plane.h5" in out
    with h5py.File(plane.parent / "plane.h5", "r") as f:
        assert {"xcoordinates", "ycoordinates", "train_loss", "train_acc", "test_loss", "test_acc", "proj_xcoord",
                "proj_ycoord"} <= set(f)
        x, y = f["xcoordinates"][:], f["ycoordinates"][:]
        Z = f["train_loss"][:]
        acc = f["train_acc"][:]
        px, py = f["proj_xcoord"][:], f["proj_ycoord"][:]
    np.testing.assert_array_equal(x, ALPHAS)
    np.testing.assert_array_equal(y, BETAS)
    X, Y = np.meshgrid(x, y)  # what plot_2D.py does before contour(X, Y, Z)
    assert Z.shape == X.shape
    np.testing.assert_allclose(Z, bowl(X, Y))
    np.testing.assert_allclose(acc, 100 * np.clip(1 - 0.05 * bowl(X, Y), 0, 1))  # percent, as theirs
    np.testing.assert_allclose(np.c_[px, py], [[0, 0], [0.4, 0.3], [0.8, 0.5], [1.2, 0.0], [0.5, -0.3]])


def test_mc_npz_has_dnn_mode_connectivity_keys(plane, tmp_path):
    out = export_plane(read_plane(plane), "mc-npz", tmp_path / "mc" / "plane.npz")
    with np.load(out) as f:
        assert {"grid", "alphas", "betas", "tr_loss", "tr_nll", "tr_acc", "tr_err", "te_loss", "te_nll", "te_acc",
                "te_err", "bend_coordinates", "curve_coordinates", "ts"} <= set(f.files)
        grid = f["grid"]
        assert grid.shape == (7, 5, 2)
        np.testing.assert_allclose(f["tr_loss"], bowl(grid[:, :, 0], grid[:, :, 1]))  # plane_plot: contour(grid, ..)
        np.testing.assert_allclose(f["tr_err"], 100 - f["tr_acc"])
        np.testing.assert_allclose(f["te_loss"], 1.5 * f["tr_loss"] + 0.02)
        bends = f["bend_coordinates"]
        np.testing.assert_allclose(bends[[0, 2]], [[0, 0], [1.2, 0]])  # the two anchors on the x axis
        np.testing.assert_allclose(bends[1], [0.3, 0.9])
        assert f["curve_coordinates"].shape == (5, 2) and len(f["ts"]) == 5


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("log", [False, True])
def test_vtp_opens_with_the_vtk_reader(tmp_path, log):
    vtk = pytest.importorskip("vtk")
    from vtk.util.numpy_support import vtk_to_numpy

    plane = write_plane(tmp_path / "p", alphas=ALPHAS, betas=BETAS, nonfinite=True)
    data = read_plane(plane)
    out = export_plane(data, "vtp", metric="test_loss", log=False) if not log else \
        export_plane(data, "vtp", tmp_path / "log.vtp", metric="train_acc", log=True)
    reader = vtk.vtkXMLPolyDataReader()
    reader.SetFileName(str(out))
    reader.Update()
    poly = reader.GetOutput()
    assert poly.GetNumberOfPoints() == 7 * 5
    pts = vtk_to_numpy(poly.GetPoints().GetData())
    xs, ys = np.meshgrid(ALPHAS, BETAS, indexing="ij")
    np.testing.assert_allclose(pts[:, :2], np.c_[xs.ravel(), ys.ravel()])
    key = "train_acc" if log else "test_loss"
    z = np.where(data.done, data.values[key], np.nan)
    finite = np.isfinite(z).ravel()
    want = np.log10(z.ravel()[finite]) if log else z.ravel()[finite]
    np.testing.assert_allclose(pts[finite, 2], want)
    cells = sum(np.isfinite(z[i:i + 2, j:j + 2]).all() for i in range(6) for j in range(4))
    assert poly.GetNumberOfPolys() == cells > 0
    np.testing.assert_allclose(vtk_to_numpy(poly.GetPointData().GetArray("train_loss")),
                               np.where(data.done, data.values["train_loss"], np.nan).ravel(), equal_nan=True)


def test_missing_h5py_is_one_line_naming_the_extra(plane, capsys, monkeypatch):
    real = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("no h5py")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    code, _, err = cli(capsys, "export", str(plane), "--format", "h5")
    assert code != 0 and "swa-landscape[export]" in err and "Traceback" not in err


@pytest.mark.parametrize("args,message", [(["--format", "vtp", "--metric", "nope"], "nope"),
                                          (["--format", "vtp", "--log", "--metric", "train_acc"], None)])
def test_bad_export_input(tmp_path, capsys, args, message):
    plane = write_plane(tmp_path / "p", regression=False)
    code, _, err = cli(capsys, "export", str(plane), *args)
    if message is None:  # accuracies are positive here: a log scale is fine
        assert code == 0, err
    else:
        assert code != 0 and message in err and "Traceback" not in err
    code, _, err = cli(capsys, "export", str(tmp_path / "nothing"), "--format", "h5")
    assert code != 0 and "no plane or curve result" in err


def test_export_never_replaces_a_file_it_did_not_write(plane, tmp_path, capsys):
    other = write_plane(tmp_path / "other", alphas=[0.0, 1.0], betas=[0.0, 1.0])
    checkpoint = tmp_path / "run" / "final.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"a checkpoint")
    kept = other.read_bytes()
    for fmt, target, before in (("mc-npz", other, kept), ("h5", checkpoint, b"a checkpoint"),
                                ("vtp", checkpoint, b"a checkpoint")):
        code, _, err = cli(capsys, "export", str(plane), "--format", fmt, "--out", str(target))
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and str(target) in err and "pass --overwrite to replace it" in err, err
        assert target.read_bytes() == before
    code, _, err = cli(capsys, "export", str(plane), "--format", "h5", "--out", str(checkpoint), "--overwrite")
    assert code == 0, err
    with h5py.File(checkpoint, "r") as f:
        assert f.attrs["creator"] == "swa-landscape"


def test_re_export_onto_its_own_export_of_the_same_kind(plane, tmp_path, capsys):
    for fmt in ("h5", "vtp", "mc-npz"):
        out = tmp_path / f"mine.{fmt}"
        for _ in range(2):
            code, _, err = cli(capsys, "export", str(plane), "--format", fmt, "--out", str(out))
            assert code == 0 and err == "", err
    before = (tmp_path / "mine.vtp").read_bytes()
    code, _, err = cli(capsys, "export", str(plane), "--format", "h5", "--out", str(tmp_path / "mine.vtp"))
    assert code == 2 and "pass --overwrite" in err  # ours, but another kind: not replaced silently
    assert (tmp_path / "mine.vtp").read_bytes() == before
    assert not list(tmp_path.glob(".swa-landscape.lock"))


def test_exports_carry_a_marker_their_readers_ignore(plane, tmp_path):
    from swa.io import our_kind

    data = read_plane(plane)
    for fmt in ("h5", "vtp", "mc-npz"):
        out = export_plane(data, fmt, tmp_path / f"x.{fmt}")
        assert our_kind(out) == fmt
    with np.load(tmp_path / "x.mc-npz") as f:
        assert f["creator"].item() == b"swa-landscape" and f["tr_loss"].shape == (7, 5)
    assert "swa-landscape" in (tmp_path / "x.vtp").read_text()


def test_export_takes_the_lock_of_its_directory(plane, tmp_path, capsys):
    from swa.lock import output_lock

    target = tmp_path / "busy" / "plane.h5"
    with output_lock(tmp_path / "busy"):
        code, _, err = cli(capsys, "export", str(plane), "--format", "h5", "--out", str(target))
    assert code == 2 and "being written by another process" in err and not target.exists()
    with output_lock(plane.parent):  # the default output is beside the result
        code, _, err = cli(capsys, "export", str(plane), "--format", "h5")
    assert code == 2 and "being written by another process" in err


@pytest.mark.parametrize("fmt", ["h5", "vtp", "mc-npz"])
def test_export_errors_name_the_file_asked_for(plane, capsys, fmt):
    code, _, err = cli(capsys, "export", str(plane), "--format", fmt, "--out", "/proc/version", "--overwrite")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "/proc/version" in err, err
    assert ".tmp" not in err and ".swa-landscape.lock" not in err


def test_a_failed_h5_write_names_the_file_asked_for(plane, tmp_path, capsys, monkeypatch):
    def broken(name, mode="r", **_):
        raise OSError(f"Unable to create file (unable to open file: name = '{name}', errno = 28)")

    monkeypatch.setattr(h5py, "File", broken)
    code, _, err = cli(capsys, "export", str(plane), "--format", "h5", "--out", str(tmp_path / "x.h5"))
    assert code == 2 and str(tmp_path / "x.h5") in err and ".tmp" not in err, err
    assert list(tmp_path.iterdir()) == [tmp_path / "p"]  # no temporary file left behind


def test_a_partial_plane_is_exported_with_one_warning(tmp_path, capsys):
    plane = write_plane(tmp_path / "p", partial=True)  # 15 x 11, the last 20 points not computed
    code, out, err = cli(capsys, "export", str(plane), "--format", "mc-npz")
    lines = err.strip().splitlines()
    assert code == 0 and len(lines) == 1 and "warning" in lines[0] and "145 of 165 points" in lines[0], err
    with np.load(tmp_path / "p" / "plane_mc.npz") as f:
        assert np.isnan(f["tr_loss"]).sum() == 20
