"""Malformed input for every subcommand (issue 8, acceptance 2), in-process: each case exits 2 with one line on
stderr and no traceback, and the output directory, which already holds that command's finished results, holds
them unchanged afterwards.

Each subcommand gets the shared table (files, flags and data that are wrong in the same way for every command)
plus its own cases; every table has at least 30 entries.
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from support import cli

COMMANDS = ("train", "plane", "interp", "rays", "curve", "sharpness", "plot", "export", "report", "demo")


@pytest.fixture(scope="module")
def fz(tiny_run, tmp_path_factory):
    """Finished results of every command, and the malformed files the cases name."""
    from landscape.cli import main

    d = tmp_path_factory.mktemp("fuzz")
    run = str(tiny_run.out)
    ckpt = str(tiny_run.final)
    quiet = ["--device", "cpu", "--quiet"]
    outs = {c: d / f"out_{c}" for c in COMMANDS}
    shutil.copytree(run, outs["train"])
    assert main(["plane", "--run", run, "--out", str(outs["plane"]), "--grid", "2", *quiet]) == 0
    assert main(["interp", "--run", run, "--out", str(outs["interp"]), "--t", "0:1:2", *quiet]) == 0
    assert main(["rays", "--run", run, "--out", str(outs["rays"]), "--directions", "2", "--steps", "2", *quiet]) == 0
    assert main(["curve", "--run", run, "--from", "final", "--to", "swa", "--epochs", "1", "--t", "0:1:2",
                 "--plane-grid", "0", "--train-batch-size", "512", "--out", str(outs["curve"]), *quiet]) == 0
    assert main(["sharpness", "--run", run, "--out", str(outs["sharpness"]), "--metrics", "hessian_trace",
                 "--trace-matvecs", "3", "--samples", "50", *quiet]) == 0
    assert main(["plot", str(outs["interp"]), "--out", str(outs["plot"])]) == 0
    shutil.copytree(outs["plane"], outs["demo"])
    shutil.copytree(outs["plane"], outs["export"])
    assert main(["report", str(outs["interp"]), "--out", str(outs["report"]), "--quiet"]) == 0
    files = {"run": run, "ckpt": ckpt, "swa": str(tiny_run.swa), "missing": str(d / "missing.pt"), "dir": str(d)}
    (d / "garbage.pt").write_bytes(b"\x00garbage" * 20)
    (d / "empty.pt").write_bytes(b"")
    (d / "truncated.pt").write_bytes(open(ckpt, "rb").read()[:150])
    state = torch.load(ckpt, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point() and v.dim() > 1)
    torch.save({**state, key: torch.full_like(state[key], float("nan"))}, d / "nan.pt")
    torch.save({**state, key: torch.full_like(state[key], float("inf"))}, d / "inf.pt")
    torch.save({**state, key: state[key].long()}, d / "int.pt")
    torch.save({k: v for k, v in state.items() if k != key}, d / "missing_key.pt")
    torch.save({**state, key: torch.zeros(3, 3)}, d / "shape.pt")
    torch.save([1, 2, 3], d / "list.pt")
    (d / "notrun").mkdir()
    (d / "badmanifest").mkdir()
    (d / "badmanifest" / "manifest.json").write_text("{not json")
    np.savez(d / "xy.npz", x=np.zeros((10, 3)), y=np.zeros(9, int))
    np.savez(d / "nan_data.npz", x=np.full((10, 3), np.nan), y=np.zeros(10, int))
    (d / "zip.npz").write_bytes(b"PK\x03\x04" + bytes(40))
    (d / "file").write_text("a file, not a directory")
    for name in ("garbage", "empty", "truncated", "nan", "inf", "int", "missing_key", "shape", "list", "xy",
                 "nan_data", "zip", "file", "notrun", "badmanifest"):
        files[name] = str(d / (name if name in ("file", "notrun", "badmanifest") else
                               f"{name}.npz" if name in ("xy", "nan_data", "zip") else f"{name}.pt"))
    files["outs"] = {c: str(p) for c, p in outs.items()}
    return files


# Shared cases: {out} is the command's output directory of finished results; {f[name]} a file above.
COMMON = [
    ["--device", "tpu"], ["--seed", "x"], ["--no-such-flag"], ["--out"],
    ["--model", "resnet9000"], ["--model-kwargs", "{width: 3}"], ["--model-kwargs", '{"width": -4}'],
    ["--model-kwargs", '{"depth": 3}'], ["--model-kwargs", "[1, 2]"], ["--data", "imagenet"],
    ["--data", "{f[missing]}"], ["--data", "{f[xy]}"], ["--data", "{f[nan_data]}"], ["--data", "{f[zip]}"],
    ["--data", "cifar10", "--data-root", "{f[notrun]}"], ["--data-kwargs", "{oops"],
    ["--data-kwargs", '{"n_train": -5}'], ["--data-seed", "one"], ["--device", "cuda:x"],
]
LANDSCAPE = [  # plane, interp, rays share these (with the command's own checkpoint flag)
    ["--run", "{f[notrun]}"], ["--run", "{f[badmanifest]}"], ["--run", "{f[missing]}"],
    ["--bn", "bogus"], ["--bn-samples", "1"], ["--bn-pass", "maybe"], ["--batch-size", "0"], ["--batch-size", "-3"],
    ["--chunk", "0"], ["--precision", "fp16"], ["--max-points", "0"], ["--labels", "a", "b", "c", "d", "e"],
    ["--run", "{f[run]}", "--model", "mlp"], ["--samples", "0"], ["--samples", "x"],
]


def _points(command: str, bad: str) -> list[str]:
    """The command's checkpoint flag with ``bad`` in one slot."""
    if command == "plane":
        return ["--points", "{f[ckpt]}", bad, "{f[swa]}", "--model", "cnn_small", "--model-kwargs", '{"width": 4}',
                "--data", "digits"]
    if command == "interp":
        return ["--from", "{f[ckpt]}", "--to", bad, "--model", "cnn_small", "--model-kwargs", '{"width": 4}',
                "--data", "digits"]
    if command == "curve":
        return ["--from", "{f[ckpt]}", "--to", bad, "--model", "cnn_small", "--model-kwargs", '{"width": 4}',
                "--data", "digits"]
    if command == "rays":
        return ["--points", bad, "--model", "cnn_small", "--model-kwargs", '{"width": 4}', "--data", "digits"]
    return ["--points", "{f[ckpt]}", bad, "--model", "cnn_small", "--model-kwargs", '{"width": 4}', "--data",
            "digits"]


