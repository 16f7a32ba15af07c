"""SWA output against the arithmetic mean of its trajectory, AveragedModel driven by hand, and exact BN stats."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import AveragedModel

from swa.checkpoint import load_state_dict
from swa.models import build_model
from swa.trainer import train

from support import digits_config


@pytest.fixture(scope="module")
def swa_run(tmp_path_factory):
    config = digits_config(tmp_path_factory.mktemp("swa") / "run", epochs=6, batch_size=100, method="swa",
                           swa_start=2, swa_lr=0.02)
    return train(config, progress=False)


def _param_names(model):
    return [name for name, _ in model.named_parameters()]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_swa_parameters_are_the_mean_of_the_trajectory(swa_run):
    """Acceptance 1, against torch.stack(...).mean(0) of the manifest's checkpoints."""
    manifest = json.loads((swa_run.out / "manifest.json").read_text())
    points = [load_state_dict(swa_run.out / p["path"]) for p in manifest["trajectory"]]
    assert [p["epoch"] for p in manifest["trajectory"]] == [3, 4, 5, 6]
    swa = load_state_dict(swa_run.out / manifest["swa"])
    model = build_model(swa_run_model_spec(manifest), num_outputs=10, input_shape=(1, 8, 8))
    for name in _param_names(model):
        mean = torch.stack([p[name] for p in points]).mean(0)
        torch.testing.assert_close(swa[name], mean, rtol=0, atol=1e-6, msg=name)
        # And the average differs from every single point (the test would catch a copy).
        assert all(not torch.allclose(swa[name], p[name]) for p in points)


def test_swa_parameters_match_averaged_model_driven_by_hand(swa_run):
    manifest = json.loads((swa_run.out / "manifest.json").read_text())
    model = build_model(swa_run_model_spec(manifest), num_outputs=10, input_shape=(1, 8, 8))
    averaged = AveragedModel(copy.deepcopy(model))
    for p in manifest["trajectory"]:
        model.load_state_dict(load_state_dict(swa_run.out / p["path"]))
        averaged.update_parameters(model)
    swa = load_state_dict(swa_run.out / "swa.pt")
    for name, value in averaged.module.named_parameters():
        torch.testing.assert_close(swa[name], value.detach(), rtol=0, atol=1e-6, msg=name)


def test_swa_batchnorm_statistics_are_whole_training_set_statistics(swa_run, digits):
    """Acceptance 3: running stats of swa.pt = statistics of a one-batch forward of the whole training set."""
    manifest = json.loads((swa_run.out / "manifest.json").read_text())
    model = build_model(swa_run_model_spec(manifest), num_outputs=10, input_shape=(1, 8, 8))
    model.load_state_dict(load_state_dict(swa_run.out / "swa.pt"))
    reference = copy.deepcopy(model)
    stats = {}
    hooks = [m.register_forward_pre_hook(
        lambda mod, inp, name=name: stats.__setitem__(name, inp[0].detach().double()))
        for name, m in reference.named_modules() if isinstance(m, _BatchNorm)]
    reference.train()  # the whole set as one batch: every layer normalizes with full-set batch statistics
    with torch.no_grad():
        reference(digits.x_train)
    for h in hooks:
        h.remove()
    assert len(stats) == 3
    for name, acts in stats.items():
        flat = acts.transpose(0, 1).reshape(acts.shape[1], -1)
        bn = dict(model.named_modules())[name]
        torch.testing.assert_close(bn.running_mean.double(), flat.mean(1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(bn.running_var.double(), flat.var(1, unbiased=True), rtol=1e-5, atol=1e-6)


def test_manifest_records_everything_needed(swa_run):
    from swa.rundir import open_run

    run = open_run(swa_run.out)
    m = run.manifest
    assert m["status"] == "complete" and m["final"] == "final.pt" and m["swa"] == "swa.pt"
    for key in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "swa_start", "swa_lr", "cycle", "seed"):
        assert key in m["config"]
    assert set(m["versions"]) >= {"torch", "python"}
    assert all(set(p) == {"path", "epoch", "iteration", "lr", "period"} for p in m["trajectory"])
    assert [p["iteration"] for p in m["trajectory"]] == [p["epoch"] * 14 for p in m["trajectory"]]
    # The model and data rebuild from the manifest alone and reproduce the logged test metrics.
    from swa.evaluation import evaluate

    data = run.load_data()
    model = run.build_model(run.checkpoint("swa"))
    metrics = [json.loads(line) for line in (swa_run.out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 6
    res = evaluate(model, data.x_test, data.y_test, data.task, batch_size=450)
    assert res["loss"] == pytest.approx(metrics[-1]["avg_test_loss"], rel=1e-5)
    assert res["acc"] == pytest.approx(metrics[-1]["avg_test_acc"])
    final = run.build_model(run.checkpoint("final"))
    res = evaluate(final, data.x_test, data.y_test, data.task, batch_size=450)
    assert res["loss"] == pytest.approx(metrics[-1]["test_loss"], rel=1e-5)


def swa_run_model_spec(manifest):
    from swa.models import ModelSpec

    return ModelSpec.from_json(manifest["model"])
