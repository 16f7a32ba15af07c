"""Trainer paths not covered elsewhere: fine-tuning, Adam, regression, SGD trajectories, config checks."""

from __future__ import annotations

import pytest
import torch

from swa.checkpoint import load_state_dict
from swa.config import TrainConfig
from swa.data import DataSpec
from swa.errors import ConfigError
from swa.models import ModelSpec
from swa.trainer import train


def test_init_from_starts_at_the_checkpoint(small_config, tmp_path):
    first = train(small_config(out=tmp_path / "a", epochs=2), progress=False)
    tuned = train(small_config(out=tmp_path / "b", epochs=1, optimizer="adam", lr=1e-9, lr_schedule="constant",
                               weight_decay=0.0, init_from=str(first.final)), progress=False)
    start, end = load_state_dict(first.final), load_state_dict(tuned.final)
    for k, v in start.items():
        if v.is_floating_point() and "running" not in k:
            torch.testing.assert_close(end[k], v, rtol=0, atol=1e-6, msg=k)
    # Starting from a trained model, the first epoch's test loss is already that model's.
    assert tuned.metrics[0]["test_loss"] == pytest.approx(first.metrics[-1]["test_loss"], rel=0.05)


def test_regression_run_on_toy2d(tmp_path):
    config = TrainConfig(model=ModelSpec("mlp", {"hidden": [32, 32]}), data=DataSpec("toy2d", kwargs={"n_train": 256,
                         "n_test": 128}), out=str(tmp_path / "r"), epochs=6, batch_size=32, lr=0.05,
                         method="swa", swa_start=3, device="cpu")
    result = train(config, progress=False)
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]
    assert result.metrics[-1]["avg_test_acc"] is None and result.metrics[-1]["avg_test_loss"] > 0
    assert len(result.trajectory) == 3


def test_sgd_with_swa_start_saves_points_without_averaging(small_config):
    result = train(small_config(epochs=4, method="sgd", swa_start=1, cycle=2), progress=False)
    assert [p["epoch"] for p in result.trajectory] == [3]
    assert result.swa is None and not (result.out / "swa.pt").exists()
    assert result.metrics[-1]["avg_test_loss"] is None


@pytest.mark.parametrize("changes,message", [
    (dict(method="swa", lr_schedule="cyclic", cycle=2, swa_start=1, epochs=6), r"multiple of `cycle`"),
    (dict(method="pswa", cycle=2, pswa_period=3, swa_start=0, epochs=6), r"^`pswa_period` \(3\) must be a multiple"),
    (dict(method="swa", pswa_period=3), r"^`pswa_period` applies to `method='pswa'` only"),
    (dict(lr_min=1.0, lr=0.1), r"^`lr_min=1.0` must not exceed `lr=0.1`"),
    (dict(epochs=0), r"^`epochs` must be a positive integer"),
    (dict(optimizer="lbfgs"), r"^`optimizer='lbfgs'` is not one of sgd, adam"),
    (dict(weight_decay=float("nan")), r"^`weight_decay` must be a finite number"),
])
def test_config_validation(small_config, changes, message):
    with pytest.raises(ConfigError, match=message):
        small_config(**changes)


def test_config_round_trips_through_json(small_config):
    config = small_config(method="pswa", epochs=6, swa_start=2, pswa_period=2, lr_milestones=(2, 4))
    assert TrainConfig.from_json(config.to_json()) == config


