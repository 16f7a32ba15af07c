"""On a CUDA GPU (issue 21): what the CPU cannot show. Skipped without one (conftest); scripts/gpu_check.sh runs
them on a GPU machine.

- a plane on CUDA is the CPU's plane (fp32: TF32 off), within 1e-5 relative;
- in-memory states on the GPU, with a trajectory to project (item 1);
- real out-of-memory errors (a per-process memory cap): the probe stops below them, the Hessian objective
  halves its batch and gives the products of a run that fitted (items 6, 10);
- the top Hessian eigenvalue on CUDA is the CPU's.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
import torch.nn as nn

pytestmark = pytest.mark.cuda

GIB = 1 << 30


@contextlib.contextmanager
def memory_cap(gib: float):
    """The caching allocator refuses to hold more than ``gib`` GiB of this process's memory on GPU 0."""
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, gib * GIB / total), 0)
    try:
        yield
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
        torch.cuda.empty_cache()


def _cnn_states(seeds=(0, 1, 2)):
    from swa.models import ModelSpec, build_model

    states = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(ModelSpec("cnn_small", {"width": 8}), num_outputs=10, input_shape=(1, 8, 8))
        states.append({k: v.clone() for k, v in model.state_dict().items()})
    return model, states


def test_plane_on_cuda_is_the_cpu_plane(digits):
    import landscape

    model, states = _cnn_states()
    kwargs_eval = dict(bn="recompute", progress=False, self_check=False, log=lambda _: None)
    kwargs = dict(grid=5)
    cpu = landscape.plane(model, states, digits, settings=landscape.Settings(**kwargs_eval, device="cpu"), **kwargs)
    gpu = landscape.plane(model, states, digits, settings=landscape.Settings(**kwargs_eval, device="cuda"), **kwargs)
    for m in ("train_loss", "test_loss"):
        np.testing.assert_allclose(gpu.store.values[m], cpu.store.values[m], rtol=1e-5, err_msg=m)
    assert np.abs(gpu.store.values["test_acc"] - cpu.store.values["test_acc"]).max() <= 2 / 450


def test_in_memory_cuda_states_with_a_trajectory(digits):
    """Item 1: states on the GPU as center and trajectory of a plane around a point (the directions are on
    the CPU): no device mismatch, and the projections of the CPU states."""
    import landscape

    model, states = _cnn_states((0, 1, 2, 3))
    on_gpu = [{k: v.cuda() for k, v in s.items()} for s in states]
    kwargs_eval = dict(progress=False, self_check=False, log=lambda _: None)
    kwargs = dict(directions="random", grid=3)
    cpu = landscape.plane(model, data=digits, center=states[0], trajectory=states[1:],
                          settings=landscape.Settings(**kwargs_eval, device="cpu"), **kwargs)
    gpu = landscape.plane(model, data=digits, center=on_gpu[0], trajectory=on_gpu[1:],
                          settings=landscape.Settings(**kwargs_eval, device="cuda"), **kwargs)
    for a, b in zip(gpu.projections, cpu.projections):
        assert (a["x"], a["y"], a["distance"]) == pytest.approx((b["x"], b["y"], b["distance"]), rel=1e-5)
    np.testing.assert_allclose(gpu.store.values["train_loss"], cpu.store.values["train_loss"], rtol=1e-5)


def test_probe_stops_below_a_real_out_of_memory_error():
    from landscape.engine import probe as tuning

    def run(bs):  # bs × 4 MiB on the GPU
        torch.empty(bs, 1 << 20, device="cuda").fill_(1.0)

    with memory_cap(10):
        best, seconds = tuning.probe_batch_size(run, 8192, torch.device("cuda"))
    assert sorted(seconds) == [256, 512, 1024, 2048]  # 4096 × 4 MiB = 16 GiB does not fit under 10
    assert torch.cuda.memory_reserved(0) < 9 * GIB  # the failed attempt's cache was returned


def test_objective_halves_its_batch_on_a_real_out_of_memory_error():
    """A conv net whose Hessian-vector product over 2048 64×64 images in one batch needs well over 4 GiB
    (float64, 1 MiB of activations per sample and layer): capped at 4 GiB it retries smaller, and the product
    is that of batches of 128 without the cap."""
    from landscape.curvature.objective import ModelObjective

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.Tanh(), nn.Conv2d(32, 32, 3, padding=1), nn.Tanh(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    g = torch.Generator().manual_seed(1)
    data = (torch.randn(2048, 3, 64, 64, generator=g), torch.randint(0, 10, (2048,), generator=g))
    kwargs = dict(state=model.state_dict(), device="cuda", dtype=torch.float64, bn_recompute=False)
    reference = ModelObjective(model, data, batch_size=128, **kwargs)
    v = torch.randn(reference.num_params, dtype=torch.float64, generator=g)
    want = reference.hvp(v).cpu()
    del reference
    with memory_cap(4), pytest.warns(RuntimeWarning, match="out of memory on cuda"):
        obj = ModelObjective(model, data, batch_size=2048, **kwargs)
        got = obj.hvp(v).cpu()
    assert obj.batch_size < 2048
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-12)


def test_free_memory_counts_the_cache():
    from landscape.engine.budget import free_memory

    block = torch.empty(GIB, dtype=torch.uint8, device="cuda")
    del block  # back in PyTorch's cache, not the device's free memory
    cached = torch.cuda.memory_reserved(0) - torch.cuda.memory_allocated(0)
    assert cached >= GIB
    assert free_memory(torch.device("cuda", 0)) >= torch.cuda.mem_get_info(0)[0] + cached - 64 * (1 << 20)


def test_top_hessian_eigenvalue_on_cuda_is_the_cpus(digits):
    from landscape.curvature.hessian import HessianOperator
    from landscape.curvature.objective import ModelObjective
    from landscape.curvature.spectrum import top_eigenvalues_lanczos

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    values = {}
    for device in ("cpu", "cuda"):
        obj = ModelObjective(model, digits, model.state_dict(), device=device, bn_recompute=False)
        values[device] = top_eigenvalues_lanczos(HessianOperator(obj), k=1, tol=1e-6, seed=0).value[0]
    assert values["cuda"] == pytest.approx(values["cpu"], rel=1e-4)
