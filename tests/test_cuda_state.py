"""What a GPU run leaves behind and takes in, provoked on the CPU (issue 21): in-memory states on another device
become CPU checkpoints, training's CUDA random state, checkpoints of CPU tensors, CUDA errors while saving."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import landscape
from landscape.inputs import as_checkpoints
from swa.errors import CheckpointError

_METADATA = {"__get__", "size", "dim", "numel", "is_floating_point", "is_complex", "stride", "element_size",
             "__len__", "data_ptr"}


class OnGPU(torch.Tensor):
    """A tensor that behaves as one on ``cuda:0`` seen from a CPU computation: it reports that device, it can be
    moved to the CPU, and any arithmetic with it fails as mixing devices does."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__self__", None) is torch._C.TensorBase.device:  # the ``device`` property's getter
            return torch.device("cuda", 0)
        name = getattr(func, "__name__", "")
        with torch._C.DisableTorchFunctionSubclass():
            if func in (torch.Tensor.to, torch.Tensor.cpu):
                target = kwargs.get("device", args[1] if len(args) > 1 else "cpu")
                if isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu":
                    return args[0].clone().as_subclass(torch.Tensor)
            if func is torch.Tensor.detach:
                return func(*args, **kwargs).as_subclass(cls)
            if name in _METADATA:
                return func(*args, **kwargs)
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                           f"cuda:0 and cpu! ({name})")


def on_gpu(state):
    return {k: v.clone().as_subclass(OnGPU) for k, v in state.items()}


def _mlp_states(n=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    states = []
    for _ in range(n):
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return model, states


def test_the_fake_mixes_devices():
    """The stand-in fails as a real GPU tensor would in CPU arithmetic, so the tests below can fail."""
    t = torch.ones(3).as_subclass(OnGPU)
    assert t.device == torch.device("cuda", 0)
    with pytest.raises(RuntimeError, match="same device"):
        t + torch.ones(3)
    moved = t.to("cpu")
    assert type(moved) is torch.Tensor and moved.device.type == "cpu" and torch.equal(moved, torch.ones(3))


def test_in_memory_states_become_cpu_checkpoints():
    model, states = _mlp_states(2)
    ckpts = as_checkpoints([on_gpu(states[0]), on_gpu(states[1])], None, model)
    for ckpt, state in zip(ckpts, states):
        assert all(type(t) is torch.Tensor and t.device.type == "cpu" for t in ckpt.state.values())
        assert all(torch.equal(ckpt.state[k], state[k]) for k in state)
    plain = as_checkpoints(states, None, model)
    assert [c.digest for c in ckpts] == [c.digest for c in plain]


def test_cpu_states_are_not_copied():
    model, states = _mlp_states(1)
    (ckpt,) = as_checkpoints(states, None, model)
    assert all(ckpt.state[k].data_ptr() == states[0][k].data_ptr() for k in states[0])


def test_a_meta_state_is_one_clear_error():
    model, states = _mlp_states(1)
    meta = {k: v.to("meta") for k, v in states[0].items()}
    with pytest.raises(CheckpointError, match=r"point 0 .*: 0.weight is on the meta device \(it holds no values\)"):
        as_checkpoints([meta], None, model)


@pytest.mark.parametrize("directions", [None, "random", "pca"])
def test_plane_projects_states_from_another_device(directions):
    """Anchors, trajectory and marked points on a GPU, directions on the CPU: the projections equal those of
    CPU states (through three points; around a center with random and PCA directions)."""
    model, states = _mlp_states(5)
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    common = dict(data=(x, y), grid=3, device="cpu", progress=False, log=lambda _m: None, self_check=False,
                  batch_size=20)

    def run(to):
        s = [to(st) for st in states]
        if directions is None:
            return landscape.plane(model, points=s[:3], trajectory=s, marked=s[3:], **common)
        return landscape.plane(model, center=s[-1], directions=directions, trajectory=s, marked=s[:1], **common)

    got, expected = run(on_gpu), run(lambda st: st)
    assert len(got.projections) == len(expected.projections) == 5 + (2 if directions is None else 1)
    assert got.projections == expected.projections
    assert np_equal(got.store.values["train_loss"], expected.store.values["train_loss"])


def np_equal(a, b):
    import numpy as np

    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
