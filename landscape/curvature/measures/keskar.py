"""ε-sharpness (Keskar et al. 2017), in the full space or a random subspace."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from scipy.optimize import minimize

from landscape.curvature.measures._common import _SEED_MAX, _check_obj, _generator, _int, _real, _Result, _setting

__all__ = ["EpsSharpness", "eps_sharpness", "subspace_basis"]


@dataclass(frozen=True)
class EpsSharpness(_Result):
    """ε-sharpness in percent; a lower bound on the box maximum (local optimizer)."""

    measure: ClassVar[str] = "eps_sharpness"
    lower_bound: ClassVar[bool] = True
    value: float
    loss: float  #: f(x)
    loss_perturbed: float  #: f(x + z*) at the best z found
    evaluations: int  #: value_and_grad calls (the start's included)
    iterations: int  #: L-BFGS-B iterations
    eps: float = _setting()
    subspace_dim: Optional[int] = _setting()
    maxiter: int = _setting()
    seed: int = _setting()


def subspace_basis(num_params: int, dim: int, seed: int, *, dtype: torch.dtype = torch.float64,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """The P×p matrix A with orthonormal columns used by :func:`eps_sharpness` (``subspace_dim=p``).

    A = Q from the reduced QR decomposition of a P×p standard Gaussian drawn on the CPU in ``dtype``
    from a generator seeded with ``seed``; AᵀA = I, so A⁺ = Aᵀ.
    """
    num_params = _int("num_params", num_params, 1)
    dim = _int("dim", dim, 1, num_params)
    seed = _int("seed", seed, 0, _SEED_MAX)
    g = torch.randn(num_params, dim, generator=_generator(seed), dtype=dtype).to(device)
    return torch.linalg.qr(g, mode="reduced").Q


def eps_sharpness(obj, eps: float = 1e-3, subspace_dim: Optional[int] = None, maxiter: int = 10,
                  seed: int = 0) -> EpsSharpness:
    """ε-sharpness (Keskar et al. 2017, "On Large-Batch Training for Deep Learning: Generalization Gap
    and Sharp Minima", Metric 2.1), in percent:

        φ(x, ε) = max_{z ∈ C_ε} (f(x + z) − f(x)) / (1 + f(x)) × 100,
        C_ε = { z : |z_i| ≤ ε (|x_i| + 1) }                      (full space), or
        z = A y,  C_ε = { y : |y_i| ≤ ε (|(Aᵀx)_i| + 1) }          (random subspace, A ∈ R^{P×p}).

    The maximum is sought with L-BFGS-B (``scipy.optimize.minimize``, ``jac=True``, bounds) on −f,
    in box-normalized coordinates t = z / b ∈ [−1, 1] (b the box half-widths) and divided by the
    largest gradient entry at the start (L-BFGS-B's first step is a unit step in t), started from a
    small seeded random point t_0 ~ U(−0.1, 0.1) because the gradient at a minimum may vanish; it stops
    after ``maxiter`` iterations or at a box corner where the projected gradient vanishes (ftol = gtol
    = 0). The best point seen (z = 0 included) is reported, so the value is a lower bound on the true
    maximum: a convex loss peaks at a corner of the box, and the optimizer may stop at a locally
    maximal corner that is not the highest.
    With ``subspace_dim`` A is :func:`subspace_basis` ``(P, p, seed)`` (Keskar's random subspace).

    .. note:: Not reparameterization-invariant (Dinh et al. 2017): the box is on the raw scale
       (only partly scaled by |x_i| + 1); prefer the adaptive measures to compare solutions.

    Args:
        obj: the objective (``value_and_grad``, ``point``, ...).
        eps: box size ε > 0. Default ``1e-3``.
        subspace_dim: p in [1, P] for the random subspace, or ``None`` (full space). Default ``None``.
        maxiter: L-BFGS-B iterations, >= 1. Default ``10``.
        seed: seeds the start point and A, an int in [0, 2**63). Default ``0``.

    Returns:
        :class:`EpsSharpness` (``value`` in percent, the evaluation count).

    Raises:
        ValueError: an argument out of range. TypeError: an argument of the wrong type.
    """
    _check_obj(obj)
    eps = _real("eps", eps)
    if subspace_dim is not None:
        subspace_dim = _int("subspace_dim", subspace_dim, 1, obj.num_params)
    maxiter = _int("maxiter", maxiter, 1)
    seed = _int("seed", seed, 0, _SEED_MAX)

    x = obj.point.detach()
    f0 = obj.value(x)
    A = None if subspace_dim is None else subspace_basis(obj.num_params, subspace_dim, seed, dtype=x.dtype,
                                                           device=x.device)
    coords = x if A is None else A.T @ x
    bound = eps * (coords.abs() + 1)  # half-widths b of the box in z (or y) coordinates
    n = bound.numel()
    start_gen = _generator(seed + 1 if seed < _SEED_MAX else 0)
    t0 = ((torch.rand(n, generator=start_gen, dtype=torch.float64) * 2 - 1) * 0.1).numpy()
    best = [f0]
    count = [0]

    def f_and_grad_t(t: np.ndarray) -> tuple[float, np.ndarray]:
        step = bound * torch.as_tensor(t, dtype=x.dtype, device=x.device)
        z = step if A is None else A @ step
        f, g = obj.value_and_grad(x + z)
        count[0] += 1
        if math.isfinite(f) and f > best[0]:
            best[0] = f
        gt = bound * (g if A is None else A.T @ g)
        return f, gt.detach().to("cpu", torch.float64).numpy()

    # L-BFGS-B takes a unit first step in t: divide by the start's gradient scale so that it crosses the box
    _, g_start = f_and_grad_t(t0)
    scale = float(np.max(np.abs(g_start)))
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0

    def neg_f(t: np.ndarray) -> tuple[float, np.ndarray]:
        f, gt = f_and_grad_t(t)
        return -(f - f0) / scale, -gt / scale

    res = minimize(neg_f, t0, method="L-BFGS-B", jac=True, bounds=[(-1.0, 1.0)] * n,
                   options={"maxiter": maxiter, "ftol": 0.0, "gtol": 0.0})
    value = (best[0] - f0) / (1 + f0) * 100
    return EpsSharpness(value=value, loss=f0, loss_perturbed=best[0], evaluations=count[0],
                        iterations=int(res.nit), eps=eps, subspace_dim=subspace_dim, maxiter=maxiter, seed=seed)