BAD_CHECKPOINTS = ["missing", "dir", "garbage", "empty", "truncated", "nan", "inf", "int", "missing_key", "shape",
                   "list"]

OWN = {
    "train": [["--epochs", "0"], ["--epochs", "x"], ["--lr", "-1"], ["--lr", "nan"], ["--lr", "inf"],
              ["--momentum", "1.5"], ["--method", "ema"], ["--optimizer", "lbfgs"], ["--swa-start", "50"],
              ["--method", "pswa", "--swa-start", "1", "--pswa-period", "3"], ["--lr-schedule", "cyclic",
                                                                             "--cycle", "0"],
              ["--lr-milestones", "a,b"], ["--batch-size", "0"], ["--resume", "--out", "{f[notrun]}"],
              ["--resume", "--lr", "0.1"], ["--resume", "--overwrite"], ["--weight-decay", "-1"],
              ["--init-from", "{f[nan]}"], ["--init-from", "{f[garbage]}"], ["--init-from", "{f[shape]}"],
              ["--init-from", "{f[dir]}"], ["--init-from", "{f[int]}"]],
    "plane": [["--run", "{f[run]}", "--grid", "1"], ["--run", "{f[run]}", "--grid", "x"],
              ["--run", "{f[run]}", "--x", "0:1:5"], ["--run", "{f[run]}", "--x", "1:0:5", "--y", "0:1:5"],
              ["--run", "{f[run]}", "--x", "a:b:c", "--y", "0:1:5"], ["--run", "{f[run]}", "--margin", "-1"],
              ["--points", "{f[ckpt]}", "{f[ckpt]}", "{f[ckpt]}", "--run", "{f[run]}"],
              ["--run", "{f[run]}", "--trajectory", "{f[garbage]}"], ["--grid", "3"],
              ["--run", "{f[run]}", "--around", "{f[ckpt]}", "--directions", "hessian", "--hessian-batch-size", "0"]],
    "interp": [["--run", "{f[run]}", "--t", "0:1"], ["--run", "{f[run]}", "--t", "1:0:5"],
               ["--from", "{f[ckpt]}", "--to", "{f[ckpt]}", "--run", "{f[run]}"], ["--from", "{f[ckpt]}"],
               ["--run", "{f[run]}", "--t", "0:1:0"]],
    "rays": [["--run", "{f[run]}", "--directions", "0"], ["--run", "{f[run]}", "--steps", "1"],
             ["--run", "{f[run]}", "--max-distance", "-1"], ["--run", "{f[run]}", "--delta", "0"],
             ["--run", "{f[run]}", "--normalization", "bogus"], ["--run", "{f[run]}", "--max-distance", "nan"],
             ["--run", "{f[run]}", "--directions", "100000", "--steps", "100000"]],
    "curve": [["--run", "{f[run]}", "--from", "final", "--to", "swa", *c] for c in (
        ["--bends", "1"], ["--bends", "2"], ["--bends", "x"], ["--kind", "spline"], ["--epochs", "0"],
        ["--epochs", "-3"], ["--lr", "-1"], ["--lr", "nan"], ["--lr", "inf"], ["--momentum", "1.5"],
        ["--momentum", "-0.1"], ["--weight-decay", "-1"], ["--weight-decay", "nan"], ["--train-batch-size", "1"],
        ["--train-batch-size", "0"], ["--t", "-0.5:1:5"], ["--t", "0:2:5"], ["--t", "0:1"], ["--t", "1:0:5"],
        ["--plane-grid", "1"], ["--plane-grid", "-1"], ["--init-noise", "-1"], ["--init-noise", "nan"],
        ["--bn", "interpolate"], ["--labels", "a"], ["--to", "final"])]
        + [["--run", "{f[run]}", "--from", "final"], ["--run", "{f[run]}", "--to", "swa"],
           ["--from", "final", "--to", "swa"], ["--run", "{f[run]}", "--from", "best", "--to", "swa"]],
    "sharpness": [["--run", "{f[run]}", "--metrics", "bogus"], ["--run", "{f[run]}", "--samples", "0"],
                  ["--run", "{f[run]}", "--top-k", "0"], ["--run", "{f[run]}", "--trace-matvecs", "-1"],
                  ["--run", "{f[run]}", "--bn", "interpolate"], ["--run", "{f[notrun]}"],
                  ["--run", "{f[run]}", "--labels", "A", "A"], ["--run", "{f[run]}", "--metrics", "hessian_trace",
                                                              "--trace-matvecs", "2"],
                  ["--run", "{f[run]}", "--metrics", "hessian_trace", "--eigenvectors"]],
    "plot": [["{f[garbage]}"], ["{f[missing]}"], ["{f[notrun]}"], ["{f[zip]}"], ["{f[xy]}"], ["{f[list]}"],
             ["{f[badmanifest]}"], ["{f[outs][interp]}", "--vmax", "x"], ["{f[outs][interp]}", "--vmax", "nope=1"],
             ["{f[outs][interp]}", "--format", "gif"], ["{f[outs][interp]}", "--metric", "bogus"],
             ["{f[outs][interp]}", "--labels", "a", "b"], ["{f[outs][interp]}", "--width", "triple"],
             ["{f[outs][interp]}", "--band", "wide"], ["{f[outs][interp]}", "--dpi", "5"],
             ["{f[outs][interp]}", "--dpi", "x"], ["{f[outs][rays]}", "{f[outs][plane]}", "--labels", "a"],
             ["{f[outs][interp]}", "--out", "{f[file]}"], ["{f[outs][interp]}", "--vmax", "inf"],
             ["{f[outs][interp]}", "--log", "--linear"], ["{f[outs][sharpness]}", "--labels", "x"],
             ["--out", "{out}"], ["{f[file]}"], ["{f[outs][interp]}", "--metric"],
             ["{f[outs][rays]}", "--metric", "test_acc", "test_err", "--labels", "a"],
             ["{f[outs][plane]}", "--vmax", "train_loss="], ["{f[outs][interp]}", "--format"],
             ["{f[outs][interp]}", "--device", "tpu"], ["{f[outs][interp]}", "--seed", "x"],
             ["{f[outs][interp]}", "--no-such-flag"], ["{f[run]}", "--labels", "a", "b"],
             ["{f[dir]}/nope.npz"]],
    "export": [["{f[garbage]}", "--format", "h5"], ["{f[missing]}", "--format", "h5"],
               ["{f[notrun]}", "--format", "h5"], ["{f[zip]}", "--format", "vtp"], ["{f[xy]}", "--format", "vtp"],
               ["{f[list]}", "--format", "mc-npz"], ["{f[badmanifest]}", "--format", "h5"],
               ["{f[file]}", "--format", "h5"], ["{f[dir]}/nope.npz", "--format", "h5"],
               ["{f[outs][interp]}", "--format", "h5"], ["{f[outs][rays]}", "--format", "vtp"],
               ["{f[outs][sharpness]}", "--format", "mc-npz"], ["{f[run]}", "--format", "h5"], ["{out}"],
               ["{out}", "--format", "gif"], ["{out}", "--format"], ["--format", "h5"],
               ["{out}", "--format", "vtp", "--metric", "bogus"], ["{out}", "--format", "vtp", "--zmax", "x"],
               ["{out}", "--format", "vtp", "--zmax", "nan"], ["{out}", "--format", "vtp", "--zmax", "inf"],
               ["{out}", "--format", "vtp", "--zmax", "-inf"], ["{out}", "--format", "h5", "--out", "{f[file]}/x.h5"],
               ["{out}", "--format", "h5", "--out", "{f[dir]}"], ["{out}", "--format", "h5", "--no-such-flag"],
               ["{out}", "--format", "h5", "extra"], ["{out}", "--format", "vtp", "--metric"],
               ["{out}", "--format", "H5"], ["{out}", "--format", ""], ["", "--format", "h5"],
               ["{out}", "--format", "vtp", "--metric", "train_err"],
               ["{out}", "--format", "mc-npz", "--out", "{out}/plane.npz"],
               ["{out}/plane.json", "--format", "h5"]],
    "report": [[p] for p in ("{f[garbage]}", "{f[missing]}", "{f[notrun]}", "{f[zip]}", "{f[xy]}", "{f[list]}",
                             "{f[badmanifest]}", "{f[file]}", "{f[dir]}/nope.npz", "", "{f[empty]}", "{f[truncated]}",
                             "{f[nan]}")]
               + [["{f[outs][interp]}", "--dpi", v] for v in ("x", "0", "5", "1000", "-1", "nan", "", "1e9", "2.5")]
               + [["{f[outs][interp]}", "{f[garbage]}"], ["{f[garbage]}", "{f[outs][interp]}"],
                  ["{f[outs][interp]}", "--title"], ["{f[outs][interp]}", "--no-such-flag"], ["--quiet"],
                  ["{f[outs][interp]}", "--out", "{f[file]}"], ["{f[outs][interp]}", "--dpi"],
                  ["{f[outs][interp]}", "--device", "cpu"], ["{f[outs][interp]}", "--format", "h5"],
                  ["{f[dir]}/nope", "{f[outs][interp]}"]],
    "demo": [[flag, value] for flag, values in (
        ("--epochs", ("4", "x", "-1", "0", "5", "1e3", "", "2.5", "nan")),
        ("--seeds", ("0", "-1", "x", "")),
        ("--data", ("mnist", "", "friedman")),
        ("--grid", ("0", "-2", "1", "x", "", "1.5", "inf")),
        ("--seed", ("1.5", "x", "", "one")),
        ("--device", ("tpu", "", "gpu", "CPU"))) for value in values]
        + [["--out", "{f[file]}"], ["--epochs"], ["--grid"], ["--quiet", "--grid", "x"], ["extra"],
           ["--lr", "0.1"], ["--no-plot", "--epochs", "4"]],
}


