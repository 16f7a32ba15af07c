"""Portable runs (swa.rundir.portable_paths / resolved_paths, issue 8.8): a run trained with a relative model file
and data file works with --run from any other directory, and a run that carries its files can be moved."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from swa.config import TrainConfig
from swa.data import DataSpec
from swa.models import ModelSpec
from swa.rundir import portable_paths, resolved_paths

from support import ROOT, cli


def _files(where):
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "tests" / "tiny_mlp.py", where / "mymodel.py")
    rng = np.random.default_rng(0)
    np.savez(where / "ok.npz", x=rng.normal(size=(60, 4)).astype(np.float32), y=rng.integers(0, 3, size=60))


def _train(capsys, model, data, out):
    code, _, err = cli(capsys, "train", "--model", model, "--data", data, "--epochs", "3", "--method", "swa",
                       "--swa-start", "1", "--device", "cpu", "--quiet", "--out", out)
    assert code == 0, err


def test_relative_user_files_are_stored_absolute(tmp_path, monkeypatch, capsys):
    _files(tmp_path / "work" / "src")
    monkeypatch.chdir(tmp_path / "work")
    _train(capsys, "src/mymodel.py:build", "src/ok.npz", "runs/r")
    config = json.loads((tmp_path / "work" / "runs" / "r" / "manifest.json").read_text())["config"]
    assert config["model"]["name"] == f"{tmp_path / 'work' / 'src' / 'mymodel.py'}:build"
    assert config["data"]["name"] == str(tmp_path / "work" / "src" / "ok.npz")
    monkeypatch.chdir(tmp_path)  # somewhere else
    code, out, err = cli(capsys, "interp", "--run", "work/runs/r", "--out", "i", "--t", "0:1:2", "--device", "cpu",
                         "--quiet", "--no-plot")
    assert code == 0, err


def test_files_inside_the_run_move_with_it(tmp_path, monkeypatch, capsys):
    run = tmp_path / "a" / "run"
    _files(run / "files")
    monkeypatch.chdir(tmp_path / "a")
    _train(capsys, "run/files/mymodel.py:build", "run/files/ok.npz", "run")
    config = json.loads((run / "manifest.json").read_text())["config"]
    assert config["model"]["name"] == "files/mymodel.py:build" and config["data"]["name"] == "files/ok.npz"
    shutil.move(str(run), str(tmp_path / "moved"))
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "train", "--resume", "--out", "moved", "--quiet")  # complete: nothing to do
    assert code == 0, err
    code, _, err = cli(capsys, "interp", "--run", "moved", "--out", "i", "--t", "0:1:2", "--device", "cpu",
                       "--quiet", "--no-plot")
    assert code == 0, err


def test_portable_and_resolved_are_inverse(tmp_path):
    cfg = TrainConfig(model=ModelSpec(f"{tmp_path}/r/m.py:f"), data=DataSpec(str(tmp_path / "d.npz"),
                                                                              root=str(tmp_path / "r" / "root")),
                      out=str(tmp_path / "r"))
    (tmp_path / "r" / "root").mkdir(parents=True)
    (tmp_path / "r" / "m.py").write_text("")
    p = portable_paths(cfg, tmp_path / "r")
    assert (p.model.name, p.data.name, p.data.root) == ("m.py:f", str(tmp_path / "d.npz"), "root")
    back = resolved_paths(p, tmp_path / "r")
    assert (back.model.name, back.data.name, back.data.root) == (cfg.model.name, cfg.data.name, cfg.data.root)
    plain = TrainConfig(model=ModelSpec("mlp"), data=DataSpec("digits"), out="x")
    assert portable_paths(plain, tmp_path) == plain  # registered names: unchanged


# ---------------------------------------------------------------- the validating readers (issue 19)
def _manifest(**changes):
    from swa.rundir import FORMAT

    cfg = TrainConfig(model=ModelSpec("mlp"), data=DataSpec("digits"), out="r", epochs=3)
    doc = {"format": FORMAT, "status": "complete", "config": cfg.to_json(), "num_outputs": 10,
           "input_shape": [64], "iters_per_epoch": 5, "epochs_done": 3, "final": "final.pt", "swa": None,
           "trajectory": [{"path": "checkpoints/point_0001.pt", "epoch": 1}], "warnings": []}
    doc.update(changes)
    return doc


def test_a_valid_manifest_passes():
    from swa.rundir import check_manifest

    assert check_manifest(_manifest(), "m.json")["num_outputs"] == 10



@pytest.mark.parametrize("changes,match", [
    ({"trajectory": "x"}, r"m\.json: trajectory must be a list, got the string 'x'"),
    ({"trajectory": [{"epoch": 1}]}, r"m\.json: trajectory\[0\]\.path is missing"),
    ({"trajectory": [{"path": "/abs.pt", "epoch": 1}]}, r"trajectory\[0\]\.path must be a path inside the run"),
    ({"trajectory": [{"path": "a.pt", "epoch": True}]}, r"trajectory\[0\]\.epoch must be an integer, got True"),
    ({"config": [1, 2]}, r"m\.json: config must be an object"),
    ({"num_outputs": 10 ** 400}, r"num_outputs is out of range"),
    ({"input_shape": [1, -8]}, r"input_shape\[1\] must be >= 1"),
    ({"final": 3}, r"final must be a string or null"),
    ({"format": "other"}, r"has format the string 'other'"),
])
def test_a_manifest_field_of_the_wrong_type_is_named(changes, match):
    from swa.errors import UserError
    from swa.rundir import check_manifest

    with pytest.raises(UserError, match=match):
        check_manifest(_manifest(**changes), "m.json")


def test_a_config_that_makes_no_trainconfig_is_named():
    from swa.errors import UserError
    from swa.rundir import check_manifest

    doc = _manifest()
    for key, value, match in (("lr", "fast", r"m\.json: config"), ("epochs", 10 ** 7, r"config\.epochs must be"),
                              ("momentum", 3.0, r"m\.json: config: `momentum`")):
        with pytest.raises(UserError, match=match):
            check_manifest({**doc, "config": {**doc["config"], key: value}}, "m.json")
    with pytest.raises(UserError, match=r"not a run manifest: it holds a list"):
        check_manifest([1, 2], "m.json")


@pytest.mark.parametrize("text,match", [
    ("42\n", r"metrics\.jsonl: line 1 must be an object, got the number 42"),
    ('{"train_loss": 1}\n', r"line 1: epoch is missing"),
    ('{"epoch": 1, "lr": "x"}\n', r"line 1: lr must be a number or null"),
    ('{"epoch": 9}\n', r"line 1: epoch must be in \[0, 3\]"),
])
def test_metrics_records_are_checked(tmp_path, text, match):
    from swa.errors import UserError
    from swa.rundir import read_metrics

    (tmp_path / "metrics.jsonl").write_text(text)
    with pytest.raises(UserError, match=match):
        read_metrics(tmp_path, epochs=3)
    (tmp_path / "metrics.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not UTF-8"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": NaN, "avg_test_loss": null}\n')
    assert read_metrics(tmp_path)[0]["epoch"] == 1  # a diverged run records NaN


def test_typed_field_checks():
    from swa.errors import UserError
    from swa.validate import check, increasing_axis

    assert check(3, (float,), "f", "x") == 3
    for value, types, match in ((True, (float,), "must be a number, got True"), (float("nan"), (float,), "must be finite"),
                                ("1", (int,), "must be an integer, got the string '1'"), (-1, (int,), r"must be >= 0")):
        with pytest.raises(UserError, match=f"f: x {match}"):
            check(value, types, "f", "x", low=0)
    for arr, match in ((np.array([0.0, 0.0]), "strictly increasing"), (np.array([1.0]), "at least 2"),
                       (np.array(["a", "b"]), "must hold numbers"), (np.array([0.0, np.inf]), "NaN or inf")):
        with pytest.raises(UserError, match=match):
            increasing_axis({"a": arr}, "a", "f", min_size=2)
