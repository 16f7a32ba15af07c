"""Mode-connecting curves (issue 23), the evaluation half: the engine's values along the curve and the line
against a slow loop, the reference's keys and barriers, the command line (its figure, bad input, SIGKILL and
resume) and the Python API.

The slow reference builds φ(t) by hand from the bends (``Curve.point``), loads it into a copy of the model,
recomputes BatchNorm with ``torch.optim.swa_utils.update_bn`` on ONE batch of every training sample, and
averages the cross-entropy over the training set in eval mode.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn

import landscape
from landscape.cli import main
from landscape.compute.curve import barrier
from landscape.engine.inputs import load_context
from swa.checkpoint import load_state_dict
from swa.curves import load_curve

from support import ROOT, assert_picture, cli, kill_when

pytestmark = pytest.mark.slow  # each test trains or evaluates a curve of the tiny run (over 1 s): not in test-fast

TS = [0.0, 0.25, 0.5, 0.75, 1.0]
FAST = ("--device", "cpu", "--quiet", "--batch-size", "2048", "--plane-grid", "0")


@pytest.fixture(scope="module")
def curve_run(tiny_run, tmp_path_factory):
    """A Bezier curve (2 epochs) from the tiny run's final SGD point to its SWA average, through the CLI."""
    out = tmp_path_factory.mktemp("curve")
    argv = ["curve", "--run", str(tiny_run.out), "--from", "final", "--to", "swa", "--epochs", "2",
            "--t", "0:1:5", "--out", str(out), *FAST, "--plane-grid", "3"]  # (the last --plane-grid counts)
    assert main(argv) == 0
    return tiny_run, out


def _slow_losses(model, state, x, y):
    net = copy.deepcopy(model)
    net.load_state_dict(state)
    update_bn([(x,)], net)  # one batch: exactly its statistics (momentum None: a cumulative average)
    net.eval()
    with torch.no_grad():
        out = net(x)
        return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


def test_curve_and_line_equal_a_slow_loop_with_update_bn(curve_run):
    run, out = curve_run
    ctx = load_context(str(run.out), None, None)
    curve, _ = load_curve(out / "curve.pt")
    data = np.load(out / "curve.npz")
    assert data["ts"].tolist() == TS and data["train_loss"].shape == (2, 5)
    x, y = ctx.data.x_train, ctx.data.y_train
    start, end = curve.bends[0], curve.bends[-1]
    for i, t in enumerate(TS):
        loss, acc = _slow_losses(ctx.model, curve.point(t), x, y)
        assert data["train_loss"][0, i] == pytest.approx(loss, rel=2e-5), t
        assert data["train_acc"][0, i] == pytest.approx(acc, abs=1e-6)
        straight = {k: (1 - t) * start[k] + t * end[k] if v.is_floating_point() else v for k, v in start.items()}
        loss, _ = _slow_losses(ctx.model, straight, x, y)
        assert data["train_loss"][1, i] == pytest.approx(loss, rel=2e-5), t
    first = curve.names[0]
    assert torch.equal(curve.bends[0][first], load_state_dict(run.out / "final.pt")[first])  # the ends stay fixed
    assert all(torch.equal(curve.bends[1][k], start[k]) for k in start if k not in curve.names)  # buffers: A's


def test_reference_keys_and_barriers(curve_run):
    _, out = curve_run
    data = np.load(out / "curve.npz")
    side = json.loads((out / "curve.json").read_text())
    wd = side["training"]["config"]["weight_decay"]
    curve, _ = load_curve(out / "curve.pt")
    sq = np.array([sum(float(curve.point(t)[n].double().pow(2).sum()) for n in curve.names) for t in TS])
    np.testing.assert_allclose(data["tr_nll"], data["train_loss"][0])
    np.testing.assert_allclose(data["tr_loss"], data["train_loss"][0] + 0.5 * wd * sq, rtol=1e-6)
    np.testing.assert_allclose(data["te_err"], 100 - 100 * data["test_acc"][0])
    np.testing.assert_allclose(data["line_tr_nll"], data["train_loss"][1])
    assert data["tr_loss_max"] == pytest.approx(data["tr_loss"].max())
    dl = data["dl"]
    assert dl[0] == 0 and data["tr_nll_int"] == pytest.approx(
        np.sum((data["tr_nll"][1:] + data["tr_nll"][:-1]) / 2 * dl[1:]) / dl[1:].sum())
    for row, path in enumerate(("curve", "line")):
        f = data["train_loss"][row]
        slow = max(f[i] - ((1 - t) * f[0] + t * f[-1]) for i, t in enumerate(TS))
        assert side["barriers"][path]["train_loss"] == pytest.approx(slow)
    assert barrier(np.array(TS), np.array([1.0, 2.0, 5.0, 2.0, 1.0])) == 4.0


