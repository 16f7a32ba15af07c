"""The eigenvalue density of H by stochastic Lanczos quadrature, on a reorthogonalized Lanczos tridiagonalization."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal

from landscape.curvature.hessian import Operator
from landscape.curvature.spectrum._common import PROBES, _Counted, _dot, _generator, _int_at_least, _mean_se
from landscape.curvature.spectrum.results import SpectralDensity

__all__ = ["spectral_density_slq"]


def _lanczos_tridiagonal(mv: _Counted, v0: torch.Tensor, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """α (diagonal) and β (off-diagonal) of T = VᵀHV after ≤ ``steps`` Lanczos steps from unit v0.

    The three-term recurrence β_{j+1} v_{j+1} = H v_j − α_j v_j − β_j v_{j−1}, with full
    reorthogonalization of each new vector against all previous ones (twice: "twice is enough").
    Stops early at a breakdown, β_{j+1} ≤ 100·ε·max(|α|, β) (an invariant Krylov subspace).
    """
    V = torch.empty((steps, mv.n), dtype=v0.dtype, device=v0.device)
    V[0] = v0
    alphas: list[float] = []
    betas: list[float] = []
    eps = torch.finfo(v0.dtype).eps
    scale = 0.0
    for j in range(steps):
        w = mv(V[j])
        if j > 0:
            w = w - betas[-1] * V[j - 1]
        alpha = _dot(w, V[j])
        alphas.append(alpha)
        w = w - alpha * V[j]
        for _ in range(2):
            w = w - V[:j + 1].T @ (V[:j + 1] @ w)
        if j == steps - 1:
            break
        beta = float(torch.linalg.vector_norm(w))
        scale = max(scale, abs(alpha), beta)
        if beta <= 100 * eps * scale:
            break
        betas.append(beta)
        V[j + 1] = w / beta
    return np.asarray(alphas), np.asarray(betas)


def spectral_density_slq(op: Operator, runs: int = 5, lanczos_steps: int = 30, seed: int = 0,
                         grid: Optional[Sequence[float] | np.ndarray] = None, sigma: Optional[float] = None,
                         probe: str = "rademacher") -> SpectralDensity:
    """The eigenvalue density of H by stochastic Lanczos quadrature (SLQ).

    The spectral density φ(t) = (1/P) Σ_i δ(t − λ_i) satisfies ∫ f dφ = (1/P) tr f(H) = E[vᵀ f(H) v]
    for a unit random v with E[vvᵀ] = I/P. For each of R runs, m Lanczos steps from v give
    T = VᵀHV = U diag(θ) Uᵀ, and Gauss quadrature vᵀ f(H) v ≈ Σ_j τ_j f(θ_j) with τ_j = U_{1j}²
    (exact for polynomials of degree ≤ 2m − 1; Golub & Meurant). Averaging over runs,

        φ ≈ (1/R) Σ_r Σ_j τ_rj δ(· − θ_rj),   ρ(t) = (1/R) Σ_r Σ_j τ_rj N(t; θ_rj, σ²),

    (Lin, Saad, Yang 2016; Ghorbani, Krishnan, Xiao 2019), and ρ is renormalized to integrate to 1
    over the grid (trapezoid rule). In particular P·Σ τθ = P·vᵀHv is a Hutchinson sample of tr H.

    Args:
        op: the operator (``landscape.curvature.hessian``).
        runs: number of random start vectors R [5].
        lanczos_steps: Lanczos steps m per run [30]; at most P are taken.
        seed: seed of the start vectors [0].
        grid: where to evaluate ρ (increasing, ≥ 2 points) [None: 500 points on
            [min θ − 5σ, max θ + 5σ]].
        sigma: Gaussian width [None: 1% of max θ − min θ, or of the grid's span when a grid is
            given; 1% of max(|θ|, 1) if all nodes coincide].
        probe: start vectors, a key of :data:`PROBES`: ``"rademacher"`` (z/√P) or ``"gaussian"``
            (normalized) ["rademacher"].

    Returns:
        :class:`SpectralDensity` (density with pointwise standard error across runs, nodes,
        weights, the implied trace estimate and its standard error).

    Raises:
        ValueError: runs, lanczos_steps, sigma, grid or probe invalid.

    .. note:: The raw Hessian spectrum is not reparameterization-invariant (Dinh et al. 2017).
    """
    mv = _Counted(op)
    runs = _int_at_least("runs", runs, 1)
    lanczos_steps = _int_at_least("lanczos_steps", lanczos_steps, 1)
    if probe not in PROBES:
        raise ValueError(f"probe must be one of {', '.join(sorted(PROBES))}, got {probe!r}")
    if sigma is not None and not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    if grid is not None:
        grid = np.asarray(grid, dtype=np.float64)
        if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
            raise ValueError(f"grid must be a finite, strictly increasing 1-D sequence of >= 2 points, "
                             f"got shape {grid.shape}")
    steps = min(lanczos_steps, mv.n)
    gen = _generator(seed)
    run_nodes, run_weights = [], []
    for _ in range(runs):
        v0 = mv.put(PROBES[probe](gen, mv.n))
        alpha, beta = _lanczos_tridiagonal(mv, v0, steps)
        if alpha.size == 1:
            theta, U = alpha.copy(), np.ones((1, 1))
        else:
            theta, U = eigh_tridiagonal(alpha, beta)
        run_nodes.append(theta)
        run_weights.append(U[0] ** 2)
    nodes = np.concatenate(run_nodes)
    if grid is None:
        span = float(nodes.max() - nodes.min())
        span = span if span > 0 else max(float(np.abs(nodes).max()), 1.0)
        sigma = 0.01 * span if sigma is None else float(sigma)
        grid = np.linspace(nodes.min() - 5 * sigma, nodes.max() + 5 * sigma, 500)
    elif sigma is None:
        sigma = 0.01 * float(grid[-1] - grid[0])
    sigma = float(sigma)
    dens = np.stack([(w[None, :] * np.exp(-0.5 * ((grid[:, None] - th[None, :]) / sigma) ** 2)).sum(1)
                     for th, w in zip(run_nodes, run_weights)]) / (sigma * math.sqrt(2 * math.pi))
    mean = dens.mean(0)
    total = float(np.sum(np.diff(grid) * (mean[1:] + mean[:-1])) / 2)    # trapezoid rule (numpy < 2 too)
    if not total > 0:
        raise ValueError(f"the grid [{grid[0]:.4g}, {grid[-1]:.4g}] holds no mass of the spectrum "
                         f"(Ritz values in [{nodes.min():.4g}, {nodes.max():.4g}], sigma={sigma:.4g})")
    dens /= total
    se = dens.std(0, ddof=1) / math.sqrt(runs) if runs >= 2 else np.full(grid.size, math.nan)
    traces = [mv.n * float(np.dot(w, th)) for th, w in zip(run_nodes, run_weights)]
    trace, trace_se = _mean_se(traces)
    return SpectralDensity("slq", grid, dens.mean(0), se, nodes, np.concatenate(run_weights) / runs,
                           tuple(int(t.size) for t in run_nodes), trace, trace_se, sigma, mv.count,
                           {"runs": runs, "lanczos_steps": lanczos_steps, "seed": int(seed), "probe": probe,
                            "grid_points": int(grid.size), "sigma": sigma})
