"""Weight space: a model's parameters as one flat vector, and its buffers beside them.

A :class:`ParamSpace` fixes an order of the model's parameters (``named_parameters``
order) and of its floating-point buffers (BatchNorm running statistics), so that a
state dict and a pair of flat vectors can be converted both ways:

    params  = concat(p.flatten() for p in parameters)        (length P)
    buffers = concat(b.flatten() for b in float buffers)      (length B)

Integer buffers (``num_batches_tracked``) are not part of either vector; they are
taken from the first point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn as nn

__all__ = ["ParamSpace"]


@dataclass(frozen=True)
class ParamSpace:
    """The layout of a model's parameters and float buffers as flat vectors."""

    param_names: tuple[str, ...]
    param_shapes: tuple[torch.Size, ...]
    buffer_names: tuple[str, ...]
    buffer_shapes: tuple[torch.Size, ...]

    @classmethod
    def of(cls, model: nn.Module) -> "ParamSpace":
        params = [(n, p.shape) for n, p in model.named_parameters()]
        buffers = [(n, b.shape) for n, b in model.named_buffers() if b.is_floating_point()]
        return cls(tuple(n for n, _ in params), tuple(s for _, s in params),
                   tuple(n for n, _ in buffers), tuple(s for _, s in buffers))

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

    @torch.no_grad()
    def load(self, model: nn.Module, params: torch.Tensor, buffers: torch.Tensor | None = None) -> None:
        """Copy flat ``params`` (and ``buffers``) into ``model`` in place, on the model's device."""
        named = dict(model.named_parameters())
        for name, value in self.split(params, "params").items():
            named[name].copy_(value)
        if buffers is not None and self.buffer_names:
            named_b = dict(model.named_buffers())
            for name, value in self.split(buffers, "buffers").items():
                named_b[name].copy_(value)
