"""The command line, the API with tensors and the API with a DataLoader evaluate the same way (issue 20).

Issue 20's user found the command line 28 % slower than the API and tensors slower than a DataLoader, with
far more system time. The cause was glibc's malloc unmapping every freed block above 32 MiB, so the
large batches of the tensor paths were page-faulted in afresh at every allocation
(``landscape.engine.allocator``; BENCHMARKS.md). These tests hold what makes the paths comparable: the same
dtype and layout of the data on the device, the same values from tensors and from a loader of the same
batches, and freed memory reused (not faulted in again) during an evaluation.
"""

from __future__ import annotations

import resource
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

import landscape
from landscape.engine.allocator import reuse_freed_memory
from landscape.engine.data import as_eval_data
from landscape.engine.evaluator import Evaluator
from landscape.engine.forward import Forward
from landscape.engine.weights import ParamSpace
from swa.data import DataSpec, load_data


def _images(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 3, 8, 8, generator=g), torch.randint(0, 4, (40,), generator=g)
    xt, yt = torch.randn(16, 3, 8, 8, generator=g), torch.randint(0, 4, (16,), generator=g)
    np.savez(tmp_path / "d.npz", x=x.numpy(), y=y.numpy(), x_test=xt.numpy(), y_test=yt.numpy())
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(6, 4))
    return net, (x, y), (xt, yt)


def test_cli_data_and_api_data_reach_the_device_alike(tmp_path):
    """The CLI's .npz (swa.data.load_data) and the API's tensors and loader: float32, channels-last, equal."""
    net, (x, y), (xt, yt) = _images(tmp_path)
    cli_data = as_eval_data(load_data(DataSpec(name=str(tmp_path / "d.npz"))))
    api_data = as_eval_data({"train": (x, y), "test": (xt, yt)})
    loader = as_eval_data({"train": DataLoader(TensorDataset(x, y), batch_size=40),
                           "test": DataLoader(TensorDataset(xt, yt), batch_size=16)})
    space = ParamSpace.of(net)
    placed = [Evaluator(net, d, Forward(task="classification"), space, device="cpu") for d in
              (cli_data, api_data, loader)]
    for ev in placed[:2]:
        assert ev.train.x.dtype == torch.float32 and ev.train.x.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(ev.train.x, x) and torch.equal(ev.test.y, yt)
    (bx, by), = list(placed[2].train.source)  # the loader's batches, cached on the device in the same form
    assert bx.dtype == torch.float32 and bx.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(bx, x) and torch.equal(by, y)
    assert placed[0].memory_format == placed[1].memory_format == placed[2].memory_format == torch.channels_last


@pytest.mark.parametrize("bn, loader_batch", [("fixed", 8), ("recompute", 40)])
def test_tensors_and_a_loader_of_the_same_batches_give_the_same_values(tmp_path, bn, loader_batch):
    """A loader of the batches the tensor path cuts (``batch_size``) gives the same plane; under ``recompute``
    with all samples in one batch, as the tensor path's one-batch BatchNorm pass."""
    net, (x, y), (xt, yt) = _images(tmp_path)
    states = []
    for i in range(3):
        torch.manual_seed(10 + i)
        states.append({k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v
                       for k, v in net.state_dict().items()})
    kw_eval = dict(bn=bn, batch_size=loader_batch, device="cpu", progress=False, self_check=False, log=lambda _: None)
    kw = dict(grid=3)
    tensors = landscape.plane(net, states, {"train": (x, y), "test": (xt, yt)}, **kw,
                              settings=landscape.Settings(**kw_eval))
    loader = landscape.plane(net, states, {"train": DataLoader(TensorDataset(x, y), batch_size=loader_batch),
                                           "test": DataLoader(TensorDataset(xt, yt), batch_size=loader_batch)}, **kw,
                             settings=landscape.Settings(**kw_eval))
    for m in ("train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose(loader[m], tensors[m], rtol=1e-5, atol=1e-7)


def _faults_of_a_forward(net: nn.Module, x: torch.Tensor) -> int:
    """Minor page faults of the third of three forwards (the first two warm up whatever can be reused)."""
    for i in range(3):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        with torch.inference_mode():
            net(x)
        if i == 2:
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    raise AssertionError


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc (Linux)")
def test_freed_cpu_memory_is_reused_not_faulted_in_again():
    """Activations of 64 MiB (above glibc's largest dynamic mmap threshold, 32 MiB) are unmapped at every free
    and faulted in again at the next forward, outside :func:`reuse_freed_memory`; inside, the heap keeps them."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
    x = torch.randn(256, 3, 64, 64)  # each activation: 256 * 16 * 64 * 64 * 4 bytes = 64 MiB
    pages = 2 * (64 << 20) // resource.getpagesize()
    outside = _faults_of_a_forward(net, x)
    with reuse_freed_memory("cpu") as held:
        assert held
        inside = _faults_of_a_forward(net, x)
    after = _faults_of_a_forward(net, x)
    if outside > pages // 2:  # 4 KiB pages faulted in at every forward (no transparent huge pages)
        assert inside < pages // 50, (inside, outside)
        assert after > pages // 2, "the thresholds are restored on leaving"
    with reuse_freed_memory("cuda") as held:  # CUDA has its own caching allocator: nothing to do
        assert not held
