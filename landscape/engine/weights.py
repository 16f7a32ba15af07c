"""Weight space: a model's parameters as one flat vector, and its buffers beside them.

A :class:`ParamSpace` fixes an order of the model's parameters (``named_parameters``
order) and of its floating-point buffers (BatchNorm running statistics), so that a
state dict and a pair of flat vectors can be converted both ways:

    params  = concat(p.flatten() for p in parameters)        (length P)
    buffers = concat(b.flatten() for b in float buffers)      (length B)

Integer buffers (``num_batches_tracked``) are not part of either vector; they are
taken from the first point.

A space may span only some parameters (``params``: a name regex or a predicate;
``trainable_only``: those with ``requires_grad``, as when a backbone is frozen for
fine-tuning). The others are *frozen*: every point keeps its own checkpoint's values
for them (:meth:`ParamSpace.frozen_of`), bitwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Union

import torch
import torch.nn as nn

__all__ = ["ParamSpace", "ParamSelector", "Params"]


@dataclass(frozen=True)
class Params:
    """Which parameters span the space: ``match`` (``None``: all; a regex searched in each name; or
    ``fn(name, tensor) -> bool``) and, with ``trainable_only``, only those with ``requires_grad`` (a frozen
    backbone left out). ``params=`` takes one, or just its ``match``."""

    match: Union[None, str, Callable[[str, torch.Tensor], bool]] = None
    trainable_only: bool = False


#: ``params=``: a :class:`Params`, or its ``match`` alone (``None``: all parameters).
ParamSelector = Union[None, str, Callable[[str, torch.Tensor], bool], Params]


@dataclass(frozen=True)
class ParamSpace:
    """The layout of a model's parameters and float buffers as flat vectors."""

    param_names: tuple[str, ...]
    param_shapes: tuple[torch.Size, ...]
    buffer_names: tuple[str, ...]
    buffer_shapes: tuple[torch.Size, ...]
    frozen_names: tuple[str, ...] = ()
    selection: Optional[str] = None  # how the parameters were chosen (None: all of them)

    @classmethod
    def of(cls, model: nn.Module, params: ParamSelector = None, trainable_only: bool = False) -> "ParamSpace":
        """The space of ``model``'s parameters chosen by ``params`` (and ``requires_grad`` if ``trainable_only``).

        Raises:
            ValueError: a bad regex, or a selection that matches no parameter (the message shows some names).
        """
        if isinstance(params, Params):
            params, trainable_only = params.match, params.trainable_only or trainable_only
        named = list(model.named_parameters())
        keep = _selector(params)
        chosen = [(n, p) for n, p in named if keep(n, p) and (p.requires_grad or not trainable_only)]
        if not chosen and (params is not None or trainable_only):  # (a model without parameters has an empty space)
            shown = [n for n, _ in named] if len(named) <= 6 else [n for n, _ in named[:3]] + ["..."] + \
                [n for n, _ in named[-3:]]
            names = ", ".join(shown)
            what = "the model has no parameters" if not named else f"parameter names are: {names}"
            raise ValueError(f"params={_describe(params, trainable_only)} selects no parameter ({what})")
        chosen_names = {n for n, _ in chosen}
        buffers = [(n, b.shape) for n, b in model.named_buffers() if b.is_floating_point()]
        selection = None if len(chosen) == len(named) else _describe(params, trainable_only)
        return cls(tuple(n for n, _ in chosen), tuple(p.shape for _, p in chosen),
                   tuple(n for n, _ in buffers), tuple(s for _, s in buffers),
                   tuple(n for n, _ in named if n not in chosen_names), selection)

    def describe(self) -> dict:
        """What the sidecar records about the space."""
        return {"selection": self.selection or "all", "tensors": len(self.param_names),
                "num_params": self.num_params, "frozen_tensors": len(self.frozen_names)}

    def frozen_of(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The parameters of ``state`` outside the space, as they are (every point keeps its own)."""
        return {n: state[n].detach() for n in self.frozen_names}

    @property
    def num_params(self) -> int:
        return sum(s.numel() for s in self.param_shapes)

    @property
    def num_buffers(self) -> int:
        return sum(s.numel() for s in self.buffer_shapes)

    def params_of(self, state: Mapping[str, torch.Tensor], dtype=torch.float32) -> torch.Tensor:
        """The flat parameter vector of a state dict."""
        return torch.cat([state[n].detach().reshape(-1).to(dtype) for n in self.param_names])

    def buffers_of(self, state: Mapping[str, torch.Tensor], dtype=torch.float32) -> torch.Tensor:
        """The flat float-buffer vector of a state dict (empty if the model has none)."""
        if not self.buffer_names:
            return torch.zeros(0, dtype=dtype)
        return torch.cat([state[n].detach().reshape(-1).to(dtype) for n in self.buffer_names])

    def split_rows(self, matrix: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of the rows of ``matrix`` (n, P), stacked: name → (n, *shape) (for ``torch.func.vmap``)."""
        out, offset = {}, 0
        for name, shape in zip(self.param_names, self.param_shapes):
            k = shape.numel()
            out[name] = matrix[:, offset:offset + k].reshape(matrix.shape[0], *shape)
            offset += k
        return out

    def split(self, vector: torch.Tensor, which: str = "params") -> dict[str, torch.Tensor]:
        """Views of ``vector`` shaped like the named parameters (or buffers)."""
        names, shapes = ((self.param_names, self.param_shapes) if which == "params"
                         else (self.buffer_names, self.buffer_shapes))
        out, offset = {}, 0
        for name, shape in zip(names, shapes):
            n = shape.numel()
            out[name] = vector[offset:offset + n].view(shape)
            offset += n
        return out


def _selector(params: ParamSelector) -> Callable[[str, torch.Tensor], bool]:
    if params is None:
        return lambda name, p: True
    if isinstance(params, str):
        try:
            pattern = re.compile(params)
        except re.error as exc:
            raise ValueError(f"params={params!r} is not a regular expression ({exc})") from None
        return lambda name, p: pattern.search(name) is not None
    if callable(params):
        return lambda name, p: bool(params(name, p))
    raise TypeError(f"params must be None, a regex string or a function (name, tensor) -> bool, got "
                    f"{type(params).__name__}")


def _describe(params: ParamSelector, trainable_only: bool) -> str:
    text = "all" if params is None else repr(params) if isinstance(params, str) else \
        getattr(params, "__qualname__", type(params).__name__)
    return text + (" (trainable only)" if trainable_only else "")