def test_divergence_with_finite_losses_is_flagged(tmp_path, capsys):
    """Issue 8.7: lr 50 ends with finite but huge losses: a warning on stderr and in the manifest."""
    import json

    from support import cli
    from swa.trainer import divergence_warnings

    code, out, err = cli(capsys, "train", "--lr", "50", "--epochs", "3", "--model", "mlp", "--device", "cpu",
                         "--quiet", "--out", str(tmp_path / "r"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["warnings"] and "lower --lr" in manifest["warnings"][-1]
    assert "swa-landscape: warning:" in err
    # The rule itself, on hand-made records: a rise of more than 10x, or worse than twice a uniform guess.
    rec = lambda *ls: [{"train_loss": v} for v in ls]  # noqa: E731
    assert divergence_warnings(rec(2.0, 0.5, 0.4), "classification", 10) == []
    assert "rose from 0.1 to 5" in divergence_warnings(rec(2.0, 0.1, 5.0), "regression", 1)[0]
    assert "uniform guess" in divergence_warnings(rec(9.0, 8.0, 7.0), "classification", 10)[0]


def test_train_only_updates_the_named_parameters_and_nothing_else(small_config, tmp_path):
    first = train(small_config(out=tmp_path / "a", epochs=1), progress=False)
    start = load_state_dict(first.final)
    prefix = "classifier."  # the small CNN's final linear layer
    probe = train(small_config(out=tmp_path / "b", epochs=2, optimizer="adam", lr=1e-2, init_from=str(first.final),
                               train_only=(prefix,)), progress=False)
    end = load_state_dict(probe.final)
    assert any(k.startswith(prefix) for k in start)
    for k, v in start.items():
        if not v.is_floating_point() or "running" in k:
            continue  # buffers: frozen BatchNorm layers still track statistics in training mode
        if k.startswith(prefix):
            assert not torch.equal(end[k], v), k
        else:
            assert torch.equal(end[k], v), k


def test_train_only_names_the_prefix_that_matches_nothing(small_config):
    with pytest.raises(ConfigError, match=r"^`train_only`: fcc\. matches no parameter; top-level names: "):
        train(small_config(epochs=1, train_only=("fcc.",)), progress=False)
    with pytest.raises(ConfigError, match="^`train_only` needs parameter-name prefixes"):
        small_config(train_only=())


def test_train_only_round_trips_and_old_manifests_compare_equal(small_config):
    config = small_config(train_only=("fc.", "layer4."))
    assert TrainConfig.from_json(config.to_json()) == config and config.to_json()["train_only"] == ["fc.", "layer4."]
    assert "train_only" not in small_config().to_json()  # a run written before the field existed is reused


class _Stop(Exception):
    pass


def _states_equal(a, b, names=("final.pt", "swa.pt")):
    for name in names:
        sa, sb = load_state_dict(a / name), load_state_dict(b / name)
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), name


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_a_run_whose_manifest_says_bn_update_resumes_with_its_value(small_config, tmp_path):
    """Runs written before ``bn_update`` became ``bn_pass`` resume with the value they recorded: the resumed run
    equals an uninterrupted ``single-pass`` one bitwise (the default, ``exact``, gives other BN statistics)."""
    import json

    extra = dict(method="swa", epochs=3, swa_start=1, bn_pass="single-pass", width=4)
    full = train(small_config(out=tmp_path / "full", **extra), progress=False)
    exact = train(small_config(out=tmp_path / "exact", **{**extra, "bn_pass": "exact"}), progress=False)

    def stop(epoch, trainer):
        if epoch == 2:
            raise _Stop

    with pytest.raises(_Stop):
        train(small_config(out=tmp_path / "old", **extra), progress=False, on_epoch_end=stop)
    path = tmp_path / "old" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["config"]["bn_update"] = manifest["config"].pop("bn_pass")  # as the old code wrote it
    path.write_text(json.dumps(manifest))
    resumed = train(out=tmp_path / "old", resume=True, progress=False)
    _states_equal(full.out, resumed.out)
    assert any(not torch.equal(load_state_dict(full.swa)[k], load_state_dict(exact.swa)[k])
               for k in load_state_dict(full.swa) if "running" in k)
    assert json.loads(path.read_text())["config"]["bn_pass"] == "single-pass"


def test_old_bn_update_key_and_flag_mean_bn_pass(small_config):
    from landscape.cli import build_parser
    from landscape.cli.train import config_from_args

    config = small_config(bn_pass="single-pass")
    old = {("bn_update" if k == "bn_pass" else k): v for k, v in config.to_json().items()}
    assert "bn_pass" not in old and TrainConfig.from_json(old) == config
    assert TrainConfig.upgraded_json(old) == config.to_json()  # swa.study reuses a run written before
    for flag in ("--bn-pass", "--bn-update"):
        args = build_parser().parse_args(["train", "--out", "x", "--data", "digits", "--model", "cnn_small",
                                          flag, "single-pass"])
        assert config_from_args(args).bn_pass == "single-pass"


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_tf32_training_on_a_cpu_equals_fp32_bitwise(small_config, tmp_path):
    """TF32 exists on CUDA only: a CPU run at ``tf32`` writes the numbers of an ``fp32`` one."""
    extra = dict(method="swa", epochs=2, swa_start=1, width=4)
    fp32 = train(small_config(out=tmp_path / "fp32", **extra), progress=False)
    tf32 = train(small_config(out=tmp_path / "tf32", precision="tf32", **extra), progress=False)
    _states_equal(fp32.out, tf32.out)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(fp32.metrics) == strip(tf32.metrics)
