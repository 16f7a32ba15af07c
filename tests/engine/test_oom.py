"""Out of device memory, provoked on the CPU (issue 21, items 6, 10, 13): the batch-size probe, the Hessian
objective and the vmapped chunks retry smaller, with the values of a run that had memory enough; the free-memory
estimate counts PyTorch's cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from landscape.engine import budget
from landscape.engine import probe as tuning
from landscape.curvature.objective import ModelObjective
from swa.errors import UserError

from support import small_bn_problem


def _oom(*_):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def _failing_above(limit: int, seen: list[int]):
    """A forward pre-hook that records each batch's size and runs out of memory above ``limit`` samples."""
    def hook(module, inputs):
        seen.append(inputs[0].shape[0])
        if inputs[0].shape[0] > limit:
            _oom()
    return hook


# ------------------------------------------------------------------------------------------------ the probe
def test_probe_stops_at_the_first_candidate_out_of_memory():
    calls = []

    def run(bs):
        calls.append(bs)
        if bs >= 512:
            _oom()

    ticks = iter(range(1000))
    best, seconds = tuning.probe_batch_size(run, 2000, torch.device("cpu"), candidates=(64, 128, 256, 512, 1024),
                                            clock=lambda: float(next(ticks)) * (1 if len(calls) < 5 else 0.5))
    assert sorted(seconds) == [64, 128, 256] and best in seconds
    assert calls == [64, 64, 128, 128, 256, 256, 512]  # 1024 is not tried once 512 ran out of memory


def test_probe_halves_below_the_smallest_candidate_until_a_batch_fits(monkeypatch):
    freed = []
    monkeypatch.setattr(tuning, "release_memory", lambda device: freed.append(str(device)))
    calls = []

    def run(bs):
        calls.append(bs)
        if bs > 16:
            _oom()

    best, seconds = tuning.probe_batch_size(run, 2000, torch.device("cpu"), candidates=(64, 128))
    assert best == 16 and list(seconds) == [16]
    assert calls == [64, 32, 16, 16] and len(freed) == 2  # the cache freed after each failure


def test_probe_out_of_memory_at_every_size_is_one_clear_error():
    with pytest.raises(UserError, match=r"^out of memory on cpu even at batch size 1: "):
        tuning.probe_batch_size(_oom, 100, torch.device("cpu"), candidates=(4, 8))


