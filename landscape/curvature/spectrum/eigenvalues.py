"""Top eigenvalues of H: implicitly restarted Lanczos (ARPACK) and power iteration with Hotelling deflation."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from landscape.curvature.hessian import Operator
from landscape.curvature.spectrum._common import _Counted, _dot, _generator, _int_at_least
from landscape.curvature.spectrum.results import Eigenvalues

__all__ = ["top_eigenvalues_lanczos", "top_eigenvalues_power"]


def top_eigenvalues_lanczos(op: Operator, k: int = 5, tol: float = 1e-6, maxiter: Optional[int] = None,
                            seed: int = 0, ncv: Optional[int] = None) -> Eigenvalues:
    """The k largest (algebraic) eigenvalues λ_1 ≥ … ≥ λ_k of H by implicitly restarted Lanczos.

    ARPACK's ``eigsh(which='LA')`` on ``op.to_scipy()``, started from a standard Gaussian v0 drawn
    from ``seed``. ARPACK stops when each Ritz pair has ‖Hv − θv‖ ≤ tol·|θ|; the residual norms
    ‖Hv_i − λ_i v_i‖ are then recomputed with k more products and reported as the uncertainty
    (for a unit v, some eigenvalue lies within that distance of λ_i).

    Args:
        op: the operator (``landscape.curvature.hessian``).
        k: how many eigenvalues [5]; 1 ≤ k < P (ARPACK's limit).
        tol: ARPACK's relative tolerance [1e-6]; 0 asks for machine precision.
        maxiter: ARPACK's limit on restarts [None: 10·P].
        seed: seed of the start vector [0].
        ncv: Lanczos vectors kept between restarts [None: max(2k + 1, k + 5), at most P]. SciPy's
            default (at least 20) spends 20 products before its first convergence test; for k = 1 on
            the digits CNN, 6 vectors reached tol 1e-4 in 10 products instead of 21 (BENCHMARKS.md).

    Returns:
        :class:`Eigenvalues` (``method='lanczos'``, ``uncertainty_kind='residual_norm'``).

    Raises:
        ValueError: k, tol or maxiter out of range.
        RuntimeError: ARPACK did not converge within ``maxiter``.

    .. note:: Raw Hessian eigenvalues are not reparameterization-invariant (Dinh et al. 2017).
    """
    mv = _Counted(op)
    k = _int_at_least("k", k, 1, mv.n - 1, f" (eigsh needs k < P = {mv.n})")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol must be a number >= 0, got {tol!r}")
    if maxiter is not None:
        maxiter = _int_at_least("maxiter", maxiter, 1)
    ncv = min(mv.n, max(2 * k + 1, k + 5)) if ncv is None else _int_at_least("ncv", ncv, k + 1, mv.n)
    v0 = torch.randn(mv.n, generator=_generator(seed), dtype=torch.float64).numpy()
    A = mv.scipy()
    try:
        vals, vecs = eigsh(A, k=k, which="LA", tol=float(tol), maxiter=maxiter, v0=v0, ncv=ncv)
    except ArpackNoConvergence as err:
        raise RuntimeError(f"Lanczos (eigsh) did not converge for k={k}, tol={tol}, maxiter={maxiter}: "
                           f"{len(err.eigenvalues)} of {k} eigenvalues converged; raise maxiter or tol") from err
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    residuals = [float(np.linalg.norm(A.matvec(vecs[:, i]) - vals[i] * vecs[:, i])) for i in range(k)]
    return Eigenvalues("lanczos", tuple(float(v) for v in vals), tuple(residuals), "residual_norm",
                       (True,) * k, mv.count, {"k": k, "tol": float(tol), "maxiter": maxiter, "seed": int(seed),
                        "ncv": ncv},
                       np.ascontiguousarray(vecs))


def top_eigenvalues_power(op: Operator, k: int = 5, iters: int = 100, tol: float = 1e-4,
                          seed: int = 0) -> Eigenvalues:
    """k eigenvalues of H by power iteration with Hotelling deflation, as PyHessian computes them.

    For j = 1..k, iterate on the deflated operator H_j = H − Σ_{i<j} λ_i v_i v_iᵀ from a Gaussian
    start vector (orthogonalized against v_1..v_{j−1}):

        w = H_j v,   λ ← vᵀw (Rayleigh quotient),   v ← w / ‖w‖,

    stopping when |λ_t − λ_{t−1}| / |λ_{t−1}| < ``tol`` or after ``iters`` products. Results are
    sorted in descending order; the relative change at the stop is the uncertainty.

    .. note:: Power iteration converges to the eigenvalue of largest *magnitude* |λ|, at rate
       |λ_2/λ_1| per step. A negative eigenvalue with |λ| above the positive ones is therefore found
       (first) and returned among the "top" k, so the result is the k largest-|λ| eigenvalues, not
       the k largest; near a saddle the list can contain negative values, and a pair ±λ of equal
       magnitude makes it oscillate without converging. :func:`top_eigenvalues_lanczos` gives the
       largest algebraic ones. (PyHessian's ``eigenvalues`` has the same property.)

    Args:
        op: the operator (``landscape.curvature.hessian``).
        k: how many eigenvalues [5]; 1 ≤ k ≤ P.
        iters: the most products per eigenvalue [100].
        tol: stop when the relative change of λ is below this [1e-4].
        seed: seed of the start vectors [0].

    Returns:
        :class:`Eigenvalues` (``method='power'``, ``uncertainty_kind='relative_change'``;
        ``converged[j]`` is False when ``iters`` ran out).

    Raises:
        ValueError: k, iters or tol out of range.

    .. note:: Raw Hessian eigenvalues are not reparameterization-invariant (Dinh et al. 2017).
    """
    mv = _Counted(op)
    k = _int_at_least("k", k, 1, mv.n)
    iters = _int_at_least("iters", iters, 1)
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a number > 0, got {tol!r}")
    gen = _generator(seed)
    vals: list[float] = []
    vecs: list[torch.Tensor] = []
    changes, converged = [], []
    for _ in range(k):
        v = mv.put(torch.randn(mv.n, generator=gen, dtype=torch.float64))
        for u in vecs:
            v = v - _dot(u, v) * u
        v = v / torch.linalg.vector_norm(v)
        lam, change, ok = math.nan, math.inf, False
        for _ in range(iters):
            w = mv(v)
            for lam_i, u in zip(vals, vecs):
                w = w - (lam_i * _dot(u, v)) * u
            new = _dot(v, w)
            norm = float(torch.linalg.vector_norm(w))
            if norm == 0.0:             # v spans a null direction of H_j: λ = 0 exactly
                lam, change, ok = 0.0, 0.0, True
                break
            v = w / norm
            if math.isfinite(lam):
                change = abs(new - lam) / max(abs(lam), np.finfo(np.float64).tiny)
            lam = new
            if change < tol:
                ok = True
                break
        vals.append(lam)
        vecs.append(v)
        changes.append(change)
        converged.append(ok)
    order = np.argsort(vals, kind="stable")[::-1]
    vectors = torch.stack([vecs[i] for i in order], dim=1).detach().to("cpu", torch.float64).numpy()
    return Eigenvalues("power", tuple(float(vals[i]) for i in order), tuple(float(changes[i]) for i in order),
                       "relative_change", tuple(bool(converged[i]) for i in order), mv.count,
                       {"k": k, "iters": iters, "tol": float(tol), "seed": int(seed)}, vectors)
