"""The command line: bad input is one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from landscape.cli import main
from swa.models import ModelSpec, build_model

from support import cli, run_cli

TRAIN = ["train", "--device", "cpu", "--quiet", "--epochs", "2"]


def _run(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return exc.value.code, captured.err


def _checkpoint(tmp_path, width):
    model = build_model(ModelSpec("cnn_small", {"width": width}), num_outputs=10, input_shape=(1, 8, 8))
    path = tmp_path / f"w{width}.pt"
    torch.save(model.state_dict(), path)
    return path


BAD = {
    "unknown model": (["--model", "resnet9000"], r"unknown model 'resnet9000'; choose one of .*cnn_small"),
    "unknown data": (["--data", "imagenet"], r"unknown data set 'imagenet'; choose one of .*digits"),
    "missing data root": (["--data", "cifar10", "--data-root", "{tmp}", "--model", "preresnet20"],
                          r"--download"),
    "no data root": (["--data", "mnist", "--model", "cnn_small"], r"--data-root"),
    "negative lr": (["--lr", "-0.1"], r"--lr must be a finite number > 0, got -0\.1"),
    "swa start past end": (["--method", "swa", "--swa-start", "5"], r"--swa-start 5 is past the last epoch"),
    "bad model kwargs": (["--model-kwargs", "{width: 3}"], r"--model-kwargs is not valid JSON"),
    "bad model kwarg": (["--model-kwargs", '{"depth": 3}'], r"model 'cnn_small' rejected its arguments"),
    "invalid choice": (["--method", "ema"], r"invalid choice: 'ema'"),
    "momentum": (["--momentum", "1.5"], r"--momentum must be in \[0, 1\)"),
    "pswa period": (["--method", "pswa", "--epochs", "6", "--swa-start", "1", "--pswa-period", "2"],
                    r"whole periods"),
    "other architecture": (["--init-from", "{w16}", "--model-kwargs", '{"width": 8}'],
                           r"--init-from .*w16\.pt does not fit the model \(shape mismatches: features\.0\.weight"),
    "corrupt checkpoint": (["--init-from", "{corrupt}"], r"cannot read checkpoint .*corrupt\.pt"),
    "missing checkpoint": (["--init-from", "{tmp}/nope.pt"], r"checkpoint .*nope\.pt' does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line(capsys, tmp_path, case):
    """Acceptance 6 (in-process, so that the whole table stays fast)."""
    (tmp_path / "corrupt.pt").write_bytes(b"garbage" * 50)
    fill = dict(tmp=tmp_path, w16=_checkpoint(tmp_path, 16), corrupt=tmp_path / "corrupt.pt")
    flags, pattern = BAD[case]
    for key, value in fill.items():
        flags = [f.replace("{" + key + "}", str(value)) for f in flags]
    argv = TRAIN + ["--out", str(tmp_path / "run")] + flags
    code, err = _run(capsys, argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("swa-landscape: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "run" / "final.pt").exists()


def test_existing_run_is_not_overwritten_and_resume_rules(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(TRAIN + ["--out", str(out), "--model-kwargs", '{"width": 4}']) == 0
    code, err = _run(capsys, TRAIN + ["--out", str(out)])
    assert code == 2 and "already holds a run; pass --resume" in err
    code, err = _run(capsys, ["train", "--resume", "--out", str(out), "--lr", "0.3"])
    assert code == 2 and "drop --lr" in err
    code, err = _run(capsys, ["train", "--resume", "--out", str(tmp_path / "empty")])
    assert code == 2 and "not a training run" in err


@pytest.mark.slow
def test_real_process_prints_no_traceback(tmp_path):
    """One real process (what only a process shows: nothing printed around the one line, at import or exit); the
    in-process fuzz tables (tests/cli/test_fuzz.py) check the message of every kind of bad input."""
    (tmp_path / "corrupt.pt").write_bytes(b"garbage" * 50)
    for args in (["--init-from", str(tmp_path / "corrupt.pt")],):
        res = run_cli(*TRAIN, "--out", str(tmp_path / "r"), *args)
        assert res.returncode == 2
        assert "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_help_for_every_subcommand(capsys):
    from landscape.cli import SUBCOMMANDS

    for sub in SUBCOMMANDS:
        code, out, _ = cli(capsys, sub, "--help")
        assert code == 0 and "--out" in out, sub
        if sub not in ("export", "report"):  # they read result files: no device, nothing random
            assert "--device" in out and "--seed" in out, sub


def test_train_writes_a_run_and_prints_a_summary(tmp_path, capsys):
    code, out, err = cli(capsys, *TRAIN, "--out", str(tmp_path / "r"), "--method", "swa", "--swa-start", "1",
                         "--model-kwargs", '{"width": 4}')
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("trained ") and "average of 1 points" in last
    for name in ("manifest.json", "metrics.jsonl", "final.pt", "swa.pt", "checkpoints/point_0001.pt"):
        assert (tmp_path / "r" / name).is_file(), name


def test_cuda_without_a_gpu_is_one_line(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    code, err = _run(capsys, ["train", "--device", "cuda", "--out", str(tmp_path / "r"), "--quiet"])
    assert code == 2 and "--device cuda was asked for but no CUDA device is available; use --device cpu" in err


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    """The README's main command, shortened: the study over seeds with its table and verdicts, the first seed's
    landscape, the report; a second run reuses everything."""
    from support import assert_picture

    argv = ("demo", "--out", str(tmp_path), "--epochs", "3", "--seeds", "2", "--grid", "3", "--samples", "300",
            "--line-points", "9", "--curve-epochs", "1", "--device", "cpu", "--quiet")
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["seeds"] == [0, 1] and set(study["methods"]) == {"sgd", "sgd-step", "swa-cyclic", "swa-const", "pswa"}
    for name, entry in study["methods"].items():  # computed from the runs, not canned
        accs = [r["test_acc"] for r in entry["per_seed"]]
        assert entry["test_acc"]["mean"] == pytest.approx(np.mean(accs))
        run = tmp_path / "seed-1" / name
        assert (run / ("swa.pt" if name.startswith(("swa", "pswa")) else "final.pt")).is_file()
    swa = study["methods"]["swa-cyclic"]["vs_baseline"]
    diffs = [100 * (a["test_acc"] - b["test_acc"]) for a, b in zip(study["methods"]["swa-cyclic"]["per_seed"],
                                                                    study["methods"]["sgd"]["per_seed"])]
    assert swa["mean"] == pytest.approx(np.mean(diffs)) and swa["n"] == 2
    assert "| SWA (cyclical) |" in out and " ± " in out and "beat SGD (constant) in" in out and "95% CI" in out
    assert out.strip().splitlines()[-1].endswith(f"report: {tmp_path / 'report' / 'report.html'}")  # said last
    html = (tmp_path / "report" / "report.html").read_text()
    for section in ("study", "runs", "curves", "planes", "lines", "rays", "connectivity", "sharpness"):
        assert f'<section id="{section}">' in html, section
    figures = {p.name for p in (tmp_path / "report" / "figures").glob("*.png")}
    assert {"plane-plane-swa-cyclic.png", "plane-plane-swa-const.png", "plane-random-sgd.png", "plane-random-swa.png",
            "plane-pca.png", "line-sgd-to-swa.png", "rays-rays.png", "sharpness.png", "curves.png"} <= figures
    assert any(f.startswith("lines-from-") for f in figures)  # pretrained -> every fine-tuned model, overlaid
    assert {"curve-curve-sgd-swa.png", "curve-curve-sgd-seeds.png"} <= figures  # SGD -> SWA, SGD -> SGD seed 1
    for name in ("curve-sgd-swa", "curve-sgd-seeds"):
        side = json.loads((tmp_path / "landscape" / name / "curve.json").read_text())
        assert side["training"]["config"]["epochs"] == 1 and side["barriers"]["curve"]["train_loss"] >= 0
    for name in figures:
        assert_picture(tmp_path / "report" / "figures" / name)
    # The random planes around SGD and SWA use the same directions.
    a, b = (torch.load(tmp_path / "landscape" / n / "directions.pt", weights_only=True) for n in ("random-sgd",
                                                                                                  "random-swa"))
    assert all(torch.equal(a["x"][k], b["x"][k]) for k in a["x"])
    sidecar = json.loads((tmp_path / "landscape" / "random-swa" / "plane.json").read_text())
    assert sidecar["inputs"]["sample"]["train"][0] == 300  # --samples: the landscape on a fixed subset
    sharp = json.loads((tmp_path / "landscape" / "sharpness" / "sharpness.json").read_text())
    assert sharp["settings"]["samples"] == 300
    axes = sidecar["axes"]
    assert axes["x"] == "direction 1 (filter-normalized, from random-sgd)"  # said on SWA's plane too
    # A second run reuses the finished runs and results instead of computing them again.
    stamps = {p: (tmp_path / p).stat().st_mtime_ns for p in ("seed-0/swa-cyclic/swa.pt", "landscape/pca/plane.npz",
                                                             "landscape/sharpness/sharpness.json")}
    code, again, err = cli(capsys, *argv, "--no-plot")
    assert code == 0, err
    assert "demo: 10 runs over 2 seeds" in again and "report" not in again  # --no-plot: no report
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.slow
def test_demo_on_the_regression_toy(tmp_path, capsys):
    """`demo --data toy2d`: the same study on the CIFAR reimplementation's 2D regression toy, without accuracy."""
    code, out, err = cli(capsys, "demo", "--data", "toy2d", "--out", str(tmp_path), "--epochs", "3", "--seeds", "2",
                         "--grid", "3", "--line-points", "5", "--curve-epochs", "1", "--no-plot", "--device", "cpu",
                         "--quiet")  # (the report is the digits demo's test; the regression curve's barrier is here)
    assert code == 0, err
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["task"] == "regression" and "test_acc" not in study["methods"]["sgd"]
    assert "test acc" not in out and "in test loss" in out
    side = json.loads((tmp_path / "landscape" / "curve-sgd-swa" / "curve.json").read_text())
    assert side["barriers"]["curve"]["test_err"] is None and side["barriers"]["curve"]["test_loss"] >= 0


