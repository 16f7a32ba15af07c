"""What a GPU run leaves behind and takes in, provoked on the CPU (issue 21): in-memory states on another device
become CPU checkpoints, training's CUDA random state, checkpoints of CPU tensors, CUDA errors while saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

import landscape
from landscape.engine.inputs import as_checkpoints
from support import cli
from swa.errors import CheckpointError
from swa.rundir import STATE

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
    common_eval = dict(device="cpu", progress=False, self_check=False, batch_size=20, log=lambda _m: None)
    common = dict(data=(x, y), grid=3)

    def run(to):
        s = [to(st) for st in states]
        if directions is None:
            return landscape.plane(model, points=s[:3], trajectory=s, marked=s[3:], **common,
                                   settings=landscape.Settings(**common_eval))
        return landscape.plane(model, center=s[-1], directions=directions, trajectory=s, marked=s[:1], **common,
                               settings=landscape.Settings(**common_eval))

    got, expected = run(on_gpu), run(lambda st: st)
    assert len(got.projections) == len(expected.projections) == 5 + (2 if directions is None else 1)
    assert got.projections == expected.projections
    assert np_equal(got.store.values["train_loss"], expected.store.values["train_loss"])


def np_equal(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


# ------------------------------------------------------------------ training: devices, random state, saving
def toy_config(out, **changes):
    """A training run of seconds: a small MLP on the 2-D regression set."""
    from swa.config import TrainConfig
    from swa.data import DataSpec
    from swa.models import ModelSpec

    base = dict(model=ModelSpec("mlp", {"hidden": [8]}), data=DataSpec("toy2d"), out=str(out), epochs=2,
                batch_size=250, lr=0.05, device="cpu", eval_batch_size=1000)
    base.update(changes)
    return TrainConfig(**base)


@pytest.fixture
def cuda_calls(monkeypatch):
    """A machine that says it has two GPUs; every CUDA random-state call is recorded (none really runs)."""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)

    def record(name, result=None):
        def fn(*args, **kwargs):
            calls.append((name, args, kwargs))
            return result
        return fn

    for name in ("get_rng_state_all", "set_rng_state_all", "set_rng_state", "init"):
        monkeypatch.setattr(torch.cuda, name, record(name))
    monkeypatch.setattr(torch.cuda, "get_rng_state", record("get_rng_state", torch.full((16,), 7, dtype=torch.uint8)))
    return calls


def _trainer(tmp_path, **changes):
    from swa.data import load_data
    from swa.trainer import Trainer

    config = toy_config(tmp_path / "run", **changes)
    return Trainer(config, load_data(config.data), progress=False)


def test_a_cpu_run_never_touches_cuda(tmp_path, cuda_calls):
    """On a machine with GPUs, a CPU run (training, saving, resuming) initializes no GPU and reads no GPU state."""
    from swa.trainer import train

    train(toy_config(tmp_path / "run", epochs=2), progress=False)
    state = torch.load(tmp_path / "run" / STATE, weights_only=True)
    assert state["rng"]["cuda"] == []
    trainer = _trainer(tmp_path)
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 8  # written on a GPU machine (old format)
    trainer.load_state_dict(state)
    assert cuda_calls == []


def test_a_cuda_run_saves_and_restores_its_own_device_only(tmp_path, cuda_calls):
    trainer = _trainer(tmp_path)
    trainer.device = torch.device("cuda", 1)  # as a run on the second GPU (the model stays on the CPU here)
    state = trainer.state_dict()
    assert [c[0] for c in cuda_calls] == ["get_rng_state"]
    assert cuda_calls[0][1] == (torch.device("cuda", 1),)
    assert len(state["rng"]["cuda"]) == 1 and torch.equal(state["rng"]["cuda"][0], torch.full((16,), 7,
                                                                                            dtype=torch.uint8))
    cuda_calls.clear()
    trainer.load_state_dict(state)
    assert [(c[0], c[1][1]) for c in cuda_calls] == [("set_rng_state", torch.device("cuda", 1))]
    assert torch.equal(cuda_calls[0][1][0], state["rng"]["cuda"][0])


def test_resuming_on_fewer_gpus_restores_the_first_state(tmp_path, cuda_calls):
    """A state written by the old format on an 8-GPU machine (one entry per GPU) resumes on one GPU."""
    trainer = _trainer(tmp_path)
    state = trainer.state_dict()
    state["rng"]["cuda"] = [torch.full((16,), i, dtype=torch.uint8) for i in range(8)]
    trainer.device = torch.device("cuda")
    trainer.load_state_dict(state)
    assert [c[0] for c in cuda_calls] == ["set_rng_state"]
    assert torch.equal(cuda_calls[0][1][0], state["rng"]["cuda"][0])


def test_a_cuda_state_resumed_on_the_cpu_is_ignored(tmp_path, cuda_calls):
    trainer = _trainer(tmp_path)
    state = trainer.state_dict()
    state["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)]
    trainer.load_state_dict(state)
    assert cuda_calls == []


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def test_every_checkpoint_is_saved_with_cpu_tensors(tmp_path, monkeypatch):
    """Points, the resume state, final.pt and swa.pt: whatever device the model's tensors are on, torch.save is
    given plain CPU tensors (the model's state is made to look as on a GPU here)."""
    trainer = _trainer(tmp_path, method="swa", swa_start=0, epochs=2)
    real_state_dict = trainer.model.state_dict
    monkeypatch.setattr(trainer.model, "state_dict", lambda *a, **k: on_gpu(real_state_dict(*a, **k)))
    saved = {}
    real_save = torch.save

    def spy(obj, f, *args, **kwargs):
        tensors = list(_tensors(obj))
        saved[str(f)] = (len(tensors), all(type(t) is torch.Tensor and t.device.type == "cpu" for t in tensors))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", spy)
    trainer.train_epoch()
    trainer.epoch = 1
    trainer.collect()
    trainer.save()
    trainer.finish()
    names = sorted(p.relative_to(tmp_path / "run").as_posix() for p in (tmp_path / "run").rglob("*.pt"))
    assert names == sorted(["checkpoints/point_0001.pt", "final.pt", STATE, "swa.pt"])
    assert len(saved) == 5 and all(count > 0 and cpu for count, cpu in saved.values())  # state.pt twice
    for name in names:  # a CPU-only reader needs no map_location
        assert all(t.device.type == "cpu" for t in _tensors(torch.load(tmp_path / "run" / name, weights_only=True)))


def test_on_cpu_keeps_structure_and_cpu_tensors():
    from collections import OrderedDict, namedtuple

    from swa.devices import on_cpu

    Pair = namedtuple("Pair", "a b")
    cpu = torch.arange(3.0)
    state = OrderedDict(w=torch.ones(2).as_subclass(OnGPU), b=cpu)
    state._metadata = {"": {"version": 1}}
    obj = {"model": state, "list": [torch.zeros(1).as_subclass(OnGPU), 3], "pair": Pair(cpu, "x"), "n": None}
    out = on_cpu(obj)
    assert type(out["model"]) is OrderedDict and out["model"]._metadata == state._metadata
    assert type(out["model"]["w"]) is torch.Tensor and torch.equal(out["model"]["w"], torch.ones(2))
    assert out["model"]["b"] is cpu and out["pair"] == Pair(cpu, "x") and out["list"][1] == 3 and out["n"] is None
    assert all(type(t) is torch.Tensor and t.device.type == "cpu" for t in _tensors(out))


# ------------------------------------------------------------------ a CUDA error while saving
@pytest.mark.parametrize("error", [
    RuntimeError("CUDA error: an illegal memory access was encountered\nCUDA kernel errors might be asynchronously "
                 "reported at some other API call"),
    RuntimeError("CUDA error: device-side assert triggered"),
    torch.AcceleratorError("unspecified launch failure") if hasattr(torch, "AcceleratorError") else
    RuntimeError("CUDA error: unspecified launch failure")])
def test_a_device_error_while_saving_is_not_a_disk_failure(tmp_path, monkeypatch, error):
    from swa.io import save_torch

    def fail(obj, f, *args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(type(error)) as caught:
        save_torch({"w": torch.ones(2)}, tmp_path / "x.pt")
    assert caught.value is error and not isinstance(caught.value, OSError)
    assert list(tmp_path.iterdir()) == []  # no file, no temporary left behind


def test_a_deferred_cuda_error_surfaces_when_copying_off_the_gpu(tmp_path):
    from swa.io import save_torch

    class Faulty(OnGPU):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.Tensor.cpu, torch.Tensor.to):
                raise RuntimeError("CUDA error: an illegal memory access was encountered")
            return super().__torch_function__(func, types, args, kwargs)

    with pytest.raises(RuntimeError, match="CUDA error: an illegal memory access") as caught:
        save_torch({"w": torch.ones(2).as_subclass(Faulty)}, tmp_path / "x.pt")
    assert not isinstance(caught.value, OSError) and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("folder", ["runs", "CUDA-runs"])
def test_a_write_failure_is_still_an_os_error(tmp_path, monkeypatch, folder):
    """torch's own write errors stay OSErrors naming the file, even when the path itself says CUDA."""
    from swa.io import save_torch

    def fail(obj, f, *args, **kwargs):
        raise RuntimeError(f"File {f} cannot be opened. PytorchStreamWriter failed writing file data/0: file write "
                           "failed")

    monkeypatch.setattr(torch, "save", fail)
    target = tmp_path / folder / "x.pt"
    with pytest.raises(OSError, match="write failed") as caught:
        save_torch({"w": torch.ones(2)}, target)
    assert caught.value.filename == str(target)


# ------------------------------------------------------------------ --deterministic
def _determinism_flags():
    import os

    return (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


@pytest.mark.parametrize("preset", [None, ":16:8"])
def test_deterministic_scope_sets_and_restores(monkeypatch, preset):
    from swa.determinism import deterministic_scope

    if preset is None:
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", preset)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    before = _determinism_flags()
    with deterministic_scope() as record:
        assert _determinism_flags() == (True, True, False, preset or ":4096:8")
        assert record == {"use_deterministic_algorithms": True, "cudnn_deterministic": True,
                          "cudnn_benchmark": False, "CUBLAS_WORKSPACE_CONFIG": preset or ":4096:8"}
    assert _determinism_flags() == before
    with deterministic_scope(False) as record:
        assert record == {} and _determinism_flags() == before


def test_train_deterministic(tmp_path, monkeypatch):
    """--deterministic: the epochs run with the flags set, the manifest records them, and they are restored."""
    import json

    import swa.trainer

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    seen = []
    real = swa.trainer.batch_loss
    monkeypatch.setattr(swa.trainer, "batch_loss", lambda *a, **k: seen.append(_determinism_flags()) or real(*a, **k))
    before = _determinism_flags()
    swa.trainer.train(toy_config(tmp_path / "run", deterministic=True), progress=False)
    assert seen and set(seen) == {(True, True, False, ":4096:8")}
    assert _determinism_flags() == before
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["config"]["deterministic"] is True
    assert manifest["determinism"]["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    seen.clear()
    swa.trainer.train(toy_config(tmp_path / "plain"), progress=False)
    assert seen and set(seen) == {before}
    assert "deterministic" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())["config"]


def test_cli_deterministic_flag(tmp_path, capsys):
    from landscape.cli import build_parser
    from landscape.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--deterministic", "--out", str(tmp_path / "r")])
    assert config_from_args(args).deterministic is True
    code, _, err = cli(capsys, "train", "--resume", "--deterministic", "--out", str(tmp_path / "r"))
    assert code == 2 and "drop --deterministic" in err and len(err.strip().splitlines()) == 1


def test_an_op_without_a_deterministic_implementation_is_one_line(tmp_path, monkeypatch):
    import swa.trainer
    from swa.errors import UserError

    real = swa.trainer.batch_loss

    def with_put(out, *args, **kwargs):
        torch.zeros(3).put_(torch.tensor([0]), torch.tensor([1.0]))  # no deterministic implementation
        return real(out, *args, **kwargs)

    monkeypatch.setattr(swa.trainer, "batch_loss", with_put)
    with pytest.raises(UserError, match=r"^`deterministic=True`: put_ of this model has no deterministic implementation "
                                         r"on cpu; train without `deterministic=True`") as caught:
        swa.trainer.train(toy_config(tmp_path / "run", deterministic=True), progress=False)
    assert "\n" not in str(caught.value) and not torch.are_deterministic_algorithms_enabled()


# ------------------------------------------------------------------ on a GPU (run by the GPU check)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_gpu_resume_is_bitwise_with_deterministic(tmp_path, device):
    """On CUDA, --deterministic makes a resumed SWA run of a conv net bitwise equal to an uninterrupted one; its
    checkpoints load on the CPU without map_location."""
    from support import digits_config
    from support import assert_resumed_run_is_bitwise

    config = lambda out: digits_config(out, device=device, epochs=4, method="swa", swa_start=1,  # noqa: E731
                                       deterministic=True)
    assert_resumed_run_is_bitwise(config, tmp_path)
    for path in (tmp_path / "full").rglob("*.pt"):
        assert all(t.device.type == "cpu" for t in _tensors(torch.load(path, weights_only=True))), path


@pytest.mark.cuda
@needs_cuda
def test_gpu_states_give_the_cpu_plane():
    """States and a model on the GPU, with a trajectory: the plane on the GPU equals the one from CPU states."""
    model, states = _mlp_states(5)
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    common_eval = dict(progress=False, batch_size=20, log=lambda _m: None)
    common = dict(data=(x, y), grid=3)
    gpu = [{k: v.cuda() for k, v in s.items()} for s in states]
    got = landscape.plane(model.cuda(), points=gpu[:3], trajectory=gpu, marked=gpu[3:],
                          settings=landscape.Settings(**common_eval, device="cuda"), **common)
    expected = landscape.plane(model.cpu(), points=states[:3], trajectory=states, marked=states[3:],
                               settings=landscape.Settings(**common_eval, device="cpu"), **common)
    assert [(p["x"], p["y"]) for p in got.projections] == [(p["x"], p["y"]) for p in expected.projections]
    np.testing.assert_allclose(got.store.values["train_loss"], expected.store.values["train_loss"], rtol=1e-5)
