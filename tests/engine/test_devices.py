"""swa.devices: the device names taken everywhere (cuda:N included) and the non-blocking copy rule (issue 21)."""

from __future__ import annotations

import pytest
import torch

from support import cli
from swa.devices import check_device_name, resolve_device, to_device
from swa.errors import ConfigError


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine that says it has two GPUs (nothing is ever run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:1", "cuda:12"])
def test_device_names_taken(name):
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:01", "cuda:1.0", "cuda:0 ", "mps", "", None])
def test_other_names_refused(name):
    with pytest.raises(ConfigError, match=r"^`device` .* is not one of auto, cpu, cuda, cuda:N"):
        check_device_name(name)


def test_resolve_cuda_index(two_gpus):
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ConfigError, match=r"^`device='cuda:2'`: this machine shows 2 GPUs \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_resolve_cuda_index_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="`device='cuda:0'` was asked for but no CUDA device is available"):
        resolve_device("cuda:0")


def test_train_config_takes_cuda_index(tmp_path):
    from support import digits_config

    assert digits_config(tmp_path, device="cuda:3").device == "cuda:3"
    with pytest.raises(ConfigError, match="'cuda:x' is not one of"):
        digits_config(tmp_path, device="cuda:x")


def test_eval_settings_take_cuda_index():
    from landscape.engine.settings import Settings

    assert Settings(device="cuda:1").device == "cuda:1"
    with pytest.raises(ConfigError, match="'gpu' is not one of auto, cpu, cuda, cuda:N"):
        Settings(device="gpu")


def test_cli_past_the_last_gpu_is_one_line(capsys, tmp_path, two_gpus):
    code, _, err = cli(capsys, "train", "--device", "cuda:5", "--out", str(tmp_path / "r"), "--quiet")
    assert code == 2
    assert err.strip().splitlines() == [
        "swa-landscape: error: --device cuda:5: this machine shows 2 GPUs (cuda:0 to cuda:1); pick one of those "
        "or --device cuda"]
    assert not (tmp_path / "r" / "manifest.json").exists()


@pytest.mark.parametrize("command", ["train", "plane", "sharpness"])
def test_cli_refuses_a_bad_device_name(capsys, tmp_path, command):
    code, _, err = cli(capsys, command, "--device", "cuda:one", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "argument --device: 'cuda:one' is not one of auto, cpu, cuda, cuda:N" in err


def test_cli_help_offers_cuda_index(capsys):
    code, out, _ = cli(capsys, "plane", "--help")
    assert code == 0 and "cuda:N" in out


# ---------------------------------------------------------------- non-blocking copies
class _Spy:
    """Records the ``non_blocking`` argument of every ``Tensor.to`` and does the copy synchronously on the CPU."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, str, bool]] = []
        real = torch.Tensor.to

        def to(t, *args, non_blocking=False, **kwargs):
            if args and isinstance(args[0], (str, torch.device)):  # a move (not a dtype cast)
                device = torch.device(args[0])
                self.calls.append((t.device.type, device.type, non_blocking))
                args = ("cpu" if device.type == "cuda" else device, *args[1:])
            return real(t, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, "to", to)


class _Placed:
    """A stand-in tensor on any device (a GPU too): records how it is asked to move."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.moves = []

    def to(self, device, non_blocking=False):
        self.moves.append((torch.device(device), non_blocking))
        return self


@pytest.mark.parametrize("source, target, expected", [
    ("cpu", "cuda", True), ("cpu", "cuda:1", True), ("cpu", "cpu", False), ("cuda", "cpu", False),
    ("cuda:1", "cpu", False), ("cuda:0", "cuda:1", False), ("meta", "cuda", False), ("cpu", "meta", False)])
def test_non_blocking_only_host_to_gpu(source, target, expected):
    from swa.devices import _copy_to  # the rule to_device applies to every tensor of a batch

    t = _Placed(source)
    assert _copy_to(t, torch.device(target)) is t
    assert t.moves == [(torch.device(target), expected)]


def test_real_tensor_copy(monkeypatch):
    spy = _Spy(monkeypatch)
    t = torch.arange(3.0)
    assert torch.equal(to_device(t, "cuda"), t)  # the spy copies to the CPU instead
    assert spy.calls == [("cpu", "cuda", True)]


def test_batch_movers_use_the_rule(monkeypatch):
    """Batches (swa.bn's BN statistics), swa.evaluation and landscape.engine.data all copy through the rule."""
    from landscape.engine.data import place
    from swa.evaluation import evaluate

    spy = _Spy(monkeypatch)
    batch = (torch.zeros(4, 3), {"y": torch.zeros(4, dtype=torch.long)})
    to_device(batch, torch.device("cuda"))
    place(batch, torch.device("cuda"), dtype=torch.float64)
    assert spy.calls[:2] == [("cpu", "cuda", True)] * 2 and ("cpu", "cuda", True) in spy.calls[2:]
    spy.calls.clear()
    model = torch.nn.Linear(3, 2)
    evaluate(model, torch.zeros(4, 3), torch.zeros(4, dtype=torch.long), "classification", device="cpu")
    assert spy.calls and all(not blocking for _, _, blocking in spy.calls)
