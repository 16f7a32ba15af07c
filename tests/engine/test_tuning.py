"""Batch sizes chosen by measurement (landscape.engine.probe): the probe, the BN batch, the sidecar cache."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from landscape.engine import probe as tuning
from landscape.geometry.grid import Axis
from landscape.engine.inputs import load_checkpoints, load_context
from landscape.compute.line import compute_interp
from landscape.engine.settings import Settings


def test_probe_keeps_the_fastest_and_skips_sizes_beyond_the_samples():
    calls = []

    def run(bs):  # 256 is fastest; every call is timed from outside
        calls.append(bs)
        time.sleep(0.002 + 0.004 * abs(np.log2(bs) - 8))

    best, seconds = tuning.probe_batch_size(run, 700, torch.device("cpu"), candidates=(64, 128, 256, 512, 1024))
    assert best == 256
    assert sorted(seconds) == [64, 128, 256, 512, 700]  # 1024 > 700 samples: one batch of all of them instead
    assert calls == [bs for bs in (64, 128, 256, 512, 700) for _ in range(2)]  # each warmed up untimed, then timed


def test_activation_bytes_per_sample_counts_the_two_largest_outputs():
    model = nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 5))
    per = tuning.activation_bytes_per_sample(model, lambda: model(torch.randn(2, 10)))
    assert per == 2 * 100 * 4  # the Linear's and the ReLU's outputs, float32


def test_bn_batch_size_fits_the_budget(monkeypatch):
    monkeypatch.setattr(tuning, "free_bytes", lambda device: 4_000_000)
    # a quarter of 4 MB, two activations' worth per sample of 1 kB: 500 samples
    assert tuning.bn_batch_size(10_000, 1000, torch.device("cpu")) == 500
    assert tuning.bn_batch_size(300, 1000, torch.device("cpu")) == 300


@pytest.fixture(scope="module")
def setup(tiny_run):
    ctx = load_context(str(tiny_run.out), None, None)
    paths = [p["path"] for p in ctx.run.trajectory][:2]
    return ctx, load_checkpoints(paths, None, ctx.model)


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_probed_batch_gives_the_values_of_a_fixed_one_and_is_reused_on_resume(setup, tmp_path, monkeypatch):
    ctx, (a, b) = setup
    axis = Axis(-0.5, 1.5, 5)
    settings = dict(bn="recompute", device="cpu", progress=False, chunk=2)
    fixed = compute_interp(ctx, a, b, tmp_path / "fixed", Settings(batch_size=2048, **settings), t_axis=axis,
                           log=lambda _: None)
    probed = compute_interp(ctx, a, b, tmp_path / "probed", Settings(**settings), t_axis=axis,
                            log=lambda _: None)
    for m in ("train_loss", "test_loss"):
        np.testing.assert_allclose(probed.store.values[m], fixed.store.values[m], rtol=1e-6)
    meta = json.loads((tmp_path / "probed" / "interp.json").read_text())["evaluation"]
    assert meta["batch_size"] in (64, 128, 256, 512, 1024, 1347) and meta["bn_batch_size"] == 1347
    assert set(map(int, meta["probe_seconds"])) == {64, 128, 256, 512, 1024, 1347}
    # resume: half the points gone; the recorded batch size is used, no new probe
    with np.load(tmp_path / "probed" / "interp.npz") as f:
        arrays = dict(f)
    arrays["done"][2:] = False
    np.savez(tmp_path / "probed" / "interp.npz", **arrays)
    import landscape.engine.evaluator

    monkeypatch.setattr(landscape.engine.evaluator, "probe_batch_size", lambda *a, **k: pytest.fail("probed again on resume"))
    again = compute_interp(ctx, a, b, tmp_path / "probed", Settings(**settings), t_axis=axis,
                           log=lambda _: None)
    assert again.stats["computed"] == 3
    np.testing.assert_array_equal(again.store.values["train_loss"], probed.store.values["train_loss"])


@pytest.mark.parametrize("model_name,bn", [("mlp", "fixed"), ("cnn_small", "fixed"), ("cnn_small", "interpolate")])
def test_vmapped_chunk_equals_point_by_point(setup, model_name, bn):
    """One vmapped call per batch gives every point's values (rays: buffers shared under interpolate)."""
    from landscape.engine.data import as_eval_data
    from landscape.geometry.directions import random_directions
    from landscape.engine.evaluator import AffineFamily, Evaluator
    from landscape.engine.forward import Forward
    from landscape.engine.weights import ParamSpace
    from swa.models import ModelSpec, build_model

    ctx, (a, _) = setup
    model = ctx.model if model_name == "cnn_small" else build_model(ModelSpec("mlp"), num_outputs=10,
                                                                    input_shape=(1, 8, 8))
    state = a.state if model_name == "cnn_small" else model.state_dict()
    space = ParamSpace.of(model)
    base = space.params_of(state)
    dirs = random_directions(space, base, 2, normalization="filter", seed=1)
    family = AffineFamily(base, dirs, np.array([[0.0, 0.0], [0.5, -0.2], [1.0, 1.0], [-2.0, 0.3]]),
                          space.buffers_of(state), None, space.frozen_of(state))
    ev = Evaluator(model, as_eval_data(ctx.data), Forward(task="classification"), space, bn=bn, batch_size=500)
    assert ev.can_vmap(family)
    loop = ev.evaluate_rows(family, np.arange(4))
    ev.vmap = True
    vmapped = ev.evaluate_rows(family, np.arange(4))
    np.testing.assert_allclose(vmapped[:, [0, 2]], loop[:, [0, 2]], rtol=1e-5)
    assert np.all(np.abs(vmapped[:, [1, 3]] - loop[:, [1, 3]]) <= 1.01 / 450)
    recompute = Evaluator(model, as_eval_data(ctx.data), Forward(task="classification"), space, bn="recompute")
    assert not recompute.can_vmap(family)  # statistics per point: no vmap


