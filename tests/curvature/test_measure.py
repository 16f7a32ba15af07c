"""The sharpness command: sharpness.json / .md, reproducibility, resumption, diverged checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscape.cli import main
from landscape.curvature.sharpness import BN_FIXED, BN_RECOMPUTED
from swa.data import DataSpec, load_data
from swa.models import ModelSpec, build_model

from support import ROOT, dense_eval_hessian, one_batch_bn_reference

MODEL = str(ROOT / "tests" / "tiny_mlp.py") + ":build"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ckpts")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model(ModelSpec(MODEL), num_outputs=10, input_shape=(1, 8, 8))
        path = tmp / f"m{seed}.pt"
        torch.save(model.state_dict(), path)
        paths.append(str(path))
    return paths


def _sharpness(out, points, *extra):
    return main(["sharpness", "--points", *points, "--labels", "A", "B", "--model", MODEL, "--data", "digits",
                 "--out", str(out), "--device", "cpu", "--quiet", *extra])


def _dense_hessian(path, x, y, recompute=False):
    """The training-loss Hessian at a checkpoint, float64, by torch.autograd.functional.hessian: eval mode with
    the checkpoint's BN statistics (PyHessian's), or with them ``recompute``d on the training set."""
    model = build_model(ModelSpec(MODEL), num_outputs=10, input_shape=(1, 8, 8))
    model.load_state_dict(torch.load(path, weights_only=True))
    if recompute:
        model = one_batch_bn_reference(model, x)
    return dense_eval_hessian(model, x, y)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_json_and_markdown_hold_every_metric(tmp_path, checkpoints):
    assert _sharpness(tmp_path, checkpoints, "--metrics", "hessian_top_eigenvalues", "hessian_trace",
                      "--top-k", "3", "--trace-matvecs", "60") == 0
    doc = json.loads((tmp_path / "sharpness.json").read_text())
    assert doc["labels"] == ["A", "B"] and "Dinh" in doc["note"]
    data = load_data(DataSpec("digits"))
    for label, path in zip(("A", "B"), checkpoints):
        res = doc["results"][label]
        assert {"train_loss", "train_acc", "test_loss", "test_acc"} <= set(res)
        top = res["metrics"]["hessian_top_eigenvalues"]
        trace = res["metrics"]["hessian_trace"]
        assert len(top["value"]) == 3 and top["value"] == sorted(top["value"], reverse=True)
        assert top["uncertainty"] is not None and trace["uncertainty"] > 0 and "settings" in trace
        # Against the dense Hessian computed independently (autograd.functional.hessian, float64), by default
        # that of the eval-mode network with the checkpoint's own BN statistics, as PyHessian (issue 20).
        eig = np.linalg.eigvalsh(_dense_hessian(path, data.x_train, data.y_train))
        np.testing.assert_allclose(top["value"], eig[::-1][:3], rtol=1e-3)
        assert abs(trace["value"] - eig.sum()) <= 3 * trace["uncertainty"] + 1e-3 * abs(eig.sum())
        assert res["hvps"] > 0
    md = (tmp_path / "sharpness.md").read_text()
    assert "| metric | A | B |" in md and "hessian_trace" in md and "Dinh et al. 2017" in md
    assert doc["bn"] == BN_FIXED and f"BatchNorm: {BN_FIXED}" in md


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_bn_recompute_is_the_recomputed_statistics_hessian_and_recorded(tmp_path, checkpoints, capsys):
    assert _sharpness(tmp_path, checkpoints, "--metrics", "hessian_top_eigenvalues", "--top-k", "1",
                      "--bn", "recompute") == 0
    assert f"BatchNorm: {BN_RECOMPUTED}" in capsys.readouterr().out
    doc = json.loads((tmp_path / "sharpness.json").read_text())
    assert doc["bn"] == BN_RECOMPUTED and doc["settings"]["bn_recompute"] is True
    data = load_data(DataSpec("digits"))
    for label, path in zip(("A", "B"), checkpoints):
        top = doc["results"][label]["metrics"]["hessian_top_eigenvalues"]["value"][0]
        recomputed = np.linalg.eigvalsh(_dense_hessian(path, data.x_train, data.y_train, recompute=True))[-1]
        stored = np.linalg.eigvalsh(_dense_hessian(path, data.x_train, data.y_train))[-1]
        assert top == pytest.approx(recomputed, rel=1e-3) and abs(recomputed - stored) > 1e-2 * stored
    assert f"BatchNorm: {BN_RECOMPUTED}" in (tmp_path / "sharpness.md").read_text()


@pytest.mark.slow
def test_reproducible_from_seed_and_resumable(tmp_path, checkpoints, capsys):
    args = ("--metrics", "hessian_trace", "adaptive_average", "--trace-matvecs", "12")
    assert _sharpness(tmp_path / "a", checkpoints, *args, "--seed", "3") == 0
    assert _sharpness(tmp_path / "b", checkpoints, *args, "--seed", "3") == 0
    assert _sharpness(tmp_path / "c", checkpoints, *args, "--seed", "4") == 0
    load = lambda d: json.loads((tmp_path / d / "sharpness.json").read_text())["results"]  # noqa: E731
    a, b, c = load("a"), load("b"), load("c")
    key = "adaptive_average[rho=0.1]"
    assert a["A"]["metrics"] == b["A"]["metrics"]
    assert a["A"]["metrics"][key]["value"] != c["A"]["metrics"][key]["value"]
    capsys.readouterr()
    assert _sharpness(tmp_path / "a", checkpoints, *args, "--seed", "3") == 0
    assert "0 metric computations (4 reused)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        _sharpness(tmp_path / "a", checkpoints, *args, "--seed", "5")
    assert "holds sharpness results of other inputs" in capsys.readouterr().err


def test_diverged_checkpoint_is_a_clear_error(tmp_path, checkpoints, capsys):
    state = torch.load(checkpoints[0], weights_only=True)
    state["4.weight"] = torch.full_like(state["4.weight"], float("nan"))
    bad = tmp_path / "diverged.pt"
    torch.save(state, bad)
    with pytest.raises(SystemExit) as exc:
        _sharpness(tmp_path, [checkpoints[0], str(bad)], "--metrics", "hessian_trace")
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert "diverged.pt (B) holds non-finite values in 1 tensor: 4.weight (" in err


def test_unknown_metric_lists_the_valid_ones(tmp_path, checkpoints, capsys):
    with pytest.raises(SystemExit):
        _sharpness(tmp_path, checkpoints, "--metrics", "hessian_top_eigenvalues", "sharpness9000")
    err = capsys.readouterr().err
    assert "unknown metric(s) sharpness9000; choose from hessian_top_eigenvalues" in err


@pytest.mark.slow
def test_default_metrics_on_a_run(tiny_run, tmp_path):
    """Every default metric runs on a real CNN with BatchNorm and lands in the report."""
    from landscape.curvature.sharpness import DEFAULT_METRICS

    assert main(["sharpness", "--run", str(tiny_run.out), "--out", str(tmp_path), "--device", "cpu", "--quiet",
                 "--samples", "256", "--directions", "3", "--trace-matvecs", "9", "--top-k", "2",
                 "--subspace-dim", "20"]) == 0
    doc = json.loads((tmp_path / "sharpness.json").read_text())
    assert doc["labels"] == ["SGD final", "SWA"] and doc["metrics"] == list(DEFAULT_METRICS)
    for label in doc["labels"]:
        rows = doc["results"][label]["metrics"]
        assert len(rows) == 12 and doc["results"][label]["samples"] == 256  # eps: 2 values x 2 spaces
        assert all(np.isfinite(r["value"]).all() if isinstance(r["value"], list) else r["value"] is not None
                   for r in rows.values())
