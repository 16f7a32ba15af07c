"""Non-finite inputs are refused when they are loaded, naming the file, the tensor and how many values
(issue 8.3): plane/interp anchors, projected checkpoints, --init-from, and data files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from swa.checkpoint import check_finite
from swa.errors import CheckpointError

from support import cli


def _spoiled(src, dst, value, key=None, count=3):
    state = torch.load(src, weights_only=True)
    key = key or next(k for k, v in state.items() if v.is_floating_point() and v.dim() > 1)
    flat = state[key].view(-1)
    flat[:count] = value
    torch.save(state, dst)
    return dst, key


def test_check_finite_names_tensors_and_counts():
    state = {"a.weight": torch.tensor([1.0, float("nan"), float("inf"), -float("inf")]),
             "a.bias": torch.zeros(2), "bn.num_batches_tracked": torch.tensor(3)}
    with pytest.raises(CheckpointError, match=r"x\.pt holds non-finite values in 1 tensor: a\.weight "
                                              r"\(1 NaN, 2 inf of 4\)"):
        check_finite(state, "x.pt")
    check_finite({"a": torch.ones(3), "n": torch.tensor(7)}, "ok.pt")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_plane_with_a_non_finite_anchor_or_trajectory_point(tiny_run, tmp_path, capsys, value):
    traj = [str(tiny_run.out / p["path"]) for p in tiny_run.trajectory]
    bad, key = _spoiled(traj[1], tmp_path / "bad.pt", value)
    common = ["--model", "cnn_small", "--model-kwargs", '{"width": 4}', "--data", "digits", "--device", "cpu",
              "--quiet", "--no-plot"]
    kind = "NaN" if value != value else "inf"
    for argv in (["plane", "--points", traj[0], str(bad), traj[3], "--grid", "2", "--out", str(tmp_path / "p1")],
                 ["plane", "--points", *traj[:3], "--trajectory", str(bad), "--grid", "2", "--out", str(tmp_path / "p2")],
                 ["interp", "--from", traj[0], "--to", str(bad), "--out", str(tmp_path / "i")]):
        argv = argv + common
        code, out, err = cli(capsys, *argv)
        assert code == 2, (argv, out)
        assert len(err.strip().splitlines()) == 1
        assert f"bad.pt" in err and f"{key} (3 {kind} of" in err, err
        assert "coincide" not in err


def test_init_from_a_nan_checkpoint_names_the_file(tiny_run, tmp_path, capsys):
    bad, key = _spoiled(tiny_run.final, tmp_path / "nan.pt", float("nan"))
    code, _, err = cli(capsys, "train", "--init-from", str(bad), "--model-kwargs", '{"width": 4}', "--epochs", "1",
                       "--out", str(tmp_path / "r"), "--device", "cpu", "--quiet")
    assert code == 2 and "nan.pt holds non-finite values" in err and key in err, err
    assert "learning rate" not in err and "--lr" not in err


@pytest.mark.parametrize("name,regression", [("x", False), ("y", True), ("x_test", True)])
def test_data_file_with_non_finite_values(tmp_path, capsys, name, regression):
    rng = np.random.default_rng(0)
    arrays = {"x": rng.normal(size=(40, 3)), "x_test": rng.normal(size=(10, 3))}
    arrays["y"] = rng.normal(size=40) if regression else rng.integers(0, 3, size=40)
    arrays["y_test"] = rng.normal(size=10) if regression else rng.integers(0, 3, size=10)
    arrays[name] = arrays[name].astype(float)
    arrays[name].reshape(-1)[[1, 4]] = [np.nan, np.inf]
    np.savez(tmp_path / "d.npz", **arrays)
    code, _, err = cli(capsys, "train", "--data", str(tmp_path / "d.npz"), "--epochs", "1",
                       "--out", str(tmp_path / "r"), "--device", "cpu", "--quiet")
    assert code == 2 and f"d.npz: '{name}' holds 2 non-finite values (NaN or inf)" in err, err
