"""Data files as users have them (issue 20): channel-last uint8 images, one-hot float labels, no test split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from swa.data import DataSpec, load_data
from swa.data.registry import CLASSIFICATION
from swa.errors import DataError
from support import cli


def _images(tmp_path, name="d.npz", layout="nhwc", n=24, **extra):
    rng = np.random.default_rng(0)
    shape = (n, 8, 8, 3) if layout == "nhwc" else (n, 3, 8, 8)
    path = tmp_path / name
    np.savez(path, x=rng.integers(0, 256, shape, dtype=np.uint8), y=rng.integers(0, 3, n), **extra)
    return path


def _train(capsys, tmp_path, path, kwargs=None, *extra):
    args = ["train", "--data", str(path), "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "run"),
            "--overwrite", *extra]
    if kwargs is not None:
        args += ["--data-kwargs", json.dumps(kwargs)]
    return cli(capsys, *args)


def _one_error_line(code, err):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swa-landscape: error: "), err
    return lines[0]


def test_channel_last_uint8_refused_in_one_line(capsys, tmp_path):
    code, _, err = _train(capsys, tmp_path, _images(tmp_path), None, "--model-kwargs", '{"width": 2}')
    line = _one_error_line(code, err)
    assert "(24, 8, 8, 3)" in line and '{"layout": "nhwc"}' in line


def test_channel_last_uint8_runs_with_the_switches(capsys, tmp_path):
    code, out, err = _train(capsys, tmp_path, _images(tmp_path), {"layout": "nhwc", "scale": 255},
                            "--model-kwargs", '{"width": 2}')
    assert code == 0, err
    assert "trained" in out
    data = load_data(DataSpec(str(_images(tmp_path)), kwargs={"layout": "nhwc", "scale": 255}))
    assert data.input_shape == (3, 8, 8) and 0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1


def test_channel_first_uint8_refused_without_scale(capsys, tmp_path):
    path = _images(tmp_path, layout="nchw")
    code, _, err = _train(capsys, tmp_path, path, None, "--model-kwargs", '{"width": 2}')
    line = _one_error_line(code, err)
    assert "uint8" in line and "0..255" in line and '{"scale": 255}' in line
    raw = np.load(path)["x"]
    data = load_data(DataSpec(str(path), kwargs={"scale": 255}))
    both = np.concatenate([data.x_train.numpy(), data.x_test.numpy()])
    assert np.allclose(np.sort(both.ravel()), np.sort(raw.ravel() / 255.0), atol=1e-6)


def test_bad_switch_values(tmp_path):
    path = _images(tmp_path)
    for kwargs, match in [({"layout": "hwc"}, "'layout' must be"), ({"scale": 0}, "'scale' must be a positive"),
                          ({"scale": "255"}, "'scale' must be a positive"), ({"targets": "x"}, "'targets' must be"),
                          ({"scael": 255}, r"unknown option\(s\) \['scael'\]")]:
        with pytest.raises(DataError, match=match):
            load_data(DataSpec(str(path), kwargs={"layout": "nhwc", "scale": 255, **kwargs}))
    with pytest.raises(DataError, match="needs 4-D images"):
        load_data(DataSpec(str(_one_hot(tmp_path)), kwargs={"layout": "nhwc"}))


def _one_hot(tmp_path, n=24):
    rng = np.random.default_rng(1)
    path = tmp_path / "onehot.npz"
    labels = rng.integers(0, 3, n)
    np.savez(path, x=rng.normal(size=(n, 5)).astype(np.float32), y=np.eye(3, dtype=np.float32)[labels])
    return path


def test_one_hot_float_targets_refused(capsys, tmp_path):
    code, _, err = _train(capsys, tmp_path, _one_hot(tmp_path))
    line = _one_error_line(code, err)
    assert "one-hot" in line and "class indices" in line and '{"targets": "onehot"}' in line


def test_one_hot_float_targets_converted(capsys, tmp_path):
    path = _one_hot(tmp_path)
    data = load_data(DataSpec(str(path), kwargs={"targets": "onehot"}))
    assert data.task == CLASSIFICATION and data.num_outputs == 3 and data.y_train.dim() == 1
    code, out, err = _train(capsys, tmp_path, path, {"targets": "onehot"})
    assert code == 0, err
    # kept as regression when asked
    assert load_data(DataSpec(str(path), kwargs={"targets": "regression"})).num_outputs == 3
    with pytest.raises(DataError, match="needs 'y' of shape"):
        load_data(DataSpec(str(_images(tmp_path)), kwargs={"targets": "onehot", "layout": "nhwc", "scale": 1}))


def test_carve_out_note_printed_once(capsys, tmp_path):
    code, _, err = _train(capsys, tmp_path, _one_hot(tmp_path), {"targets": "onehot"})
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, err
    assert "19 train / 5 test" in notes[0] and "data seed 0" in notes[0]


def test_no_note_with_a_test_split(capsys, tmp_path):
    rng = np.random.default_rng(2)
    path = _images(tmp_path, layout="nchw", x_test=rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8),
                   y_test=rng.integers(0, 3, 6))
    data = load_data(DataSpec(str(path), kwargs={"scale": 255}))
    assert data.x_test.shape == (6, 3, 8, 8) and float(data.x_test.max()) <= 1
    assert "note:" not in capsys.readouterr().err
