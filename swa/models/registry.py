"""Model registry: names → builders, plus ``module:function`` and ``file.py:function`` specs.

A builder is registered by its function name with :func:`register_model` (the
timm pattern). Every builder takes ``num_outputs`` (classes, or regression
targets) and ``input_shape`` (``(C, H, W)`` or ``(D,)``, no batch dimension)
as keywords, plus its own keyword arguments.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch.nn as nn

from swa.errors import ModelError

__all__ = ["ModelSpec", "register_model", "list_models", "build_model", "parse_model_kwargs"]

_MODELS: dict[str, Callable[..., nn.Module]] = {}


@dataclass(frozen=True)
class ModelSpec:
    """What is needed to rebuild a model: its name (or ``module:function``) and kwargs."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "ModelSpec":
        return cls(name=obj["name"], kwargs=dict(obj.get("kwargs") or {}))


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register ``fn`` under its own name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style wildcard ``pattern``."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def parse_model_kwargs(text: str | None) -> dict[str, Any]:
    """Parse ``--model-kwargs`` JSON into a dict (empty for ``None``)."""
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"`model_kwargs` is not valid JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise ModelError(f"`model_kwargs` must be a JSON object, got {text!r}")
    return value


def _resolve_callable(name: str) -> Callable[..., nn.Module]:
    target, _, func_name = name.rpartition(":")
    if not target or not func_name:
        raise ModelError(f"model spec {name!r} must look like 'package.module:function' or 'file.py:function'")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ModelError(f"model file {target!r} does not exist")
        mod_name = f"_swa_user_model_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ModelError(f"cannot import model file {target!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # user code failed while importing
            raise ModelError(f"importing {target!r} failed: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ModelError(f"cannot import module {target!r} for model {name!r}: {exc}") from None
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ModelError(f"{target!r} has no callable {func_name!r}")
    return fn


def _accepts(fn: Callable[..., Any], arg: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def build_model(spec: ModelSpec, *, num_outputs: int, input_shape: tuple[int, ...]) -> nn.Module:
    """Build the model ``spec`` names for data with ``num_outputs`` outputs and ``input_shape`` inputs.

    Registered names get ``num_outputs`` and ``input_shape``; a user function gets
    them only if its signature takes them (by name or ``**kwargs``).

    Raises:
        ModelError: unknown name (the message lists the registered ones), a spec
            that cannot be imported, bad keyword arguments, or a builder that
            does not return an ``nn.Module``.
    """
    if ":" in spec.name:
        fn = _resolve_callable(spec.name)
    elif spec.name in _MODELS:
        fn = _MODELS[spec.name]
    else:
        raise ModelError(
            f"unknown model {spec.name!r}; choose one of {', '.join(list_models())} "
            "or give 'package.module:function' / 'file.py:function'"
        )
    kwargs = dict(spec.kwargs)
    for key, value in (("num_outputs", num_outputs), ("input_shape", tuple(input_shape))):
        if key not in kwargs and _accepts(fn, key):
            kwargs[key] = value
    try:
        model = fn(**kwargs)
    except TypeError as exc:
        raise ModelError(f"model {spec.name!r} rejected its arguments {sorted(kwargs)}: {exc}") from None
    except ValueError as exc:
        raise ModelError(f"model {spec.name!r}: {exc}") from None
    except RuntimeError as exc:  # torch refusing the sizes, e.g. a negative width
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"model {spec.name!r} cannot be built with {json.dumps(spec.kwargs)}: {first}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"model builder {spec.name!r} returned {type(model).__name__}, not an nn.Module")
    return model
