"""Checkpoint loading: the wrappers of DESIGN.md, weights_only=True, and errors that name keys."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

from swa.checkpoint import check_compatible, load_into, load_state_dict
from swa.errors import CheckpointError


def _model():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def _assert_same(a, b):
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": sd, "epoch": 3},
    lambda sd: {"model": sd},
    lambda sd: {"swa_state_dict": sd, "swa_n": 5},
    lambda sd: {"model_state_dict": sd, "optimizer": {"lr": 0.1}},
    lambda sd: OrderedDict(("module." + k, v) for k, v in sd.items()),
    lambda sd: {"state_dict": {"_orig_mod." + k: v for k, v in sd.items()}},
    lambda sd: {"module._orig_mod." + k: v for k, v in sd.items()},
], ids=["plain", "state_dict", "model", "swa_state_dict", "model_state_dict", "ddp", "compile", "both"])
def test_wrappers_unwrap_to_the_plain_state_dict(tmp_path, wrap):
    """Acceptance 7."""
    model = _model()
    path = tmp_path / "ckpt.pt"
    torch.save(wrap(model.state_dict()), path)
    _assert_same(load_state_dict(path), model.state_dict())
    load_into(_model(), path)


def test_averaged_model_checkpoint(tmp_path):
    model = _model()
    avg = AveragedModel(model)
    avg.update_parameters(model)
    path = tmp_path / "avg.pt"
    torch.save(avg.state_dict(), path)  # keys module.* plus n_averaged
    assert "n_averaged" in avg.state_dict()
    state = load_state_dict(path)
    assert "n_averaged" not in state
    _assert_same(state, model.state_dict())


def test_hash_selects_a_wrapper_key(tmp_path):
    a, b = _model(), _model()
    path = tmp_path / "both.pt"
    torch.save({"state_dict": a.state_dict(), "swa_state_dict": b.state_dict()}, path)
    _assert_same(load_state_dict(path), a.state_dict())
    _assert_same(load_state_dict(f"{path}#swa_state_dict"), b.state_dict())
    with pytest.raises(CheckpointError, match="no key 'ema'"):
        load_state_dict(f"{path}#ema")


class _Evil:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_loading_uses_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": _model().state_dict(), "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict(path)
    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    good = tmp_path / "good.pt"
    torch.save(_model().state_dict(), good)
    load_state_dict(good)
    assert calls == [True]


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict(bad)
    good = tmp_path / "good.pt"
    torch.save(_model().state_dict(), good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_state_dict(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict(tmp_path / "nope.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected a state_dict"):
        load_state_dict(tmp_path / "list.pt")


def test_mismatch_names_the_keys():
    model = _model()
    other = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 6 * 6, 3))
    with pytest.raises(CheckpointError, match=r"shape mismatches: 0\.weight \(8, 1, 3, 3\) vs model \(4, 1, 3, 3\)"):
        check_compatible(model, other.state_dict(), "x.pt")
    extra = dict(model.state_dict(), **{"head.weight": torch.zeros(1)})
    del extra["3.bias"]
    with pytest.raises(CheckpointError, match=r"missing keys: 3\.bias; unexpected keys: head\.weight"):
        check_compatible(model, extra, "x.pt")


def test_messages_say_what_is_wrong(tmp_path):
    """Issue 8.6: corrupt, empty and truncated files, directories, refused globals, integer weights."""
    good = tmp_path / "good.pt"
    torch.save(_model().state_dict(), good)
    for name, data in (("empty.pt", b""), ("random.pt", bytes(range(256)) * 4),
                       ("truncated.pt", good.read_bytes()[:300])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=rf"{name}': not a PyTorch checkpoint \(truncated or corrupt\)$"):
            load_state_dict(tmp_path / name)
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        load_state_dict(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": _model().state_dict(), "payload": _Evil()}, evil)
    with pytest.raises(CheckpointError, match=r"it refers to (builtins\.)?print, and only tensors") as exc:
        load_state_dict(evil)
    assert "weights_only" not in str(exc.value)
    state = _model().state_dict()
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].long()
    with pytest.raises(CheckpointError, match=rf"dtype mismatches: {re.escape(key)} torch.int64 vs model"):
        check_compatible(_model(), state)
