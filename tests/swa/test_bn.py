"""Exact BatchNorm statistics against a one-batch forward pass and against concatenated activations."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.optim.swa_utils import update_bn

from swa.bn import has_batchnorm, update_bn_exact
from swa.models import ModelSpec, build_model

from support import one_batch_bn_reference


def _perturbed_cnn(digits, seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelSpec("cnn_small", {"width": 8}), num_outputs=10, input_shape=(1, 8, 8))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return model


def _bn_buffers(model):
    return {k: v for k, v in model.state_dict().items() if "running_" in k}


@pytest.mark.parametrize("batch_size", [100, 128, 1347, 2000])
def test_exact_mode_equals_one_batch_forward(digits, batch_size):
    """Acceptance 3: sample-weighted mean and unbiased variance as if the training set were one batch."""
    model = _perturbed_cnn(digits)
    ref = _bn_buffers(one_batch_bn_reference(model, digits.x_train))
    update_bn_exact(model, digits.x_train, batch_size=batch_size, mode="exact")
    got = _bn_buffers(model)
    assert got.keys() == ref.keys() and len(got) == 6
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)


def test_single_pass_equals_concatenated_activations(digits):
    """With per-batch upstream statistics, each layer's stats are those of all its batch inputs pooled."""
    model = _perturbed_cnn(digits, seed=1)
    captured: dict[nn.Module, list[torch.Tensor]] = {}
    probe = copy.deepcopy(model)
    layers = [m for m in probe.modules() if isinstance(m, _BatchNorm)]
    hooks = [m.register_forward_pre_hook(lambda mod, inp: captured.setdefault(mod, []).append(inp[0].clone()))
             for m in layers]
    probe.train()
    with torch.no_grad():
        for start in range(0, 1347, 200):
            probe(digits.x_train[start:start + 200])
    for h in hooks:
        h.remove()
    update_bn_exact(model, digits.x_train, batch_size=200, mode="single-pass")
    got = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for mine, theirs in zip(got, layers):
        acts = torch.cat(captured[theirs]).double().transpose(0, 1).reshape(theirs.num_features, -1)
        torch.testing.assert_close(mine.running_mean.double(), acts.mean(1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(mine.running_var.double(), acts.var(1, unbiased=True), rtol=1e-5, atol=1e-6)


def test_update_bn_only_approximates_with_uneven_batches(digits):
    """PyTorch's update_bn weights batches equally; ours differs when the last batch is smaller."""
    model = _perturbed_cnn(digits, seed=2)
    ours, theirs = copy.deepcopy(model), copy.deepcopy(model)
    update_bn_exact(ours, digits.x_train, batch_size=1000, mode="single-pass")
    loader = [digits.x_train[i:i + 1000] for i in range(0, 1347, 1000)]  # 1000 + 347
    update_bn(loader, theirs)
    first = next(m for m in ours.modules() if isinstance(m, _BatchNorm))
    first_theirs = next(m for m in theirs.modules() if isinstance(m, _BatchNorm))
    # The first BN layer sees conv(x): its exact mean is the channel mean of conv(x) over the whole set.
    torch.testing.assert_close(first.running_mean, _first_conv_mean(model, digits.x_train), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(first.running_mean, first_theirs.running_mean, rtol=1e-6, atol=1e-7)


def _first_conv_mean(model, x):
    conv = model.features[0]
    with torch.no_grad():
        return conv(x).mean(dim=(0, 2, 3))


def test_modes_and_momenta_restored(digits):
    model = _perturbed_cnn(digits)
    model.train()
    model.features[1].momentum = 0.3
    model.classifier.eval()
    before = {name: m.training for name, m in model.named_modules()}
    for mode in ("exact", "single-pass"):
        update_bn_exact(model, digits.x_train, batch_size=500, mode=mode)
        assert {name: m.training for name, m in model.named_modules()} == before
        assert model.features[1].momentum == 0.3
        assert all(not m._forward_pre_hooks for m in model.modules())


def test_no_batchnorm_is_a_no_op():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    state = copy.deepcopy(model.state_dict())
    assert not has_batchnorm(model)
    update_bn_exact(model, torch.randn(10, 3))
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


def test_bad_arguments():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="mode must be one of"):
        update_bn_exact(model, torch.randn(10, 3), mode="fast")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        update_bn_exact(model, torch.randn(10, 3), batch_size=0)
    with pytest.raises(ValueError, match="at least 2 inputs"):
        update_bn_exact(model, torch.randn(1, 3))


def test_batchnorm1d_exact(digits):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 8),
                          nn.BatchNorm1d(8), nn.Linear(8, 10))
    ref = _bn_buffers(one_batch_bn_reference(model, digits.x_train))
    update_bn_exact(model, digits.x_train, batch_size=64)
    for k, v in _bn_buffers(model).items():
        torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["exact", "single-pass"])
def test_batches_of_any_form_through_call(digits, mode):
    """A re-iterable of dict batches with a ``call`` gives what the tensor path gives (uneven last batch)."""
    model = _perturbed_cnn(digits)
    want = copy.deepcopy(model)
    update_bn_exact(want, digits.x_train, batch_size=300, mode=mode)
    batches = [{"pixels": digits.x_train[i:i + 300]} for i in range(0, len(digits.x_train), 300)]
    update_bn_exact(model, batches, mode=mode, call=lambda batch: model(batch["pixels"]))
    ref = _bn_buffers(want)
    for k, v in _bn_buffers(model).items():
        torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-6, msg=k)
    if mode == "exact":  # and the one-batch forward, which the batches never were
        for k, v in _bn_buffers(one_batch_bn_reference(want, digits.x_train)).items():
            torch.testing.assert_close(ref[k], v, rtol=1e-5, atol=1e-6, msg=k)



@pytest.mark.parametrize("chunk", [300, 2000])
def test_source_without_length_is_counted_by_reading(digits, chunk):
    """An iterable with no len(): one batch or several is found by reading, and the statistics are exact."""
    class Stream:  # re-iterable, no __len__
        def __iter__(self):
            return (digits.x_train[i:i + chunk] for i in range(0, len(digits.x_train), chunk))

    model = _perturbed_cnn(digits)
    update_bn_exact(model, Stream(), mode="exact")
    ref = _bn_buffers(one_batch_bn_reference(model, digits.x_train))
    for k, v in _bn_buffers(model).items():
        torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-6, msg=k)


@pytest.mark.parametrize("mode,batch_size", [("exact", 2000), ("single-pass", 2000), ("single-pass", 200),
                                             ("exact", 200)])
def test_non_finite_old_statistics_do_not_leak(digits, mode, batch_size):
    """Momentum-1 passes compute (1 − 1)·old + batch: the old buffers are reset first, so NaN/inf there
    (a diverged checkpoint) cannot survive as 0·NaN."""
    clean, dirty = _perturbed_cnn(digits, seed=2), _perturbed_cnn(digits, seed=2)
    for m in dirty.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.fill_(float("nan"))
            m.running_var.fill_(float("inf"))
    for model in (clean, dirty):
        update_bn_exact(model, digits.x_train, batch_size=batch_size, mode=mode)
    for k, v in _bn_buffers(clean).items():
        assert torch.isfinite(v).all(), k
        torch.testing.assert_close(_bn_buffers(dirty)[k], v, rtol=0, atol=0, msg=k)
