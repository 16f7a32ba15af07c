"""The trace of H: Hutchinson's estimator and Hutch++."""

from __future__ import annotations

import torch

from landscape.curvature.hessian import Operator
from landscape.curvature.spectrum._common import _Counted, _dot, _generator, _int_at_least, _mean_se, _rademacher
from landscape.curvature.spectrum.results import TraceEstimate

__all__ = ["trace_hutchinson", "trace_hutchpp"]


def trace_hutchinson(op: Operator, samples: int = 100, seed: int = 0) -> TraceEstimate:
    """tr H by Hutchinson's estimator with Rademacher probes (Hutchinson 1989).

        tr H ≈ t = (1/m) Σ_{i=1..m} z_iᵀ H z_i,   z_i ∈ {±1}^P,   SE = std(z_iᵀHz_i; ddof=1) / √m.

    Unbiased, with Var(zᵀHz) = 2(‖H‖_F² − Σ_i H_ii²): exact for diagonal H.

    Args:
        op: the operator (``landscape.curvature.hessian``).
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
        op: the operator (``landscape.curvature.hessian``).
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