def test_figure_plane_and_plot_command(curve_run, tmp_path, capsys):
    """The figures; the plane through the ends and the bend holds the curve exactly (3 bends)."""
    _, out = curve_run
    assert_picture(out / "curve.png")
    assert_picture(out / "plane.png")
    side = json.loads((out / "plane" / "plane.json").read_text())
    path = [p for p in side["projections"] if p["kind"] == "trajectory"]
    extent = max(abs(p["x"]) + abs(p["y"]) for p in path)
    assert len(path) == 5 and extent > 0 and max(p["distance"] for p in path) < 1e-4 * extent
    assert side["note"] == "the quadratic Bezier curve lies in this plane exactly"
    code, printed, err = cli(capsys, "plot", str(out), "--out", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "curve.png").is_file()


def test_api_equals_the_cli(curve_run):
    run, out = curve_run
    ctx = load_context(str(run.out), None, None)
    a, b = load_state_dict(run.out / "final.pt"), load_state_dict(run.out / "swa.pt")
    d = ctx.data
    res = landscape.curve(ctx.model, {"SGD (final)": a}, {"SWA": b}, {"train": (d.x_train, d.y_train),
                                                                    "test": (d.x_test, d.y_test)},
                          training=landscape.CurveConfig(epochs=2), t=TS,
                          settings=landscape.Settings(device="cpu", progress=False, batch_size=2048,
                                                      log=lambda _: None))
    data = np.load(out / "curve.npz")
    cli_curve, _ = load_curve(out / "curve.pt")
    for mine, theirs in zip(res.curve.bends, cli_curve.bends):
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    np.testing.assert_array_equal(res["train_loss"], data["train_loss"])
    first = cli_curve.names[0]
    assert torch.equal(res.point(0.5)[first], cli_curve.point(0.5)[first])
    assert res.barriers["curve"]["train_loss"] <= res.barriers["line"]["train_loss"] + 1e-3


@pytest.mark.parametrize("extra, needle", [
    (["--bends", "1"], "--bends must be an integer >= 3"),
    (["--t", "-0.5:1:5"], "must lie in [0, 1]"),
    (["--lr", "nan"], "--lr must be"),
    (["--to", "missing.pt"], "missing.pt"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_run, tmp_path, capsys, extra, needle):
    argv = ["curve", "--run", str(tiny_run.out), "--from", "final", "--to", "swa", "--epochs", "1",
            "--out", str(tmp_path), *FAST, *extra]
    code, _, err = cli(capsys, *argv)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_nan_and_other_architecture_endpoints(tiny_run, tmp_path, capsys):
    state = load_state_dict(tiny_run.out / "final.pt")
    bad, first = dict(state), next(iter(state))
    bad[first] = torch.full_like(state[first], float("nan"))
    torch.save(bad, tmp_path / "nan.pt")
    other = {k: torch.zeros(3) if k == first else v for k, v in state.items()}
    torch.save(other, tmp_path / "other.pt")
    for name, needle in (("nan.pt", "non-finite"), ("other.pt", "does not fit")):
        code, _, err = cli(capsys, "curve", "--run", str(tiny_run.out), "--from", "final", "--to",
                           str(tmp_path / name), "--epochs", "1", "--out", str(tmp_path / name[:3]), *FAST)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_sigkill_during_training_then_resume_gives_identical_bends(tiny_run, tmp_path, capsys):
    args = ["curve", "--run", str(tiny_run.out), "--from", "final", "--to", "swa", "--epochs", "6",
            "--t", "0:1:2", "--no-plot", *FAST]
    code, _, err = cli(capsys, *args, "--out", str(tmp_path / "full"))
    assert code == 0, err
    cut = tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "landscape", *args, "--out", str(cut)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    assert kill_when(proc, lambda: (cut / "curve_state.pt").exists()), "killed part-way (train longer if not)"
    assert not (cut / "curve.pt").exists()
    code, printed, err = cli(capsys, *args, "--out", str(cut))
    assert code == 0, err
    full, _ = load_curve(tmp_path / "full" / "curve.pt")
    resumed, doc = load_curve(cut / "curve.pt")
    assert [r["epoch"] for r in doc["history"]] == list(range(1, 7))
    for a, b in zip(full.bends, resumed.bends):
        assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(np.load(tmp_path / "full" / "curve.npz")["train_loss"],
                                  np.load(cut / "curve.npz")["train_loss"])


REFERENCE_KEYS = {"ts", "dl"} | {f"{split}_{m}{stat}" for split in ("tr", "te") for m in ("loss", "nll", "err")
                                 for stat in ("", "_min", "_max", "_avg", "_int")} | {"tr_acc", "te_acc"}


def test_export_writes_the_references_curve_file(curve_run, tmp_path, capsys):
    """``export --format mc-npz`` on a curve: every key the reference's eval_curve.py saves, equal to ours."""
    _, out = curve_run
    code, printed, err = cli(capsys, "export", str(out), "--format", "mc-npz", "--out", str(tmp_path / "c.npz"))
    assert code == 0, err
    exported, ours = np.load(tmp_path / "c.npz"), np.load(out / "curve.npz")
    assert REFERENCE_KEYS <= set(exported.files) and "train_loss" not in exported.files
    for key in REFERENCE_KEYS:
        np.testing.assert_array_equal(exported[key], ours[key])
    code, _, err = cli(capsys, "export", str(out), "--format", "h5", "--out", str(tmp_path / "c.h5"))
    assert code == 2 and "a curve exports as mc-npz only" in err