def _cases(command: str) -> list[list[str]]:
    cases = [list(c) for c in OWN[command]]
    if command in ("plot", "export", "report"):
        return cases
    if command == "demo":
        return cases + [c for c in COMMON if c[0] in ("--device", "--seed", "--no-such-flag", "--out")]
    shared = [["--run", "{f[run]}", *c] if command != "train" else c for c in COMMON]
    if command in ("plane", "interp", "rays", "curve"):
        shared += LANDSCAPE
        shared += [_points(command, f"{{f[{b}]}}") for b in BAD_CHECKPOINTS]
    elif command == "sharpness":
        shared += [_points(command, f"{{f[{b}]}}") for b in BAD_CHECKPOINTS]
    return cases + shared


def _fill(args: list[str], f: dict, out: str) -> list[str]:
    """Replace ``{out}``, ``{f[name]}`` and ``{f[outs][command]}`` (other braces, as in JSON, stay)."""
    import re

    def sub(m):
        if m.group(0) == "{out}":
            return out
        return f["outs"][m.group(2)] if m.group(2) else f[m.group(1)]

    return [re.sub(r"\{out\}|\{f\[(\w+)\](?:\[(\w+)\])?\}", sub, a) for a in args]


def _digest(folder: str) -> dict[str, str]:
    from pathlib import Path

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.name.startswith(".swa-landscape")}


@pytest.mark.parametrize("command", COMMANDS)
def test_tables_are_large_enough(command):
    assert len(_cases(command)) >= 30, (command, len(_cases(command)))


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_malformed_input(fz, capsys, command):
    out = fz["outs"][command]
    before = _digest(out)
    failures = []
    for case in _cases(command):
        argv = _fill(case, fz, out)
        if "--out" not in argv and command != "export":  # export's --out is a file: its cases name it
            argv += ["--out", out]
        bare = command in ("plot", "export", "report")
        argv = [command, *argv] + ([] if bare else ["--device", "cpu"] if "--device" not in argv else [])
        argv += [] if bare or "--quiet" in argv else ["--quiet"]
        code, stdout, err = cli(capsys, *argv)
        lines = err.strip().splitlines()
        if code != 2 or len(lines) != 1 or "Traceback" in err or not lines[0].startswith("swa-landscape: error:"):
            failures.append(f"{' '.join(argv)}\n  -> exit {code}, stderr {err.strip()[:300]!r}")
        if _digest(out) != before:
            failures.append(f"{' '.join(argv)}\n  -> changed the finished results in {out}")
            before = _digest(out)
    assert not failures, "\n".join(failures)
