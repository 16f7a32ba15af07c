"""Checkpoint loading shared by training and the landscape tools.

Checkpoints are plain ``state_dict`` files. Loading also accepts the common
wrappers: ``{'state_dict': ...}``, ``{'model': ...}``, ``{'model_state_dict': ...}``,
the SWA reference code's ``{'swa_state_dict': ...}``, key prefixes ``module.``
(DDP, ``AveragedModel``) and ``_orig_mod.`` (``torch.compile``), and the
``n_averaged`` counter of ``AveragedModel``. A specific wrapper key can be chosen
with ``path#key`` (e.g. ``checkpoint.pt#swa_state_dict``). Files are always read
with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Mapping, Optional

import torch
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel

from swa.errors import CheckpointError

__all__ = ["tensor_bytes", "vector_digest", "state_digest", "WRAPPER_KEYS", "load_state_dict", "unwrap_state_dict", "unwrap_model", "check_compatible", "check_finite",
           "load_into", "split_key"]

# Tried in this order when a file holds a dict of wrappers.
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "swa_state_dict")
_PREFIXES = ("module.", "_orig_mod.")
_DROP_KEYS = ("n_averaged",)


def tensor_bytes(t: torch.Tensor) -> bytes:
    """A tensor's raw bytes, in row-major order, whatever its dtype (bfloat16 included), for hashing."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def vector_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's values as float32 (a direction or a flat parameter vector in a resume key)."""
    return hashlib.sha256(tensor_bytes(t.float())).hexdigest()


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and bytes (the resume key of an in-memory checkpoint)."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(tensor_bytes(t))
    return h.hexdigest()


def split_key(spec: str | os.PathLike) -> tuple[Path, Optional[str]]:
    """Split ``"file.pt#key"`` into ``(Path("file.pt"), "key")``; no ``#`` gives ``key=None``."""
    text = os.fspath(spec)
    if "#" in text and not Path(text).exists():
        path, key = text.rsplit("#", 1)
        return Path(path), key or None
    return Path(text), None


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
        key = key.replace("._orig_mod.", ".")
    return key


def unwrap_model(model: nn.Module, log=None) -> nn.Module:
    """The model inside any (nested) wrappers: ``nn.DataParallel``, ``DistributedDataParallel`` and
    ``AveragedModel`` (``.module``) and ``torch.compile`` (``._orig_mod``); ``model`` itself if none.
    ``log`` (a ``print``-like function) is told once what is evaluated instead."""
    # torch.compile'd models exist only once torch._dynamo is imported (which takes seconds: not done here)
    compiled = getattr(sys.modules.get("torch._dynamo.eval_frame"), "OptimizedModule", ())
    inner, chain = model, []
    while True:
        if isinstance(inner, (nn.DataParallel, nn.parallel.DistributedDataParallel, AveragedModel)):
            chain.append(type(inner).__name__)
            inner = inner.module
        elif compiled and isinstance(inner, compiled):
            chain.append("a torch.compile'd model")
            inner = inner._orig_mod
        else:
            break
    if chain and log is not None:
        log(f"note: evaluating the {type(inner).__name__} inside {' inside '.join(reversed(chain))}")
    return inner


def _wrapper_hint(model: nn.Module) -> str:
    """For a model that looks like a wrapper we do not know (all its state under ``module.``): what to pass."""
    inner = getattr(model, "module", None)
    keys = list(model.state_dict())
    if isinstance(inner, nn.Module) and keys and all(k.startswith("module.") for k in keys):
        return (f"; the model is a {type(model).__name__} holding a {type(inner).__name__} in .module and nothing "
                f"else, a wrapper this toolkit does not unwrap (it unwraps DataParallel, DistributedDataParallel, "
                f"torch.compile and AveragedModel): pass the inner model, model.module")
    return ""