def test_release_memory_empties_the_cuda_cache_only_for_cuda(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    tuning.release_memory(torch.device("cpu"))
    assert emptied == []
    tuning.release_memory(torch.device("cuda", 0))
    assert emptied == [1]


# ---------------------------------------------------------------------------------------- the objective
@pytest.fixture
def bn_problem():
    net, states, splits = small_bn_problem()
    return net, states[1], {"train": splits["train"], "test": splits["test"]}


def _quantities(obj: ModelObjective, v: torch.Tensor, w: torch.Tensor):
    value, g = obj.value_and_grad()
    return {"value": obj.value(), "value_w": obj.value(w), "grad": g, "hvp": obj.hvp(v), "hvp_w": obj.hvp(v, w),
            "metrics": obj.metrics()}


@pytest.mark.parametrize("bn_recompute", [False, True])
def test_objective_retries_at_half_the_batch_with_the_same_values(bn_problem, bn_recompute):
    """120 samples; more than 40 per batch run out of memory: 2048 → (120) 60 → 30, and every quantity (value,
    gradient, both kinds of Hessian-vector product, metrics; BN statistics recomputed or not) is the one
    computed with memory enough, up to float64 rounding. With BN statistics recomputed, swa.bn merges the
    batches' moments from float32 (``RunningMoments.update``): 1e-8 apart there, so 1e-7 is allowed."""
    net, state, data = bn_problem
    kwargs = dict(state=state, dtype=torch.float64, bn_recompute=bn_recompute)
    reference = ModelObjective(net, data, **kwargs)
    torch.manual_seed(3)
    v, w = torch.randn(reference.num_params, dtype=torch.float64), reference.point + 0.01
    want = _quantities(reference, v, w)

    seen: list[int] = []
    handle = net[0].register_forward_pre_hook(_failing_above(40, seen))
    try:
        with pytest.warns(RuntimeWarning) as record:
            obj = ModelObjective(net, data, **kwargs)
            got = _quantities(obj, v, w)
    finally:
        handle.remove()
    assert [str(r.message) for r in record] == ["out of memory on cpu at batch size 120: retrying at 60",
                                                "out of memory on cpu at batch size 60: retrying at 30"]
    assert obj.batch_size == 30 and 120 in seen and 60 in seen and max(seen[-20:]) <= 40
    assert reference.batch_size == 2048  # no hook there: no retry
    rel = 1e-7 if bn_recompute else 1e-12
    for key in ("value", "value_w"):
        assert got[key] == pytest.approx(want[key], rel=rel, abs=0), key
    for key in ("grad", "hvp", "hvp_w"):
        torch.testing.assert_close(got[key], want[key], rtol=1e3 * rel, atol=1e-12, msg=key)
    assert got["metrics"] == pytest.approx(want["metrics"], rel=rel)
    torch.testing.assert_close(obj.model[1].running_var, reference.model[1].running_var, rtol=rel, atol=0)


def test_objective_retained_graph_out_of_memory_falls_back_to_smaller_batches(bn_problem):
    """The one-batch fast path keeps a gradient graph; running out of memory there (a CUDA error is a
    RuntimeError too) is not taken for "no double backward": the product is redone in smaller batches."""
    net, state, data = bn_problem
    reference = ModelObjective(net, data, state=state, dtype=torch.float64, bn_recompute=False)
    v = torch.randn(reference.num_params, dtype=torch.float64)
    want = reference.hvp(v)
    obj = ModelObjective(net, data, state=state, dtype=torch.float64, bn_recompute=False)
    calls = []
    real_grad = torch.autograd.grad

    def grad_running_out(*args, **kwargs):  # the kept graph's first gradient runs out of memory
        calls.append(kwargs.get("create_graph", False))
        if calls == [True]:
            _oom()
        return real_grad(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, pytest.warns(RuntimeWarning, match="retrying at 60"):
        mp.setattr(torch.autograd, "grad", grad_running_out)
        got = obj.hvp(v)
    assert calls[0] is True and obj.batch_size == 60 and obj._retained is None
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)


def test_objective_out_of_memory_at_batch_one_is_one_clear_error(bn_problem):
    net, state, data = bn_problem
    handle = net[0].register_forward_pre_hook(lambda module, inputs: _oom())
    try:
        with pytest.warns(RuntimeWarning), \
                pytest.raises(UserError, match=r"^out of memory on cpu even at batch size 1: "):
            ModelObjective(net, data, state=state, batch_size=4, bn_recompute=False).value()
    finally:
        handle.remove()


def test_objective_over_a_data_loader_cannot_shrink_its_batches(bn_problem):
    """A DataLoader keeps its own batch size: out of memory there is one clear error, not a retry loop."""
    from torch.utils.data import DataLoader, TensorDataset

    net, state, data = bn_problem
    loader = DataLoader(TensorDataset(*data["train"]), batch_size=60)
    handle = net[0].register_forward_pre_hook(lambda module, inputs: _oom())
    try:
        obj = ModelObjective(net, loader, state=state, bn_recompute=False)
        with pytest.raises(UserError, match=r"^out of memory on cpu with the batches the data come in: "):
            obj.value()
    finally:
        handle.remove()


# ------------------------------------------------------------------------------------- free memory (item 10)
def test_free_memory_counts_the_reserved_but_unallocated_cache(monkeypatch):
    gib = 1 << 30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * gib, 80 * gib))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 10 * gib)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 4 * gib)
    assert budget.free_memory(torch.device("cuda", 0)) == 9 * gib  # 3 free on the device + 6 cached by PyTorch


