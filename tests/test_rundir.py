"""Portable runs (swa.rundir.portable_paths / resolved_paths, issue 8.8): a run trained with a relative model file
and data file works with --run from any other directory, and a run that carries its files can be moved."""

from __future__ import annotations

import json
import shutil

import numpy as np

from swa.config import TrainConfig
from swa.data import DataSpec
from swa.models import ModelSpec
from swa.rundir import portable_paths, resolved_paths

from conftest import ROOT, cli


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
