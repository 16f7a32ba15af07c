"""plane / interp / rays from the command line: resumption after SIGKILL, torchrun sharding, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from landscape.cli import main
from swa.models import ModelSpec, build_model

from support import ROOT, cli, kill_when, run_torchrun

ARRAYS = ("alphas", "betas", "train_loss", "train_acc", "test_loss", "test_acc", "anchors", "trajectory")


def _plane_args(run_dir, out, *extra):
    return ["plane", "--run", str(run_dir), "--out", str(out), "--device", "cpu", "--quiet", "--no-plot", *extra]


def _load(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def test_plane_from_run_projects_the_trajectory(tiny_run, tmp_path, capsys):
    code, out, err = cli(capsys, *_plane_args(tiny_run.out, tmp_path, "--grid", "3"))
    assert code == 0, err
    assert out.strip().splitlines()[-1].startswith("plane: 9 points (9 computed, 0 skipped)")
    data = _load(tmp_path / "plane.npz")
    assert data["train_loss"].shape == (3, 3) and data["done"].all()
    # 4 trajectory points + final + swa; first and third (middle) and last are the anchors.
    assert data["trajectory"].shape == (6, 2)
    np.testing.assert_allclose(data["trajectory"][[0, 2, 3]], data["anchors"], atol=1e-5)
    np.testing.assert_allclose(data["trajectory_distance"][[0, 2, 3]], 0, atol=1e-4)
    meta = json.loads((tmp_path / "plane.json").read_text())
    assert meta["complete"] and meta["bn_mode"] == "recompute"
    assert [p["label"] for p in meta["projections"]][-2:] == ["SGD final", "SWA"]
    assert [p["kind"] for p in meta["projections"]] == ["trajectory"] * 4 + ["checkpoint"] * 2
    # The SWA average is the mean of the trajectory: its projection is the mean of theirs.
    np.testing.assert_allclose(data["trajectory"][5], data["trajectory"][:4].mean(0), atol=1e-5)


@pytest.mark.slow
def test_plane_killed_and_restarted_is_identical(tiny_run, tmp_path, capsys):
    """Acceptance 4."""
    args = ("--x", "-0.5:1.5:7", "--y", "-0.5:1.5:6", "--chunk", "3", "--batch-size", "2048")  # two fresh runs
    full = tmp_path / "full"
    assert cli(capsys, *_plane_args(tiny_run.out, full, *args))[0] == 0
    cut = tmp_path / "cut"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "landscape", *_plane_args(tiny_run.out, cut, *args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    sidecar = cut / "plane.json"

    def six_done() -> bool:
        try:
            return json.loads(sidecar.read_text())["points_done"] >= 6
        except (OSError, json.JSONDecodeError, KeyError):
            return False

    killed = kill_when(proc, six_done, timeout=120)
    partial = _load(cut / "plane.npz")
    n_done = int(partial["done"].sum())
    assert killed and 0 < n_done < 42, "the process must be killed part-way (make the grid larger if not)"
    assert np.isnan(partial["train_loss"][~partial["done"]]).all()
    code, out, err = cli(capsys, *_plane_args(tiny_run.out, cut, *args))
    assert code == 0, err
    assert f"{n_done} of 42 points already done, skipping them" in out
    assert f"({42 - n_done} computed, {n_done} skipped)" in out
    a, b = _load(full / "plane.npz"), _load(cut / "plane.npz")
    for key in ARRAYS:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    # A third run recomputes nothing.
    assert "(0 computed, 42 skipped)" in cli(capsys, *_plane_args(tiny_run.out, cut, *args))[1]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_other_inputs_into_the_same_out_are_refused(tiny_run, tmp_path, capsys):
    assert main(_plane_args(tiny_run.out, tmp_path, "--grid", "2")) == 0
    with pytest.raises(SystemExit) as exc:
        main(_plane_args(tiny_run.out, tmp_path, "--grid", "3"))
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "holds plane results of other inputs (differs in: x, y)" in err
    assert main(_plane_args(tiny_run.out, tmp_path, "--grid", "3", "--overwrite")) == 0


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tiny_run, tmp_path):
    """Acceptance 5: gloo on CPU, two ranks, one result identical to a single process."""
    args = ("--x", "-0.5:1.5:5", "--y", "-0.5:1.5:3", "--chunk", "2", "--batch-size", "2048")  # fresh runs, bitwise
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    single = subprocess.run([sys.executable, "-m", "landscape", *_plane_args(tiny_run.out, tmp_path / "one", *args)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert single.returncode == 0, single.stderr
    multi = run_torchrun(["--standalone", "--nproc_per_node", "2", "-m", "landscape", "--",
                          *_plane_args(tiny_run.out, tmp_path / "two", *args)], env)
    assert multi.returncode == 0, multi.stderr[-3000:]
    assert multi.stdout.count("plane: 15 points") == 1  # rank 0 reports
    a, b = _load(tmp_path / "one" / "plane.npz"), _load(tmp_path / "two" / "plane.npz")
    for key in ARRAYS:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _ckpt(tmp_path, name, width, seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelSpec("cnn_small", {"width": width}), num_outputs=10, input_shape=(1, 8, 8))
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return str(path)


def test_bad_input_is_one_line(tiny_run, tmp_path, capsys):
    """Acceptance 6."""
    a, b = _ckpt(tmp_path, "a.pt", 4, 0), _ckpt(tmp_path, "b.pt", 4, 1)
    wide = _ckpt(tmp_path, "wide.pt", 8)
    torch.save(torch.load(a), tmp_path / "same.pt")
    common = ["--out", str(tmp_path / "o"), "--device", "cpu", "--quiet", "--data", "digits"]
    model = ["--model", "cnn_small", "--model-kwargs", '{"width": 4}']
    cases = [
        (["plane", "--points", a, b, wide, *common, *model],
         r"checkpoints of different architectures: .*a\.pt and .*wide\.pt differ in \d+ keys \(classifier\.weight, "),
        (["plane", "--points", wide, wide, wide, *common, *model],
         r"wide\.pt does not fit the model \(shape mismatches: features\.0\.weight"),
        (["plane", "--points", a, b, str(tmp_path / "same.pt"), *common, *model], r"the first two|collinear|coincide"),
        (["plane", "--points", a, b, a, *common, *model], r"collinear"),
        (["plane", "--points", a, b, _ckpt(tmp_path, "c.pt", 4, 2), "--x", "0:1", *common, *model],
         r"--x '0:1' is not MIN:MAX:N"),
        (["plane", "--points", a, b, str(tmp_path / "missing.pt"), *common, *model], r"missing\.pt' does not exist"),
        (["interp", "--from", a, "--to", str(tmp_path / "same.pt"), *common, *model], r"hold the same weights"),
        (["rays", "--points", a, "--steps", "1", *common, *model], r"--steps must be at least 2"),
        (["plane", "--points", a, b, a, "--out", str(tmp_path / "o"), "--data", "digits"], r"--model NAME"),
    ]
    for argv, pattern in cases:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exc.value.code == 2, argv
        assert len(err.splitlines()) == 1, err
        assert re.search(pattern, err), (pattern, err)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_interp_and_rays_from_a_run(tiny_run, tmp_path, capsys):
    code, _, err = cli(capsys, "interp", "--run", str(tiny_run.out), "--out", str(tmp_path), "--device", "cpu",
                       "--quiet", "--no-plot", "--t", "0:1:3")
    assert code == 0, err
    data = _load(tmp_path / "interp.npz")
    assert list(data["t"]) == [0.0, 0.5, 1.0]
    metrics = [json.loads(line) for line in (tiny_run.out / "metrics.jsonl").read_text().splitlines()]
    # t = 0 is the final SGD iterate, t = 1 the SWA average (recomputed BN = the run's own statistics).
    assert data["test_loss"][2] == pytest.approx(metrics[-1]["avg_test_loss"], rel=1e-5)
    code, _, err = cli(capsys, "rays", "--run", str(tiny_run.out), "--out", str(tmp_path), "--device", "cpu",
                       "--quiet", "--no-plot", "--directions", "3", "--steps", "4", "--max-distance", "30")
    assert code == 0, err
    rays = _load(tmp_path / "rays.npz")
    assert rays["train_loss"].shape == (2, 3, 4) and rays["width"].shape == (2, 3)
    meta = json.loads((tmp_path / "rays.json").read_text())
    assert set(meta["width"]) == {"SGD final", "SWA"}
