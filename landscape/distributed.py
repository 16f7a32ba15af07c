"""Sharding points across processes under ``torchrun`` (gloo on CPU, NCCL on GPU).

Every rank evaluates an interleaved share of the pending points; after each round
the results are gathered on every rank and rank 0 writes them. Without ``torchrun``
(``WORLD_SIZE`` unset or 1) everything runs in the one process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.distributed as dist

__all__ = ["Dist", "setup", "process_group"]


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

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: torch.device) -> Dist:
    """Join the process group ``torchrun`` describes; ``Dist.device`` is this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device=device)
    rank = int(os.environ.get("RANK", "0"))
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
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
