"""Average-case and worst-case (adaptive) sharpness (Kwon et al. 2021; Andriushchenko et al. 2023)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np
import torch

from landscape.curvature.measures._common import (_SEED_MAX, _bool, _check_obj, _generator, _int, _randn, _real, _Result,
                                         _setting)

__all__ = ["AverageSharpness", "WorstCaseSharpness", "adaptive_sharpness_average", "adaptive_sharpness_worst"]


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