def test_probe_can_choose_the_largest_cuda_candidate():
    """Issue 21.12: on CUDA the probe times as many samples as its largest candidate, so 8192 can win."""
    device = torch.device("cuda")
    assert tuning.probe_samples(device) == 8192 and tuning.probe_samples(torch.device("cpu")) == 2048
    calls, now = [], [0.0]

    def run(bs):  # a pass costs 1 s per call plus 1e-4 s per sample: the fewest calls win
        calls.append(bs)
        now[0] += (8192 / bs) * 1.0 + 8192 * 1e-4

    best, seconds = tuning.probe_batch_size(run, tuning.probe_samples(device), torch.device("cpu"),
                                            candidates=tuning.CANDIDATES["cuda"], clock=lambda: now[0])
    assert best == 8192 and sorted(seconds) == list(tuning.CANDIDATES["cuda"])
    assert calls == [bs for bs in tuning.CANDIDATES["cuda"] for _ in range(2)]


def test_tune_probes_as_many_samples_as_the_largest_candidate(setup, monkeypatch):
    import landscape.engine.evaluator as evaluator_module
    from landscape.engine.data import as_eval_data
    from landscape.engine.evaluator import AffineFamily, Evaluator
    from landscape.engine.forward import Forward
    from landscape.engine.weights import ParamSpace

    ctx, (a, _) = setup
    space = ParamSpace.of(ctx.model)
    family = AffineFamily(space.params_of(a.state), torch.zeros(1, space.num_params), np.zeros((1, 1)),
                          space.buffers_of(a.state), None, space.frozen_of(a.state))
    monkeypatch.setitem(tuning.CANDIDATES, "cpu", (16, 32, 100))
    probed = []
    monkeypatch.setattr(evaluator_module, "probe_batch_size",
                        lambda run, samples, device: probed.append(samples) or (32, {32: 1.0}))
    ev = Evaluator(ctx.model, as_eval_data(ctx.data), Forward(task="classification"), space, bn="fixed",
                   batch_size=None)
    assert ev.tune(family)["batch_size"] == 32 and probed == [100]


@pytest.mark.slow  # over 1 s: not in make test-fast
def test_resume_on_another_device_probes_again(setup, tmp_path, monkeypatch):
    """Issue 21.11: a result whose batch sizes were probed on "cuda:0" and is resumed on the CPU probes again
    (the device is recorded, but is no part of the resume key: the result is accepted and completed)."""
    import landscape.engine.evaluator as evaluator_module

    ctx, (a, b) = setup
    monkeypatch.setitem(tuning.CANDIDATES, "cpu", (512, 2048))  # a shorter probe
    axis = Axis(-0.5, 1.5, 3)
    settings = Settings(bn="recompute", device="cpu", progress=False, chunk=1)
    first = compute_interp(ctx, a, b, tmp_path, settings, t_axis=axis, log=lambda _: None)
    side = tmp_path / "interp.json"
    meta = json.loads(side.read_text())
    assert meta["evaluation"]["device"] == "cpu" and meta["evaluation"]["device_name"] == tuning.device_name(
        torch.device("cpu"))
    with np.load(tmp_path / "interp.npz") as f:
        arrays = dict(f)
    arrays["done"][1:] = False
    np.savez(tmp_path / "interp.npz", **arrays)
    probes = []
    real = evaluator_module.probe_batch_size

    def spy(*args, **kwargs):
        probes.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluator_module, "probe_batch_size", spy)
    same = compute_interp(ctx, a, b, tmp_path, settings, t_axis=axis, log=lambda _: None)
    assert probes == [] and same.stats["computed"] == 2  # the same device: its batch sizes reused

    meta = json.loads(side.read_text())
    meta["evaluation"].update(device="cuda:0", device_name="NVIDIA H200", batch_size=8192, bn_batch_size=8192)
    side.write_text(json.dumps(meta))
    np.savez(tmp_path / "interp.npz", **arrays)
    again = compute_interp(ctx, a, b, tmp_path, settings, t_axis=axis, log=lambda _: None)
    assert len(probes) == 1 and again.stats["computed"] == 2
    evaluation = json.loads(side.read_text())["evaluation"]
    assert evaluation["device"] == "cpu" and evaluation["batch_size"] != 8192 and evaluation["bn_batch_size"] == 1347
    for m in ("train_loss", "test_loss"):
        np.testing.assert_allclose(again.store.values[m], first.store.values[m], rtol=1e-6)
