"""PAC-Bayes flatness σ and the magnitude-aware σ' (Jiang et al. 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from landscape.curvature.measures._common import _SEED_MAX, _bool, _check_obj, _generator, _int, _randn, _real, _Result, _setting

__all__ = ["PacBayesSigma", "pac_bayes_sigma"]


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
