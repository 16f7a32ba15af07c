"""Flatness measures of the training loss around a point, written against the objective interface.

Every measure takes an objective ``obj`` with ``value(w)``, ``value_and_grad(w)`` (flat torch
vectors), ``point``, ``num_params``, ``dtype`` and ``device`` (:class:`landscape.objective.ModelObjective`
or any closed-form stand-in) and returns a small frozen dataclass: ``value``, its uncertainty (a
Monte Carlo standard error, a bisection bracket, or ``lower_bound = True`` where the value is the
best point a local optimizer found), the settings, and ``to_json()`` (plain JSON types; non-finite
numbers become ``None``).

=============================  ======================================================================
:func:`eps_sharpness`          Keskar et al. 2017: max over a box of the relative loss rise, in %
:func:`adaptive_sharpness_average`  E_δ[L(w + δ)] − L(w), δ ~ N(0, ρ² diag(c²))
:func:`adaptive_sharpness_worst`    max_{‖δ/c‖_p ≤ ρ} L(w + δ) − L(w) (projected gradient ascent)
:func:`pac_bayes_sigma`        Jiang et al. 2019: largest σ with E_u[L(w + u)] − L(w) ≤ target
:func:`ray_width_metric`       Izmailov et al. 2018: distance along random unit rays to a rise of δ
=============================  ======================================================================

.. note::
   Reparameterization (Dinh et al. 2017, "Sharp Minima Can Generalize For Deep Nets"): for a ReLU
   network, multiplying one layer by α > 0 and the next by 1/α leaves the function, and the loss,
   unchanged but changes any measure taken on the raw parameter scale — ε-sharpness (whose box is
   only partly scaled by |x_i| + 1), the non-adaptive average/worst-case sharpness, the non-magnitude-
   aware PAC-Bayes σ and the Euclidean ray width. The adaptive measures (c = |w|, Kwon et al. 2021;
   Andriushchenko et al. 2023) and the magnitude-aware σ' are invariant to such elementwise rescaling
   and are the scale-aware choice for comparing different solutions.

Randomness is drawn on the CPU from ``torch.Generator`` seeded with ``seed``, so the same seed gives
the same result on every device; Monte Carlo draws are regenerated from the seed when reused instead
of being stored (memory stays O(P)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Optional

import numpy as np
import torch
from scipy.optimize import minimize

from landscape.rays import ray_width, width_summary

__all__ = ["EpsSharpness", "AverageSharpness", "WorstCaseSharpness", "PacBayesSigma", "RayWidth",
           "eps_sharpness", "adaptive_sharpness_average", "adaptive_sharpness_worst", "pac_bayes_sigma",
           "ray_width_metric", "subspace_basis"]

_SEED_MAX = 2 ** 63 - 1


# --------------------------------------------------------------------------- results
def _plain(x: Any) -> Any:
    if isinstance(x, (bool, str)) or x is None:
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (tuple, list)):
        return [_plain(v) for v in x]
    raise TypeError(f"cannot convert {type(x).__name__} to JSON")


def _setting(**kw):
    return field(metadata={"setting": True}, **kw)


@dataclass(frozen=True)
class _Result:
    measure: ClassVar[str]
    lower_bound: ClassVar[bool] = False
    uncertainty_kind: ClassVar[str] = "none: a lower bound found by a local optimizer"

    @property
    def uncertainty(self) -> Optional[float]:
        """The headline uncertainty of ``value`` (see ``uncertainty_kind``); ``None`` for lower bounds."""
        return None

    def to_json(self) -> dict[str, Any]:
        """``{"measure", "lower_bound", "uncertainty", "uncertainty_kind", "settings": {...}, <fields>}``.

        Non-finite numbers become ``None``.
        """
        out: dict[str, Any] = {"measure": self.measure, "lower_bound": self.lower_bound,
                               "uncertainty": _plain(self.uncertainty), "uncertainty_kind": self.uncertainty_kind,
                               "settings": {}}
        for f in fields(self):
            target = out["settings"] if f.metadata.get("setting") else out
            target[f.name] = _plain(getattr(self, f.name))
        return out


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


@dataclass(frozen=True)
class AverageSharpness(_Result):
    """Average-case (adaptive) sharpness: Monte Carlo mean ± standard error."""

    measure: ClassVar[str] = "average_sharpness"
    uncertainty_kind: ClassVar[str] = "Monte Carlo standard error"
    value: float
    stderr: float
    loss: float
    rho: float = _setting()
    samples: int = _setting()
    adaptive: bool = _setting()
    seed: int = _setting()

    @property
    def uncertainty(self) -> float:
        return self.stderr


@dataclass(frozen=True)
class WorstCaseSharpness(_Result):
    """Worst-case (adaptive) sharpness; a lower bound on the maximum (projected gradient ascent)."""

    measure: ClassVar[str] = "worst_case_sharpness"
    lower_bound: ClassVar[bool] = True
    value: float
    loss: float
    evaluations: int  #: value_and_grad plus value calls
    rho: float = _setting()
    p: float = _setting()
    adaptive: bool = _setting()
    steps: int = _setting()
    restarts: int = _setting()
    step_size: float = _setting()  #: the step actually used (the default resolved)
    seed: int = _setting()

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["settings"]["p"] = "inf" if math.isinf(self.p) else 2  # not None, as other non-finite numbers
        return out


@dataclass(frozen=True)
class PacBayesSigma(_Result):
    """PAC-Bayes σ (or σ'): the feasible end of the final bisection bracket [value, value + bracket_width]."""

    measure: ClassVar[str] = "pac_bayes_sigma"
    uncertainty_kind: ClassVar[str] = "width of the final bisection bracket (None: censored at sigma_max)"
    value: float
    bracket_width: float  #: inf when even ``sigma_max`` stays below the target (censored)
    estimate: float  #: Monte Carlo E[L(w + u)] − L(w) at ``value``
    estimate_stderr: float
    censored: bool
    loss: float
    evaluations: int
    target: float = _setting()
    samples: int = _setting()
    magnitude_aware: bool = _setting()
    eps: float = _setting()
    seed: int = _setting()
    bisection_steps: int = _setting()
    sigma_max: float = _setting()

    @property
    def uncertainty(self) -> float:
        return self.bracket_width


@dataclass(frozen=True)
class RayWidth(_Result):
    """Mean ± std (ddof=1) over the uncensored rays of the width; ``widths`` holds every ray (inf: censored)."""

    measure: ClassVar[str] = "ray_width"
    uncertainty_kind: ClassVar[str] = "standard deviation over the uncensored rays (ddof=1)"
    value: Optional[float]  #: None when every ray is censored
    std: Optional[float]
    censored: int
    widths: tuple[float, ...]
    loss: float
    directions: int = _setting()
    max_distance: float = _setting()
    steps: int = _setting()
    delta: float = _setting()
    seed: int = _setting()

    @property
    def uncertainty(self) -> Optional[float]:
        return self.std


# ------------------------------------------------------------------------ validation
def _int(name: str, value: Any, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return int(value)


def _real(name: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_obj(obj: Any) -> None:
    for attr in ("value", "value_and_grad", "point", "num_params", "dtype", "device"):
        if not hasattr(obj, attr):
            raise TypeError(f"obj must provide {attr!r} (the landscape.objective interface); "
                            f"{type(obj).__name__} does not")
    if obj.num_params < 1:
        raise ValueError(f"obj has num_params={obj.num_params}; nothing to perturb")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(n: int, gen: torch.Generator, obj) -> torch.Tensor:
    return torch.randn(n, generator=gen, dtype=obj.dtype).to(obj.device)


# ----------------------------------------------------------------------- ε-sharpness
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


# ------------------------------------------------------------------ adaptive sharpness
def _scale(w: torch.Tensor, adaptive: bool) -> torch.Tensor:
    return w.abs() if adaptive else torch.ones_like(w)


def adaptive_sharpness_average(obj, rho: float, samples: int = 32, adaptive: bool = True,
                               seed: int = 0) -> AverageSharpness:
    """Average-case (adaptive) sharpness (Kwon et al. 2021, "ASAM"; Andriushchenko et al. 2023, "A Modern
    Look at the Relationship between Sharpness and Generalization"):

        S_avg(w) = E_δ[L(w + δ)] − L(w),   δ ~ N(0, ρ² diag(c²)),
        c = |w| (adaptive) or c = 1 (non-adaptive),

    estimated by the Monte Carlo mean over ``samples`` draws δ_k = ρ c ⊙ z_k, z_k ~ N(0, I), with
    standard error std(ddof=1) / √samples. Near a minimum with Hessian H, S_avg ≈ ½ ρ² tr(C H C),
    C = diag(c). Parameters with w_i = 0 are not perturbed in the adaptive version.

    .. note:: The non-adaptive version is not reparameterization-invariant (Dinh et al. 2017); the
       adaptive one is invariant to elementwise rescaling and is the scale-aware choice.

    Args:
        obj: the objective.
        rho: ρ > 0.
        samples: Monte Carlo draws, >= 2. Default ``32``.
        adaptive: c = |w| if ``True`` (default), else c = 1.
        seed: an int in [0, 2**63). Default ``0``.

    Returns:
        :class:`AverageSharpness` (``value`` ± ``stderr``).

    Raises:
        ValueError: an argument out of range. TypeError: an argument of the wrong type.
    """
    _check_obj(obj)
    rho = _real("rho", rho)
    samples = _int("samples", samples, 2)
    adaptive = _bool("adaptive", adaptive)
    seed = _int("seed", seed, 0, _SEED_MAX)
    w = obj.point.detach()
    c = _scale(w, adaptive)
    f0 = obj.value(w)
    gen = _generator(seed)
    rises = np.array([obj.value(w + rho * c * _randn(w.numel(), gen, obj)) - f0 for _ in range(samples)])
    return AverageSharpness(value=float(rises.mean()), stderr=float(rises.std(ddof=1) / math.sqrt(samples)),
                            loss=f0, rho=rho, samples=samples, adaptive=adaptive, seed=seed)


def _p_norm(p: Any) -> float:
    numeric = isinstance(p, (int, float, np.integer, np.floating)) and not isinstance(p, bool)
    if not numeric or float(p) not in (2.0, math.inf):
        raise ValueError(f"p must be 2 or math.inf (the l2 or l-infinity ball), got {p!r}")
    return float(p)


def adaptive_sharpness_worst(obj, rho: float, p: float = 2, adaptive: bool = True, steps: int = 20,
                             restarts: int = 1, seed: int = 0, step_size: Optional[float] = None
                             ) -> WorstCaseSharpness:
    """Worst-case (adaptive) sharpness (Kwon et al. 2021, "ASAM"; Andriushchenko et al. 2023):

        S_max(w) = max_{‖δ / c‖_p ≤ ρ} L(w + δ) − L(w),   c = |w| (adaptive) or 1,

    by projected gradient ascent on γ = δ / c, whose gradient is c ⊙ ∇L(w + c ⊙ γ):

        p = 2:  γ ← Π_{‖γ‖₂ ≤ ρ}(γ + α g / ‖g‖₂)     (normalized step, then radial projection)
        p = ∞:  γ ← clip(γ + α sign(g), −ρ, ρ)       (sign step, then clipping)

    from a seeded random start inside the ball (p = 2: uniform direction, radius ρ·U(0, 1);
    p = ∞: U(−ρ, ρ) per coordinate), ``restarts`` times. The best value seen over all iterates and
    restarts is returned, so it is a lower bound on the maximum. Default steps: p = ∞: α = 2.5 ρ / steps
    (Madry et al. 2018's PGD practice, crossing the box about once); p = 2: α = 2ρ, because near a
    quadratic minimum the ℓ2 iteration is a power iteration on I + (α / (ρ λ)) C H C, which small
    steps slow down (with 2.5 ρ / steps, 20 steps reached 80% of ½ ρ² λ_max(C H C) on a 30-dimensional
    quadratic; with 2ρ, 99.6%).

    .. note:: The non-adaptive version is not reparameterization-invariant (Dinh et al. 2017); the
       adaptive one is the scale-aware choice.

    Args:
        obj: the objective.
        rho: ball radius ρ > 0.
        p: ``2`` or ``math.inf``. Default ``2``.
        adaptive: c = |w| if ``True`` (default), else c = 1.
        steps: ascent steps per restart, >= 1. Default ``20``.
        restarts: random restarts, >= 1. Default ``1``.
        seed: an int in [0, 2**63). Default ``0``.
        step_size: α > 0, or ``None`` for 2ρ (p = 2) or 2.5 ρ / steps (p = ∞).

    Returns:
        :class:`WorstCaseSharpness` (a lower bound).

    Raises:
        ValueError: an argument out of range (``p`` not 2 or inf). TypeError: wrong type.
    """
    _check_obj(obj)
    rho = _real("rho", rho)
    p = _p_norm(p)
    adaptive = _bool("adaptive", adaptive)
    steps = _int("steps", steps, 1)
    restarts = _int("restarts", restarts, 1)
    seed = _int("seed", seed, 0, _SEED_MAX)
    if step_size is None:
        alpha = 2.0 * rho if p == 2 else 2.5 * rho / steps
    else:
        alpha = _real("step_size", step_size)
    w = obj.point.detach()
    c = _scale(w, adaptive)
    f0 = obj.value(w)
    gen = _generator(seed)
    best, evals = f0, 0
    for _ in range(restarts):
        if p == 2:
            g0 = _randn(w.numel(), gen, obj)
            radius = float(torch.rand((), generator=gen, dtype=torch.float64))
            gamma = rho * radius * g0 / g0.norm().clamp_min(torch.finfo(w.dtype).tiny)
        else:
            gamma = ((torch.rand(w.numel(), generator=gen, dtype=w.dtype) * 2 - 1) * rho).to(w.device)
        for _ in range(steps):
            f, g = obj.value_and_grad(w + c * gamma)
            evals += 1
            best = max(best, f) if math.isfinite(f) else best
            g = c * g
            if p == 2:
                norm = g.norm()
                if norm > 0:
                    gamma = gamma + alpha * g / norm
                gamma = gamma * torch.clamp(rho / gamma.norm().clamp_min(torch.finfo(w.dtype).tiny), max=1.0)
            else:
                gamma = (gamma + alpha * torch.sign(g)).clamp(-rho, rho)
        f = obj.value(w + c * gamma)
        evals += 1
        best = max(best, f) if math.isfinite(f) else best
    return WorstCaseSharpness(value=best - f0, loss=f0, evaluations=evals, rho=rho, p=p, adaptive=adaptive,
                              steps=steps, restarts=restarts, step_size=alpha, seed=seed)


# -------------------------------------------------------------------------- PAC-Bayes
def pac_bayes_sigma(obj, target: float = 0.1, samples: int = 16, magnitude_aware: bool = False,
                    eps: float = 1e-3, seed: int = 0, bisection_steps: int = 20,
                    sigma_max: float = 10.0) -> PacBayesSigma:
    """PAC-Bayes flatness σ (Jiang et al. 2019, "Fantastic Generalization Measures and Where to Find
    Them", Sec. 4 / App. C): the largest σ with

        E_u[L(w + u)] − L(w) ≤ target,   u ~ N(0, σ² I)                       (σ), or
                                          u_i ~ N(0, σ'² w_i² + ε²)            (magnitude-aware σ').

    The expectation is a Monte Carlo mean over ``samples`` draws with common random numbers: the same
    standard-normal z_k at every σ (u_k = σ z_k, or u_k = z_k ⊙ √(σ'² w² + ε²)), so the estimate is
    smooth in σ. The bracket starts at [0, min(0.01, sigma_max)] and is doubled (or halved) until
    est(lo) ≤ target < est(hi) with hi = 2 lo, then bisected ``bisection_steps`` times; ``value`` is
    the feasible end lo, ``bracket_width`` = hi − lo its uncertainty, and the MC standard error of
    est(value) is reported. If est(sigma_max) ≤ target the result is censored at ``sigma_max``.
    Near a minimum with Hessian H, σ ≈ √(2 target / tr H) and σ' ≈ √((2 target − ε² tr H) / tr(C H C)),
    C = diag(|w|).

    .. note:: σ on the raw scale is not reparameterization-invariant (Dinh et al. 2017); the
       magnitude-aware σ' is the scale-aware choice.

    Args:
        obj: the objective.
        target: allowed rise of the expected loss, > 0. Default ``0.1``.
        samples: Monte Carlo draws, >= 2. Default ``16``.
        magnitude_aware: search σ' instead of σ. Default ``False``.
        eps: ε >= 0 of the magnitude-aware variance. Default ``1e-3``.
        seed: an int in [0, 2**63). Default ``0``.
        bisection_steps: >= 1. Default ``20``.
        sigma_max: cap of the search, > 0. Default ``10.0``.

    Returns:
        :class:`PacBayesSigma`.

    Raises:
        ValueError: an argument out of range, or (magnitude-aware) ε alone already raises the loss
        above ``target``. TypeError: an argument of the wrong type.
    """
    _check_obj(obj)
    target = _real("target", target)
    samples = _int("samples", samples, 2)
    magnitude_aware = _bool("magnitude_aware", magnitude_aware)
    eps = _real("eps", eps, positive=False)
    seed = _int("seed", seed, 0, _SEED_MAX)
    bisection_steps = _int("bisection_steps", bisection_steps, 1)
    sigma_max = _real("sigma_max", sigma_max)
    w = obj.point.detach()
    f0 = obj.value(w)
    w2 = w * w
    evals = [0]

    def rises(sigma: float) -> np.ndarray:
        gen = _generator(seed)  # common random numbers: the same z_k for every σ
        out = np.empty(samples)
        for k in range(samples):
            z = _randn(w.numel(), gen, obj)
            u = z * torch.sqrt(sigma ** 2 * w2 + eps ** 2) if magnitude_aware else sigma * z
            out[k] = obj.value(w + u) - f0
        evals[0] += samples
        return out

    def est(sigma: float) -> float:
        r = rises(sigma)
        return float(r.mean()) if np.all(np.isfinite(r)) else math.inf

    if magnitude_aware and eps > 0 and est(0.0) > target:
        raise ValueError(f"eps={eps} alone raises the expected loss by {est(0.0):.4g} > target={target}; "
                         f"lower eps or raise target")
    s = min(0.01, sigma_max)
    lo, hi = 0.0, s
    if est(s) <= target:
        lo, hi = s, math.inf
        while lo < sigma_max:
            cand = min(2 * lo, sigma_max)
            if est(cand) > target:
                hi = cand
                break
            lo = cand
    else:
        for _ in range(60):
            cand = hi / 2
            if est(cand) <= target:
                lo = cand
                break
            hi = cand
    censored = math.isinf(hi)
    if not censored:
        for _ in range(bisection_steps):
            mid = 0.5 * (lo + hi)
            if est(mid) <= target:
                lo = mid
            else:
                hi = mid
    r = rises(lo)
    return PacBayesSigma(value=lo, bracket_width=hi - lo, estimate=float(r.mean()),
                         estimate_stderr=float(r.std(ddof=1) / math.sqrt(samples)), censored=censored, loss=f0,
                         evaluations=evals[0], target=target, samples=samples, magnitude_aware=magnitude_aware,
                         eps=eps, seed=seed, bisection_steps=bisection_steps, sigma_max=sigma_max)


# ------------------------------------------------------------------------- ray width
def _unit_directions(obj, k: int, seed: int) -> torch.Tensor:
    if hasattr(obj, "space"):
        from landscape.directions import random_directions

        d = random_directions(obj.space, obj.point.detach().float().cpu(), k, normalization="unit", seed=seed)
        d = d.to(obj.dtype)
    else:
        d = torch.randn(k, obj.num_params, generator=_generator(seed), dtype=obj.dtype)
    return (d / d.norm(dim=1, keepdim=True)).to(obj.device)


def ray_width_metric(obj, directions: int = 10, max_distance: float = 20.0, steps: int = 21, delta: float = 0.1,
                     seed: int = 0) -> RayWidth:
    """Width of the basin along random unit rays (Izmailov et al. 2018, "Averaging Weights Leads to Wider
    Optima and Better Generalization", Fig. 4):

        width(d) = min { s : L(w + s d) > L(w) + δ },   ‖d‖₂ = 1,

    on the grid s ∈ linspace(0, max_distance, steps), linearly interpolated between the bracketing
    steps (:func:`landscape.rays.ray_width`); rays that never cross are censored. Summary
    (:func:`landscape.rays.width_summary`): mean ± std (ddof=1) over the uncensored rays. Directions
    are :func:`landscape.directions.random_directions` (``normalization="unit"``) when ``obj`` has a
    ``space``, else seeded Gaussians; both are renormalized to unit norm in ``obj.dtype``. Near a
    minimum with Hessian H, width(d) ≈ √(2δ / dᵀ H d).

    .. note:: Euclidean distance is not reparameterization-invariant (Dinh et al. 2017).

    Args:
        obj: the objective.
        directions: number of rays K, >= 1. Default ``10``.
        max_distance: > 0. Default ``20.0``.
        steps: grid points S, >= 2. Default ``21``.
        delta: the rise δ > 0. Default ``0.1``.
        seed: an int in [0, 2**63). Default ``0``.

    Returns:
        :class:`RayWidth` (K·S loss evaluations).

    Raises:
        ValueError: an argument out of range. TypeError: an argument of the wrong type.
    """
    _check_obj(obj)
    directions = _int("directions", directions, 1)
    max_distance = _real("max_distance", max_distance)
    steps = _int("steps", steps, 2)
    delta = _real("delta", delta)
    seed = _int("seed", seed, 0, _SEED_MAX)
    w = obj.point.detach()
    f0 = obj.value(w)
    dirs = _unit_directions(obj, directions, seed)
    distances = np.linspace(0.0, max_distance, steps)
    losses = np.empty((directions, steps))
    losses[:, 0] = f0
    for j in range(directions):
        for i in range(1, steps):
            losses[j, i] = obj.value(w + float(distances[i]) * dirs[j])
    widths = ray_width(distances, losses, delta)
    summary = width_summary(widths)
    return RayWidth(value=summary["mean"], std=summary["std"], censored=summary["censored"],
                    widths=tuple(float(v) for v in widths), loss=f0, directions=directions,
                    max_distance=max_distance, steps=steps, delta=delta, seed=seed)