# ----------------------------------------------------------------------------------- vmapped chunks (item 13)
def _vmap_setup(digits, chunk_points=6):
    from landscape.engine.data import as_eval_data
    from landscape.geometry.directions import random_directions
    from landscape.engine.evaluator import AffineFamily, Evaluator
    from landscape.engine.forward import Forward
    from landscape.engine.weights import ParamSpace

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    space = ParamSpace.of(model)
    state = model.state_dict()
    base = space.params_of(state)
    dirs = random_directions(space, base, 2, normalization="filter", seed=1)
    coords = np.random.default_rng(0).uniform(-1, 1, (chunk_points, 2))
    family = AffineFamily(base, dirs, coords, space.buffers_of(state), None, space.frozen_of(state))
    evaluator = Evaluator(model, as_eval_data(digits),
                          Forward(task="classification"), space, bn="fixed", batch_size=256)
    return evaluator, family


def test_vmapped_chunk_out_of_memory_falls_back_to_the_loop(digits, monkeypatch):
    evaluator, family = _vmap_setup(digits)
    rows = np.arange(len(family))
    loop = evaluator.evaluate_rows(family, rows)
    evaluator.vmap = True
    monkeypatch.setattr(evaluator, "_evaluate_vmapped", _oom)
    got = evaluator.evaluate_rows(family, rows)
    assert evaluator.vmap is False  # the next chunks go one by one straight away
    np.testing.assert_array_equal(got, loop)


def test_vmap_check_times_a_whole_chunk_and_survives_out_of_memory(digits, monkeypatch):
    evaluator, family = _vmap_setup(digits, chunk_points=20)
    sizes = []
    real = evaluator.evaluate_rows

    def spy(fam, rows):
        sizes.append((evaluator.vmap, len(rows)))
        return real(fam, rows)

    monkeypatch.setattr(evaluator, "evaluate_rows", spy)
    evaluator._vmap_is_faster(family, 12)
    assert sizes == [(False, 12), (True, 12)] * 2  # the runner's chunk, not a fixed 8 points
    monkeypatch.setattr(evaluator, "_evaluate_vmapped", _oom)
    assert evaluator._vmap_is_faster(family, 12) is False and evaluator.vmap is False


# ------------------------------------------------------------------------- the Hessian directions' batch size
def test_hessian_directions_take_their_batch_size(monkeypatch, capsys):
    """``hessian_batch_size`` reaches the Hessian objective of a Hessian plane (item 6); the eigenvalues are
    those of the default batch size up to rounding, and a bad value is one clear error."""
    import landscape
    import landscape.compute.around_plane as around_plane
    import landscape.curvature.objective as objective

    sizes = []

    class Spy(objective.ModelObjective):
        def __init__(self, *args, **kwargs):
            sizes.append(kwargs["batch_size"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(around_plane, "ModelObjective", Spy)  # where the Hessian plane builds its objective
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    g = torch.Generator().manual_seed(1)
    data = {"train": (torch.randn(100, 5, generator=g), torch.randint(0, 3, (100,), generator=g))}
    kwargs_eval = dict(device="cpu", progress=False, self_check=False, log=lambda _: None)
    kwargs = dict(data=data, center=model.state_dict(), grid=2, settings=landscape.Settings(**kwargs_eval))
    default = landscape.plane(model, directions="hessian", **kwargs)
    small = landscape.plane(model, directions=landscape.Directions("hessian", hessian_batch_size=16), **kwargs)
    assert sizes == [2048, 16]
    np.testing.assert_allclose(small.directions.about["eigenvalues"], default.directions.about["eigenvalues"],
                               rtol=1e-5)
    with pytest.raises(UserError, match=r"^`hessian_batch_size` must be at least 1, got 0$"):
        landscape.Directions("hessian", hessian_batch_size=0)