def unwrap_state_dict(obj: object, key: Optional[str] = None,
                      source: str = "checkpoint") -> "OrderedDict[str, torch.Tensor]":
    """Reduce a loaded checkpoint object to a plain ``{name: tensor}`` state dict.

    Args:
        obj: what ``torch.load`` returned.
        key: the wrapper key to take; ``None`` tries :data:`WRAPPER_KEYS` in order.
        source: the file name, for messages.

    Raises:
        CheckpointError: no state dict inside, or ``key`` missing.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state_dict (a dict of tensors), found {type(obj).__name__}")
    if key is not None:
        if key not in obj:
            raise CheckpointError(f"{source}: no key {key!r}; it has {sorted(map(str, obj))[:10]}")
        obj = obj[key]
    else:
        for wrapper in WRAPPER_KEYS:
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a state_dict, found {type(obj).__name__}")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for name, value in obj.items():
        if not isinstance(name, str):
            continue
        if name in _DROP_KEYS:
            continue
        if not isinstance(value, torch.Tensor):
            continue  # epoch counters, optimizer blobs and the like
        out[_strip_prefixes(name)] = value
    if not out:
        raise CheckpointError(f"{source}: holds no tensors; keys: {sorted(map(str, obj))[:10]}")
    return out


def load_state_dict(spec: str | os.PathLike) -> "OrderedDict[str, torch.Tensor]":
    """Load a checkpoint file (``path`` or ``path#key``) to a plain state dict on the CPU.

    Raises:
        CheckpointError: missing file, a file that is not a PyTorch checkpoint, or no state dict inside.
    """
    path, key = split_key(spec)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # weights_only refused a global: name it, drop torch's advice
        unsafe = re.search(r"GLOBAL\s+([\w.]+)", str(exc))
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: " + (
            f"it refers to {unsafe.group(1)}, and only tensors and plain containers are loaded (code in a "
            "checkpoint is never run)" if unsafe else "not a PyTorch checkpoint (truncated or corrupt)")) from None
    except Exception:  # corrupt zip, truncated or empty file, random bytes...
        raise CheckpointError(f"cannot read checkpoint {str(path)!r}: not a PyTorch checkpoint (truncated or "
                              "corrupt)") from None
    return unwrap_state_dict(obj, key, source=str(path))


def _summarize(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def check_compatible(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` naming the keys that differ between ``model`` and ``state``.

    Missing keys, unexpected keys, shape mismatches and integer tensors where the model has
    floating ones (or the reverse) are all reported, in one line.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    kinds = [f"{k} {state[k].dtype} vs model {v.dtype}" for k, v in expected.items()
             if k in state and v.is_floating_point() != state[k].is_floating_point()]
    problems = []
    if kinds:
        problems.append(f"dtype mismatches: {_summarize(kinds, 3)}")
    if missing:
        problems.append(f"missing keys: {_summarize(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_summarize(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {_summarize(shapes, 3)}")
    if problems:
        raise CheckpointError(f"{source} does not fit the model ({'; '.join(problems)}){_wrapper_hint(model)}")


def check_finite(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` if a floating tensor of ``state`` holds NaN or ±inf.

    The message names the file, the tensors (up to three) and how many values of each are
    NaN or infinite: a diverged checkpoint has no meaningful loss landscape.
    """
    bad = []
    for name, t in state.items():
        if torch.is_floating_point(t) or torch.is_complex(t):
            n_nan, n_inf = int(torch.isnan(t).sum()), int(torch.isinf(t).sum())
            if n_nan or n_inf:
                parts = ([f"{n_nan} NaN"] if n_nan else []) + ([f"{n_inf} inf"] if n_inf else [])
                bad.append(f"{name} ({', '.join(parts)} of {t.numel()})")
    if bad:
        raise CheckpointError(f"{source} holds non-finite values in {len(bad)} tensor{'s' * (len(bad) > 1)}: "
                              f"{_summarize(bad, 3)}; a diverged checkpoint cannot be evaluated or trained from")


def load_into(model: nn.Module, spec_or_state, source: Optional[str] = None) -> nn.Module:
    """Load a checkpoint (path, ``path#key`` or state dict) into ``model`` after checking it fits and is finite."""
    if isinstance(spec_or_state, Mapping):
        state, source = spec_or_state, source or "checkpoint"
    else:
        state, source = load_state_dict(spec_or_state), source or os.fspath(spec_or_state)
    check_compatible(model, state, source)
    check_finite(state, source)
    model.load_state_dict(state, strict=True)
    return model
