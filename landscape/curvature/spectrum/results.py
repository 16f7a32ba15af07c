"""Results of the spectral estimators: small frozen dataclasses with ``to_json()`` (plain JSON types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from landscape.curvature.spectrum._common import _jfloat, _jlist

__all__ = ["Eigenvalues", "TraceEstimate", "SpectralDensity"]


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