def test_demo_checks_its_flags_before_training(tmp_path, capsys):
    code, _, err = cli(capsys, "demo", "--out", str(tmp_path / "d"), "--grid", "0", "--device", "cpu", "--quiet")
    assert code == 2 and "--grid must be at least 2, got 0" in err
    assert not (tmp_path / "d").exists()  # nothing trained, nothing left behind


def test_an_unfinished_run_says_how_to_finish_it(small_config, capsys):
    """Issue 8.6: --run on an interrupted run names its state and the command that finishes it."""
    from swa.trainer import train

    class _Stop(Exception):
        pass

    def stop(epoch, *_):
        raise _Stop

    cfg = small_config(method="swa", swa_start=1, epochs=3)
    with pytest.raises(_Stop):
        train(cfg, progress=False, on_epoch_end=stop)
    code, _, err = cli(capsys, "interp", "--run", cfg.out, "--out", str(cfg.out) + "-i", "--device", "cpu")
    assert code == 2
    assert f"is not finished (1 of 3 epochs, status running); finish it first (train with --resume and " \
           f"--out {cfg.out})" in err


@pytest.mark.parametrize("command,advice", [
    ("train", "continue with: swa-landscape train --resume --out {out}"),
    ("plane", "run the same command again: finished points are kept and skipped")])
