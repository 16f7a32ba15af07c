"""Spectral estimators of a symmetric operator H (the Hessian): top eigenvalues, trace, spectral density.

Everything here is written against the operator interface of :mod:`landscape.hessian`
(``shape``, ``dtype``, ``device``, ``matvec`` on flat torch vectors, ``to_scipy``), never against
a model, so :class:`~landscape.hessian.HessianOperator` and
:class:`~landscape.hessian.DenseOperator` are interchangeable. Randomness comes from a CPU
``torch.Generator`` seeded with ``seed`` (the same draws on every device); results are small frozen
dataclasses whose ``to_json()`` holds plain JSON types (non-finite floats become ``null``).

* :func:`top_eigenvalues_lanczos` — implicitly restarted Lanczos (ARPACK ``eigsh``, which='LA'):
  the k largest algebraic eigenvalues, with residual norms ‖Hv − λv‖ as the uncertainty.
* :func:`top_eigenvalues_power` — power iteration with Hotelling deflation,
  H_j = H − Σ_{i<j} λ_i v_i v_iᵀ, as PyHessian does (Yao et al. 2020, "PyHessian: Neural Networks
  Through the Lens of the Hessian"): the k largest in *magnitude*.
* :func:`trace_hutchinson` — tr H ≈ (1/m) Σ_i z_iᵀ H z_i, z_i Rademacher (Hutchinson 1989);
  Var(zᵀHz) = 2(‖H‖_F² − Σ_i H_ii²).
* :func:`trace_hutchpp` — Hutch++ (Meyer, Musco, Musco, Woodruff 2021, "Hutch++: Optimal
  Stochastic Trace Estimation"): exact trace on a sketched top subspace plus Hutchinson on the rest.
* :func:`spectral_density_slq` — stochastic Lanczos quadrature (Lin, Saad, Yang 2016,
  "Approximating Spectral Densities of Large Matrices"; Ghorbani, Krishnan, Xiao 2019, "An
  Investigation into Neural Net Optimization via Hessian Eigenvalue Density"):
  φ(t) = (1/P) Σ_i δ(t − λ_i) ≈ (1/R) Σ_r Σ_j τ_rj δ(t − θ_rj), smoothed by a Gaussian.

.. note:: Raw Hessian eigenvalues, trace and density are not invariant to reparameterizations that
   leave the network function unchanged (Dinh et al. 2017, "Sharp Minima Can Generalize For Deep
   Nets"): compare them only between models of one architecture and parameterization.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from landscape.hessian import Operator

__all__ = ["Eigenvalues", "TraceEstimate", "SpectralDensity", "PROBES", "top_eigenvalues_lanczos",
           "top_eigenvalues_power", "trace_hutchinson", "trace_hutchpp", "spectral_density_slq"]


# ---------------------------------------------------------------------------------------------- results
def _jfloat(x: float) -> Optional[float]:
    x = float(x)
    return x if math.isfinite(x) else None


def _jlist(xs) -> list:
    return [_jfloat(x) for x in np.asarray(xs, dtype=np.float64).reshape(-1)]


@dataclass(frozen=True)
class Eigenvalues:
    """k eigenvalue estimates in descending order.

    Attributes:
        value: the eigenvalues, descending.
        uncertainty: per eigenvalue, what ``uncertainty_kind`` names: ``"residual_norm"``
            ‖Hv − λv‖ (Lanczos; ≥ the distance from λ to the spectrum, for unit v) or
            ``"relative_change"`` |λ_t − λ_{t−1}| / |λ_{t−1}| at the last iteration (power).
        converged: per eigenvalue, whether the stopping rule was met.
        matvecs: operator products used, the uncertainty's included.
        vectors: the unit eigenvectors as columns (P × k float64 numpy), not in ``to_json()``.
    """

    method: str
    value: tuple[float, ...]
    uncertainty: tuple[float, ...]
    uncertainty_kind: str
    converged: tuple[bool, ...]
    matvecs: int
    settings: dict = field(default_factory=dict, hash=False)
    vectors: Optional[np.ndarray] = field(default=None, repr=False, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "value": _jlist(self.value), "uncertainty": _jlist(self.uncertainty),
                "uncertainty_kind": self.uncertainty_kind, "converged": [bool(c) for c in self.converged],
                "matvecs": int(self.matvecs), "settings": dict(self.settings)}


@dataclass(frozen=True)
class TraceEstimate:
    """A trace estimate ``value`` ± ``uncertainty`` (one standard error of the Monte Carlo part)."""

    method: str
    value: float
    uncertainty: float
    matvecs: int
    settings: dict = field(default_factory=dict, hash=False)
    uncertainty_kind: str = "standard_error"

    @property
    def stderr(self) -> float:
        return self.uncertainty

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "value": _jfloat(self.value), "uncertainty": _jfloat(self.uncertainty),
                "uncertainty_kind": self.uncertainty_kind, "matvecs": int(self.matvecs),
                "settings": dict(self.settings)}


@dataclass(frozen=True, eq=False)
class SpectralDensity:
    """Stochastic Lanczos quadrature of H: quadrature nodes and weights and a smoothed density.

    Attributes:
        grid: points t at which the density is given (increasing).
        value: the smoothed density ρ(t) on ``grid``, normalized so its trapezoid integral is 1.
        uncertainty: pointwise standard error of ρ across runs (NaN with one run).
        nodes, weights: all runs' Ritz values θ_rj and weights τ_rj / R, run after run; the weights
            sum to 1, so Σ weights·f(nodes) ≈ (1/P) tr f(H).
        run_sizes: number of nodes of each run (fewer than ``lanczos_steps`` after a breakdown).
        trace, trace_stderr: P·Σ weights·nodes (= the mean over runs of a Hutchinson sample with
            that run's start vector) and its standard error across runs.
        sigma: the Gaussian smoothing width.
    """

    method: str
    grid: np.ndarray
    value: np.ndarray
    uncertainty: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    run_sizes: tuple[int, ...]
    trace: float
    trace_stderr: float
    sigma: float
    matvecs: int
    settings: dict = field(default_factory=dict)
    uncertainty_kind: str = "standard_error"

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "grid": _jlist(self.grid), "value": _jlist(self.value),
                "uncertainty": _jlist(self.uncertainty), "uncertainty_kind": self.uncertainty_kind,
                "nodes": _jlist(self.nodes), "weights": _jlist(self.weights),
                "run_sizes": [int(s) for s in self.run_sizes], "trace": _jfloat(self.trace),
                "trace_stderr": _jfloat(self.trace_stderr), "sigma": _jfloat(self.sigma),
                "matvecs": int(self.matvecs), "settings": dict(self.settings)}


# ---------------------------------------------------------------------------------------------- helpers
class _Counted:
    """The operator's matvec with a product counter."""

    def __init__(self, op: Operator) -> None:
        if not (hasattr(op, "matvec") and hasattr(op, "shape")):
            raise TypeError(f"op must be an operator with matvec, shape, dtype and device "
                            f"(landscape.hessian), got {type(op).__name__}")
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


# ---------------------------------------------------------------------------------------------- eigenvalues
def top_eigenvalues_lanczos(op: Operator, k: int = 5, tol: float = 1e-6, maxiter: Optional[int] = None,
                            seed: int = 0) -> Eigenvalues:
    """The k largest (algebraic) eigenvalues λ_1 ≥ … ≥ λ_k of H by implicitly restarted Lanczos.

    ARPACK's ``eigsh(which='LA')`` on ``op.to_scipy()``, started from a standard Gaussian v0 drawn
    from ``seed``. ARPACK stops when each Ritz pair has ‖Hv − θv‖ ≤ tol·|θ|; the residual norms
    ‖Hv_i − λ_i v_i‖ are then recomputed with k more products and reported as the uncertainty
    (for a unit v, some eigenvalue lies within that distance of λ_i).

    Args:
        op: the operator (``landscape.hessian``).
        k: how many eigenvalues [5]; 1 ≤ k < P (ARPACK's limit).
        tol: ARPACK's relative tolerance [1e-6]; 0 asks for machine precision.
        maxiter: ARPACK's limit on restarts [None: 10·P].
        seed: seed of the start vector [0].

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
    v0 = torch.randn(mv.n, generator=_generator(seed), dtype=torch.float64).numpy()
    A = mv.scipy()
    try:
        vals, vecs = eigsh(A, k=k, which="LA", tol=float(tol), maxiter=maxiter, v0=v0)
    except ArpackNoConvergence as err:
        raise RuntimeError(f"Lanczos (eigsh) did not converge for k={k}, tol={tol}, maxiter={maxiter}: "
                           f"{len(err.eigenvalues)} of {k} eigenvalues converged; raise maxiter or tol") from err
    order = np.argsort(vals)[::-1]
    vals, vecs = vals[order], vecs[:, order]
    residuals = [float(np.linalg.norm(A.matvec(vecs[:, i]) - vals[i] * vecs[:, i])) for i in range(k)]
    return Eigenvalues("lanczos", tuple(float(v) for v in vals), tuple(residuals), "residual_norm",
                       (True,) * k, mv.count, {"k": k, "tol": float(tol), "maxiter": maxiter, "seed": int(seed)},
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
        op: the operator (``landscape.hessian``).
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


# ---------------------------------------------------------------------------------------------- trace
def trace_hutchinson(op: Operator, samples: int = 100, seed: int = 0) -> TraceEstimate:
    """tr H by Hutchinson's estimator with Rademacher probes (Hutchinson 1989).

        tr H ≈ t = (1/m) Σ_{i=1..m} z_iᵀ H z_i,   z_i ∈ {±1}^P,   SE = std(z_iᵀHz_i; ddof=1) / √m.

    Unbiased, with Var(zᵀHz) = 2(‖H‖_F² − Σ_i H_ii²): exact for diagonal H.

    Args:
        op: the operator (``landscape.hessian``).
        samples: number of probes m (= products) [100]; at least 2 for a standard error.
        seed: seed of the probes [0].

    Returns:
        :class:`TraceEstimate` (``method='hutchinson'``).

    Raises:
        ValueError: ``samples`` < 2.

    .. note:: The raw Hessian trace is not reparameterization-invariant (Dinh et al. 2017).
    """
    mv = _Counted(op)
    samples = _int_at_least("samples", samples, 2, why=" (a standard error needs 2 probes)")
    gen = _generator(seed)
    draws = []
    for _ in range(samples):
        z = mv.put(_rademacher(gen, mv.n))
        draws.append(_dot(z, mv(z)))
    value, se = _mean_se(draws)
    return TraceEstimate("hutchinson", value, se, mv.count, {"samples": samples, "seed": int(seed)})


def trace_hutchpp(op: Operator, matvecs: int = 99, seed: int = 0) -> TraceEstimate:
    """tr H by Hutch++ (Meyer, Musco, Musco, Woodruff 2021, Algorithm 1) with a budget of m products.

    With s = ⌊m/3⌋ and g = m − 2s, Rademacher S ∈ R^{P×s} and G = [g_1..g_g]:

        Q = orth(H S)                                        (s products, reduced QR)
        tr H = tr(QᵀHQ) + tr((I − QQᵀ) H (I − QQᵀ))            (exact, for any orthonormal Q)
             ≈ Σ_j q_jᵀ H q_j  +  (1/g) Σ_i y_iᵀ H y_i,   y_i = (I − QQᵀ) g_i

    (s + g products). The first term is exact; the second is Hutchinson's estimator on the
    deflated operator, whose variance 2‖(I−QQᵀ)H(I−QQᵀ)‖_F² is small when a few eigenvalues
    dominate. The standard error is that part's: std(y_iᵀHy_i; ddof=1) / √g (NaN when g = 1).

    Args:
        op: the operator (``landscape.hessian``).
        matvecs: the budget m of products [99]; at least 3.
        seed: seed of S and G [0].

    Returns:
        :class:`TraceEstimate` (``method='hutchpp'``; settings record s and g).

    Raises:
        ValueError: ``matvecs`` < 3.

    .. note:: The raw Hessian trace is not reparameterization-invariant (Dinh et al. 2017).
    """
    mv = _Counted(op)
    matvecs = _int_at_least("matvecs", matvecs, 3, why=" (Hutch++ splits the budget in three)")
    s = matvecs // 3
    g = matvecs - 2 * s
    gen = _generator(seed)
    sketch = [mv.put(_rademacher(gen, mv.n)) for _ in range(s)]
    Y = torch.stack([mv(col) for col in sketch], dim=1)
    Q, _ = torch.linalg.qr(Y, mode="reduced")
    exact = sum(_dot(Q[:, j], mv(Q[:, j].contiguous())) for j in range(Q.shape[1]))
    draws = []
    for _ in range(g):
        z = mv.put(_rademacher(gen, mv.n))
        y = z - Q @ (Q.T @ z)
        draws.append(_dot(y, mv(y)))
    rest, se = _mean_se(draws)
    return TraceEstimate("hutchpp", exact + rest, se, mv.count,
                         {"matvecs": matvecs, "sketch": s, "probes": g, "seed": int(seed)})


# ---------------------------------------------------------------------------------------------- density
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
        op: the operator (``landscape.hessian``).
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
