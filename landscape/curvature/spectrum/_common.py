"""Shared pieces of the spectral estimators: JSON helpers, the counted operator, generators, probes, validators."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from landscape.curvature.hessian import Operator


# ---------------------------------------------------------------------------------------------- JSON
def _jfloat(x: float) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _jlist(xs) -> list:
    return [_jfloat(x) for x in np.asarray(xs, dtype=np.float64).reshape(-1)]


# ---------------------------------------------------------------------------------------------- helpers
class _Counted:
    """The operator's matvec with a product counter."""

    def __init__(self, op: Operator) -> None:
        if not (hasattr(op, "matvec") and hasattr(op, "shape")):
            raise TypeError(f"op must be an operator with matvec, shape, dtype and device "
                            f"(landscape.curvature.hessian), got {type(op).__name__}")
        shape = tuple(op.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"op must be square, got shape {shape}")
        self.op, self.n, self.count = op, int(shape[0]), 0
        self.dtype = getattr(op, "dtype", torch.float64)
        self.device = torch.device(getattr(op, "device", "cpu"))

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.count += 1
        return self.op.matvec(v)

    def scipy(self) -> LinearOperator:
        base = self.op.to_scipy()

        def mv(x):
            self.count += 1
            return base.matvec(x)
        return LinearOperator(base.shape, matvec=mv, rmatvec=mv, dtype=np.float64)

    def put(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, self.dtype)


def _generator(seed: int) -> torch.Generator:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _rademacher(gen: torch.Generator, n: int) -> torch.Tensor:
    return torch.randint(0, 2, (n,), generator=gen, dtype=torch.float64).mul_(2).sub_(1)


def _gaussian_unit(gen: torch.Generator, n: int) -> torch.Tensor:
    z = torch.randn(n, generator=gen, dtype=torch.float64)
    return z / torch.linalg.vector_norm(z)


#: Start vectors of SLQ, unit norm: name → fn(generator, P) (float64, CPU).
PROBES = {"rademacher": lambda gen, n: _rademacher(gen, n) / math.sqrt(n), "gaussian": _gaussian_unit}


def _dot(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a.reshape(-1), b.reshape(-1)))


def _int_at_least(name: str, value, low: int, high: Optional[int] = None, why: str = "") -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {allowed}{why}, got {value!r}")
    return int(value)


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    x = np.asarray(values, dtype=np.float64)
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size >= 2 else math.nan
    return float(x.mean()), se