def test_interrupt_gives_the_exact_advice(monkeypatch, tmp_path, capsys, command, advice):
    """Issue 8.6: Ctrl-C says how to continue, in words the command accepts."""
    import importlib

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(f"landscape.cli.{command}"), "run", interrupted)
    out = tmp_path / "o"
    code, _, err = cli(capsys, command, "--out", str(out))
    assert code == 130 and advice.format(out=out) in err and "--resume to continue" not in err


def test_io_errors_are_one_line_exit_2_naming_the_path(tmp_path, capsys, monkeypatch):
    """Issue 8.5: --out is a file; a full disk while train saves (torch.save's RuntimeError)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli(capsys, *TRAIN, "--out", str(blocker))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(blocker) in err

    def full_disk(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "r"
    code, _, err = cli(capsys, *TRAIN, "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "write failed" in err and str(out) in err and ".tmp" not in err
    assert not [p for p in out.rglob("*.tmp")]


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


MALFORMED_DATA = {
    "x/y lengths": (lambda d: _npz(d / "a.npz", x=np.zeros((10, 3)), y=np.zeros(9, int)),
                    r"'x' has 10 samples but 'y' has 9"),
    "empty x": (lambda d: _npz(d / "a.npz", x=np.zeros((0, 3)), y=np.zeros(0, int)), r"'x' holds 0 samples"),
    "one sample": (lambda d: _npz(d / "a.npz", x=np.zeros((1, 3)), y=np.zeros(1, int)), r"'x' holds 1 samples"),
    "scalar y": (lambda d: _npz(d / "a.npz", x=np.zeros((10, 3)), y=np.array(3)), r"need a sample axis"),
    "zip header garbage": (lambda d: (d / "a.npz").write_bytes(b"PK\x03\x04" + bytes(60)) and d / "a.npz",
                           r"cannot read .*a\.npz as \.npz"),
}


@pytest.mark.parametrize("case", list(MALFORMED_DATA))
def test_malformed_data_files_are_one_line(tmp_path, capsys, case):
    """Issue 8.5: each of these was a traceback."""
    make, pattern = MALFORMED_DATA[case]
    code, _, err = cli(capsys, *TRAIN, "--data", str(make(tmp_path)), "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and re.search(pattern, err), err


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_bad_model_sizes_and_a_truncated_result_are_one_line(tmp_path, capsys, tiny_run):
    code, _, err = cli(capsys, *TRAIN, "--model-kwargs", '{"width": -4}', "--out", str(tmp_path / "r"))
    assert code == 2 and "model 'cnn_small' cannot be built with {\"width\": -4}" in err
    out = tmp_path / "p"
    argv = ("interp", "--run", str(tiny_run.out), "--out", str(out), "--t", "0:1:2", "--device", "cpu", "--quiet",
            "--no-plot")
    assert cli(capsys, *argv)[0] == 0
    (out / "interp.npz").write_bytes((out / "interp.npz").read_bytes()[:100])
    code, _, err = cli(capsys, *argv)
    assert code == 2 and "cannot read" in err and "pass --overwrite to start afresh" in err, err


def test_string_labels_and_file_modes(tmp_path, capsys):
    """Issue 8.6 and 8.9: string labels get a plain message; outputs get the user's umask, not 0600."""
    import os

    np.savez(tmp_path / "s.npz", x=np.zeros((10, 3)), y=np.array(list("abcdefghij")))
    code, _, err = cli(capsys, *TRAIN, "--data", str(tmp_path / "s.npz"), "--out", str(tmp_path / "r"))
    assert code == 2 and "'y' holds str" in err and "data must be numbers" in err, err
    old = os.umask(0o022)
    try:
        code, _, err = cli(capsys, *TRAIN, "--model-kwargs", '{"width": 4}', "--out", str(tmp_path / "ok"))
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("manifest.json", "metrics.jsonl", "final.pt"):
        assert (tmp_path / "ok" / name).stat().st_mode & 0o777 == 0o644, name


