"""Large CPU tensors without a page fault per allocation: glibc's malloc kept from unmapping freed blocks.

PyTorch allocates CPU tensors with ``posix_memalign`` and frees them at once; it has no caching
allocator on the CPU. glibc's malloc serves a block above its mmap threshold (dynamic, at most
32 MiB) with a fresh ``mmap`` and returns it to the kernel with ``munmap`` when it is freed, so
every such tensor is page-faulted in, 4 KiB at a time and zero-filled by the kernel, at every
allocation. A landscape evaluates the same network at many points, so the activations of a large
batch (a BatchNorm pass over all ``bn_samples`` in one batch, a probe-chosen evaluation batch of
512 or more) are allocated and faulted in again and again: on a 2-core CPU, a 308k-parameter
ResNet on 600 CIFAR-shaped inputs in one batch took 6.7 s with 230,000-300,000 minor faults and
0.85 s of system time per pass, and 3.5 s with none once freed blocks are reused (BENCHMARKS.md,
issue 20). A ``DataLoader`` of 128-sample batches stays under the threshold, which is why the API
with tensors and the command line (whose data are tensors) cost more than the API with a loader.

:func:`reuse_freed_memory` raises the mmap and trim thresholds (``mallopt``) for the duration of an
evaluation on the CPU, so freed blocks stay in the heap and are reused without faults; on leaving,
it returns the free heap to the kernel (``malloc_trim``) and sets the thresholds to the values
glibc's dynamic rule reaches after freeing a large block (32 MiB and 64 MiB). Elsewhere (not Linux,
not glibc, a CUDA device, whose caching allocator already reuses memory) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

import torch

__all__ = ["reuse_freed_memory", "HELD_THRESHOLD"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
HELD_THRESHOLD = 2**31 - 1  # while evaluating (mallopt takes an int): blocks up to 2 GiB reused, none trimmed
_RESTORED_MMAP, _RESTORED_TRIM = 32 << 20, 64 << 20  # the dynamic rule's values after a large free

_lock = threading.Lock()
_depth = 0


def _glibc() -> Optional[ctypes.CDLL]:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only (musl has no mallopt thresholds of this meaning)
        return libc
    except (OSError, AttributeError):
        return None


@contextmanager
def reuse_freed_memory(device: torch.device | str) -> Iterator[bool]:
    """Within the block, freed CPU memory stays in the process and is reused (see the module docstring).

    Yields True when the thresholds were raised (Linux, glibc, a CPU ``device``), else False. Nested or
    concurrent uses share one raise; the outermost exit restores.
    """
    global _depth
    libc = _glibc() if torch.device(device).type == "cpu" else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            ok = libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(HELD_THRESHOLD)) == 1
            ok = libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(HELD_THRESHOLD)) == 1 and ok
        else:
            ok = True
        _depth += 1
    try:
        yield ok
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(_RESTORED_MMAP))
                libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(_RESTORED_TRIM))
                libc.malloc_trim(ctypes.c_size_t(0))
