"""Deterministic training (``swa-landscape train --deterministic``).

On a CPU, training is deterministic as it is: a run and its resumption give the same bits. On
CUDA it is not, by default: cuDNN picks convolution algorithms by timing them (``benchmark``) and
several of them, like the atomic adds in some backward kernels (scatter, index_add, interpolation,
some pooling), sum in a different order on every run, so two runs, or a run and its resumption,
drift apart in the last bits after the first step and then further. :func:`deterministic_scope`
asks PyTorch for reproducibility as its notes describe
(https://pytorch.org/docs/stable/notes/randomness.html):

* ``torch.use_deterministic_algorithms(True)``: deterministic kernels, and an error for an
  operation that has none (reported as one line naming it);
* ``torch.backends.cudnn.deterministic = True`` and ``torch.backends.cudnn.benchmark = False``;
* the environment variable ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS's deterministic
  workspace; a value already set, e.g. ``:16:8``, is kept). cuBLAS reads it when a handle is
  created, so it must hold before the first CUDA matmul of the process; the scope sets it before
  the run's first step.

It costs speed (slower kernels, no algorithm search). Everything is restored on exit.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import torch

__all__ = ["deterministic_scope", "CUBLAS_WORKSPACE_CONFIG", "NONDETERMINISTIC_OP"]

CUBLAS_WORKSPACE_CONFIG = ":4096:8"
_ENV = "CUBLAS_WORKSPACE_CONFIG"
#: The start of PyTorch's error for an operation without a deterministic implementation.
NONDETERMINISTIC_OP = "does not have a deterministic implementation"


@contextmanager
def deterministic_scope(enabled: bool = True) -> Iterator[dict[str, Any]]:
    """Deterministic algorithms inside the scope (see the module docstring); a no-op if not ``enabled``.

    Yields:
        What was set, as the run manifest records it (empty if not ``enabled``).
    """
    if not enabled:
        yield {}
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, os.environ.get(_ENV))
    os.environ.setdefault(_ENV, CUBLAS_WORKSPACE_CONFIG)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield {"use_deterministic_algorithms": True, "cudnn_deterministic": True, "cudnn_benchmark": False,
               _ENV: os.environ[_ENV]}
    finally:
        algorithms, warn_only, torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, env = saved
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        if env is None:
            os.environ.pop(_ENV, None)
        else:
            os.environ[_ENV] = env
