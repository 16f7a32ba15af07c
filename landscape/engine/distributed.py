"""Sharding points across processes under ``torchrun`` (gloo on CPU, NCCL on GPU).

Every rank evaluates an interleaved share of the pending points; after each round
the results are gathered on every rank and rank 0 writes them. What every rank needs
but only one should compute (Hessian directions: N× the memory, and on CUDA the ranks'
non-deterministic kernels would give slightly different vectors) is computed on rank 0
and broadcast (:meth:`Dist.from_main`). Each rank computes on its own device
(``cuda:LOCAL_RANK``). Without ``torchrun`` (``WORLD_SIZE`` unset or 1) everything runs
in the one process.
"""

from __future__ import annotations

import functools
import inspect
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from swa.devices import resolve_device

__all__ = ["Dist", "setup", "process_group", "rank_device", "in_process_group"]

T = TypeVar("T")


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    initialized_here: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_gather(self, obj: Any) -> list[Any]:
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def from_main(self, compute: Callable[[], tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, Any]:
        """``compute()`` run on rank 0 only, its ``(tensor, picklable info)`` sent to every rank.

        The tensor travels by ``torch.distributed.broadcast`` from this rank's device (NCCL needs CUDA
        tensors; gloo takes CPU ones), bitwise; it is returned on the CPU. An exception raised on rank 0 is
        raised on every rank (no rank is left waiting).
        """
        if self.world == 1:
            tensor, info = compute()
            return tensor.cpu(), info
        header: list[Any] = [None]
        tensor = None
        if self.is_main:
            try:
                tensor, info = compute()
                header[0] = ("ok", tuple(tensor.shape), tensor.dtype, info)
            except Exception as exc:  # sent to the other ranks, then raised here too
                header[0] = ("error", exc)
        dist.broadcast_object_list(header, src=0, device=self.device if self.device.type == "cuda" else None)
        if header[0][0] == "error":
            raise header[0][1]
        _, shape, dtype, info = header[0]
        buf = tensor.detach().to(self.device).contiguous() if self.is_main else \
            torch.empty(shape, dtype=dtype, device=self.device)
        dist.broadcast(buf, src=0)
        return buf.cpu(), info

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def rank_device(device: torch.device) -> torch.device:
    """This process's device: under ``torchrun`` (``WORLD_SIZE`` > 1) a CUDA device is ``cuda:LOCAL_RANK``
    whatever index was given (each rank has its own GPU); otherwise ``device`` itself."""
    if device.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def setup(device: torch.device) -> Dist:
    """Join the process group ``torchrun`` describes (unless it is joined already: then it is left to whoever
    joined it); ``Dist.device`` is this rank's device (:func:`rank_device`)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=device)
    rank = int(os.environ.get("RANK", "0"))
    device = rank_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    initialized_here = False
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
        initialized_here = True
    return Dist(rank=rank, world=world, initialized_here=initialized_here, device=device)


@contextmanager
def process_group(device: torch.device) -> Iterator[Dist]:
    """Join ``torchrun``'s process group for the block (``Dist.device`` is this rank's device); always left after."""
    group = setup(device)
    try:
        yield group
    finally:
        group.close()


def in_process_group(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate a computation that takes ``settings`` (a ``Settings``) or a ``job`` holding them: it runs inside
    :func:`process_group` of ``settings.device``, so that what it computes before its points (directions on
    rank 0, :meth:`Dist.from_main`) and the points themselves (``landscape.engine.task.run_task``, whose own
    ``process_group`` finds the group joined) share one group. Inside, :func:`setup` gives this rank's
    :class:`Dist` without joining again."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def joined(*args: Any, **kwargs: Any) -> T:
        bound = signature.bind(*args, **kwargs).arguments
        settings = bound["settings"] if "settings" in bound else bound["job"].settings
        with process_group(resolve_device(settings.device)):
            return fn(*args, **kwargs)

    return joined