# ------------------------------------------------------------------ issue 19: one prefix, empty paths, plane flags
def test_usage_errors_carry_the_prefix_once(capsys):
    code, _, err = cli(capsys, "bogus")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("swa-landscape: error: argument COMMAND: invalid choice: 'bogus'")
    assert err.count("swa-landscape:") == 1
    assert err.strip().endswith("(see swa-landscape --help)")
    code, _, err = cli(capsys, "plot")
    assert code == 2 and err.startswith("swa-landscape: error: plot: the following arguments are required")
    assert err.count("swa-landscape:") == 1 and err.strip().endswith("(see swa-landscape plot --help)")
    code, _, err = cli(capsys, "plane", "--no-such-flag")
    assert code == 2 and err.startswith("swa-landscape: error: unrecognized arguments: --no-such-flag")
    assert err.count("swa-landscape:") == 1


@pytest.mark.parametrize("argv", [
    ["plot", ""], ["plot", "x", "--out", ""], ["plane", "--out", ""], ["interp", "--out", ""], ["rays", "--out", ""],
    ["sharpness", "--out", ""], ["train", "--out", ""], ["demo", "--out", ""], ["report", ""],
    ["report", "x", "--out", ""], ["export", "", "--format", "h5"], ["export", "x", "--format", "h5", "--out", ""],
    ["plane", "--points", "a.pt", "", "c.pt", "--out", "o"], ["plane", "--run", "", "--out", "o"],
    ["plane", "--around", "a.pt", "--load-directions", "", "--out", "o"], ["interp", "--from", "", "--out", "o"],
    ["rays", "--points", "", "--out", "o"], ["sharpness", "--points", "", "--out", "o"],
    ["train", "--data-root", "", "--out", "o"], ["train", "--init-from", "", "--out", "o"],
])
def test_empty_paths_are_refused_everywhere(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "empty path" in err, err
    assert err.count("swa-landscape:") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


@pytest.mark.parametrize("extra,message", [
    (["--grid", "0"], "--grid must be at least 2, got 0"), (["--grid", "1"], "--grid must be at least 2, got 1"),
    (["--margin", "-1"], "--margin must be a finite number >= 0, got -1.0"), (["--margin", "nan"], "--margin"),
    (["--x", "1:1:3", "--y", "0:1:3"], "--x '1:1:3': min must be below max"),
    (["--x", "0:1:3", "--y", "0:inf:3"], "--y '0:inf:3': min and max must be finite"),
    (["--x", "nan:1:3", "--y", "0:1:3"], "--x 'nan:1:3': min and max must be finite"),
])
@pytest.mark.parametrize("where", [["--points", "a.pt", "b.pt", "c.pt"], ["--around", "a.pt"]])
def test_plane_flags_are_checked_before_any_work(capsys, tmp_path, extra, message, where):
    code, _, err = cli(capsys, "plane", *where, *extra, "--out", str(tmp_path / "o"))
    assert code == 2 and message in err, err  # the checkpoints do not even exist: refused before loading
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv,message", [
    (["rays", "--points", "a.pt", "--steps", "1"], "--steps must be at least 2, got 1"),
    (["rays", "--points", "a.pt", "--max-distance", "nan"], "--max-distance must be a finite number > 0, got nan"),
    (["rays", "--points", "a.pt", "--delta", "0"], "--delta must be a finite number > 0, got 0.0"),
    (["rays", "--points", "a.pt", "--directions", "0"], "--directions must be at least 1, got 0"),
    (["interp", "--from", "a.pt", "--to", "b.pt", "--t", "0:1:1"], "--t '0:1:1': needs at least 2 points"),
    (["sharpness", "--points", "a.pt", "--metrics", ","], "--metrics: no metric given"),
])
def test_landscape_flags_are_checked_before_any_work(capsys, tmp_path, argv, message):
    code, _, err = cli(capsys, *argv, "--out", str(tmp_path / "o"))
    assert code == 2 and message in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["zero", "parallel"])
def test_loaded_directions_spanning_no_plane_are_refused(capsys, tmp_path, tiny_run, kind):
    from landscape.engine.inputs import load_context
    from landscape.engine.weights import ParamSpace

    space = ParamSpace.of(load_context(str(tiny_run.out), None, None).model)
    d = torch.randn(2, space.num_params, generator=torch.Generator().manual_seed(0))
    d[1] = 0 if kind == "zero" else 2 * d[0]
    torch.save({axis: space.split(row) for axis, row in zip("xy", d)}, tmp_path / "dirs.pt")
    code, _, err = cli(capsys, "plane", "--run", str(tiny_run.out), "--around", "final", "--load-directions",
                       str(tmp_path / "dirs.pt"), "--out", str(tmp_path / "o"), "--device", "cpu", "--quiet")
    want = "direction 2 is zero" if kind == "zero" else "the two directions are parallel"
    assert code == 2 and len(err.strip().splitlines()) == 1 and want in err and "dirs.pt" in err, err
    assert f"--load-directions {tmp_path / 'dirs.pt'}" in err
