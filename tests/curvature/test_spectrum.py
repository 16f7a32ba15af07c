"""Spectral estimators (landscape.curvature.spectrum) and the Hessian operator (landscape.curvature.hessian), float64.

The reference case is the quadratic of the acceptance test, L(w) = ½(w − w*)ᵀH(w − w*) with a
rotated (non-diagonal) H = Q diag(λ) Qᵀ, realized as least squares through ModelObjective so the
estimators see the real Hessian-vector products: for ``nn.Linear(d, 1, bias=False)`` on data X with
y = X w*, L(w) = mean((Xw − y)²) has H = (2/N) XᵀX, which is Q diag(λ) Qᵀ for
X = sqrt(N/2) diag(√λ) Qᵀ. Every estimator runs on that operator and on DenseOperator(H).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from landscape.curvature.hessian import DenseOperator, HessianOperator
from landscape.curvature.objective import ModelObjective
from landscape.curvature.spectrum import (
    spectral_density_slq, top_eigenvalues_lanczos, top_eigenvalues_power, trace_hutchinson, trace_hutchpp,
)
from swa.data import TensorData

F64 = torch.float64
KINDS = ["model", "dense"]                             # HessianOperator(ModelObjective), DenseOperator(H)
D = 50
TOP = np.array([100.0, 60.0, 35.0, 20.0, 12.0])        # a few dominant eigenvalues, then a gap
REST = np.logspace(-1, np.log10(5.0), D - TOP.size)    # the bulk in [0.1, 5]


def _rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def _regression_objective(x: np.ndarray, w_star: np.ndarray) -> ModelObjective:
    xt = torch.tensor(x, dtype=F64)
    y = (xt @ torch.tensor(w_star, dtype=F64)).reshape(-1, 1)
    data = TensorData(xt, y, xt[:2], y[:2], task="regression", num_outputs=1)
    model = nn.Linear(x.shape[1], 1, bias=False).to(F64)
    state = {"weight": torch.tensor(w_star, dtype=F64).view(1, -1)}
    return ModelObjective(model, data, state, bn_recompute=False, dtype=F64)


@pytest.fixture(scope="module")
def quadratic():
    """(H, λ descending, ModelObjective whose Hessian is H)."""
    rng = np.random.default_rng(1234)
    lam = np.concatenate([TOP, REST])
    q = _rotation(D, rng)
    h = q @ np.diag(lam) @ q.T
    x = np.sqrt(D / 2) * np.diag(np.sqrt(lam)) @ q.T          # N = D samples
    return h, np.sort(lam)[::-1], _regression_objective(x, rng.standard_normal(D))


def _operator(kind: str, quadratic):
    h, _, objective = quadratic
    return HessianOperator(objective) if kind == "model" else DenseOperator(h)


def _json_roundtrip(result) -> dict:
    return json.loads(json.dumps(result.to_json(), allow_nan=False))


# ---------------------------------------------------------------------------------------------- operator
def test_dense_of_the_quadratic_objective_is_h(quadratic):
    h, _, objective = quadratic
    op = HessianOperator(objective)
    assert op.shape == (D, D) and op.dtype == F64
    dense = op.dense()
    assert op.matvec_count == D
    np.testing.assert_allclose(dense, dense.T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dense, h, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_to_scipy_matvec_and_matmat_match_numpy(quadratic, kind):
    h = quadratic[0]
    sp = _operator(kind, quadratic).to_scipy()
    rng = np.random.default_rng(0)
    v, m = rng.standard_normal(D), rng.standard_normal((D, 3))
    assert sp.shape == (D, D) and sp.dtype == np.float64
    np.testing.assert_allclose(sp.matvec(v), h @ v, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sp.matmat(m), h @ m, rtol=0, atol=1e-10)
    np.testing.assert_allclose(sp.rmatvec(v), h @ v, rtol=0, atol=1e-10)


def test_to_scipy_agrees_with_dense_of_the_same_operator(quadratic):
    op = HessianOperator(quadratic[2])
    dense = op.dense()
    v = np.random.default_rng(1).standard_normal(D)
    np.testing.assert_allclose(op.to_scipy().matvec(v), dense @ v, rtol=1e-12, atol=1e-12)


class _PrependZero(nn.Module):
    """z ↦ [0, z]: two-class logits whose softmax gives p(class 1) = σ(z)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros_like(z), z], dim=1)


def test_logistic_regression_hessian_is_xt_diag_p1mp_x():
    d, n = 6, 40
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, d, generator=g, dtype=F64)
    y = torch.randint(0, 2, (n,), generator=g)
    w = 0.7 * torch.randn(d, generator=g, dtype=F64)
    data = TensorData(x, y, x[:2], y[:2], task="classification", num_outputs=2)
    model = nn.Sequential(nn.Linear(d, 1, bias=False), _PrependZero()).to(F64)
    objective = ModelObjective(model, data, {"0.weight": w.view(1, -1)}, bn_recompute=False, dtype=F64)
    p = torch.sigmoid(x @ w).numpy()
    xn = x.numpy()
    expected = xn.T @ np.diag(p * (1 - p)) @ xn / n
    np.testing.assert_allclose(HessianOperator(objective).dense(), expected, rtol=0, atol=1e-10)


def test_dense_operator_rejects_non_square_and_asymmetric():
    with pytest.raises(ValueError, match="square"):
        DenseOperator(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="symmetric"):
        DenseOperator(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        DenseOperator(np.eye(2)).matvec(torch.ones(3, dtype=F64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        DenseOperator(np.eye(2)).matvec(np.ones(2))


# ---------------------------------------------------------------------------------------------- eigenvalues
@pytest.mark.parametrize("kind", KINDS)
def test_lanczos_top_k(quadratic, kind):
    _, lam, _ = quadratic
    res = top_eigenvalues_lanczos(_operator(kind, quadratic), k=5, seed=0)
    np.testing.assert_allclose(res.value, lam[:5], rtol=1e-6)
    assert list(res.value) == sorted(res.value, reverse=True)
    assert all(r < 1e-4 for r in res.uncertainty) and all(res.converged)
    assert res.matvecs > 5 and res.vectors.shape == (D, 5)
    assert _json_roundtrip(res)["uncertainty_kind"] == "residual_norm"


@pytest.mark.parametrize("kind", KINDS)
def test_power_iteration_top_k(quadratic, kind):
    _, lam, _ = quadratic
    res = top_eigenvalues_power(_operator(kind, quadratic), k=5, seed=0)
    np.testing.assert_allclose(res.value, lam[:5], rtol=1e-3)
    assert list(res.value) == sorted(res.value, reverse=True)
    assert all(res.converged) and all(c < 1e-4 for c in res.uncertainty)
    assert res.matvecs <= 5 * 100
    _json_roundtrip(res)


def test_power_iteration_finds_largest_magnitude_lanczos_largest_algebraic():
    rng = np.random.default_rng(5)
    q = _rotation(8, rng)
    lam = np.array([-50.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    op = DenseOperator(q @ np.diag(lam) @ q.T)
    power = top_eigenvalues_power(op, k=2, iters=500, tol=1e-8, seed=0)
    lanczos = top_eigenvalues_lanczos(op, k=2, tol=1e-12, seed=0)
    np.testing.assert_allclose(power.value, [10.0, -50.0], rtol=1e-5)
    np.testing.assert_allclose(lanczos.value, [10.0, 5.0], rtol=1e-8)


# ---------------------------------------------------------------------------------------------- trace
@pytest.mark.parametrize("kind", KINDS)
def test_hutchinson_within_three_standard_errors(quadratic, kind):
    h = quadratic[0]
    res = trace_hutchinson(_operator(kind, quadratic), samples=100, seed=0)
    assert res.uncertainty > 0                                  # H is not diagonal
    assert abs(res.value - np.trace(h)) < 3 * res.uncertainty
    assert res.matvecs == 100 and _json_roundtrip(res)["method"] == "hutchinson"


@pytest.mark.parametrize("kind", KINDS)
def test_hutchpp_within_three_se_and_beats_hutchinson_at_equal_budget(quadratic, kind):
    h = quadratic[0]
    op = _operator(kind, quadratic)
    pp = trace_hutchpp(op, matvecs=99, seed=0)
    plain = trace_hutchinson(op, samples=99, seed=0)
    assert pp.matvecs == plain.matvecs == 99
    assert pp.uncertainty > 0
    assert abs(pp.value - np.trace(h)) < 3 * pp.uncertainty
    assert abs(pp.value - np.trace(h)) < plain.uncertainty
    assert pp.uncertainty < plain.uncertainty
    assert pp.settings == {"matvecs": 99, "sketch": 33, "probes": 33, "seed": 0}


def test_trace_estimates_are_reproducible_from_the_seed(quadratic):
    op = _operator("dense", quadratic)
    assert trace_hutchinson(op, samples=10, seed=7) == trace_hutchinson(op, samples=10, seed=7)
    assert trace_hutchpp(op, matvecs=12, seed=7).value == trace_hutchpp(op, matvecs=12, seed=7).value
    assert trace_hutchinson(op, samples=10, seed=7).value != trace_hutchinson(op, samples=10, seed=8).value


# ---------------------------------------------------------------------------------------------- density
def _integral(y: np.ndarray, t: np.ndarray) -> float:
    return float(np.sum(np.diff(t) * (y[1:] + y[:-1])) / 2)


@pytest.mark.parametrize("kind", KINDS)
def test_slq_density(quadratic, kind):
    h, lam, _ = quadratic
    res = spectral_density_slq(_operator(kind, quadratic), runs=5, lanczos_steps=30, seed=0)
    assert res.run_sizes == (30,) * 5 and res.matvecs == 150
    assert res.value.shape == res.grid.shape == res.uncertainty.shape == (500,)
    assert res.weights.sum() == pytest.approx(1.0, abs=1e-12)
    # nodes/weights: P·Σ τθ estimates tr H (a Hutchinson sample per run)
    assert res.trace == pytest.approx(D * float(res.weights @ res.nodes), rel=1e-12)
    assert abs(res.trace - np.trace(h)) < 3 * res.trace_stderr
    # the smoothed density integrates to 1, its mean is the quadrature's, ≈ tr H / P
    assert _integral(res.value, res.grid) == pytest.approx(1.0, abs=1e-12)
    mean = _integral(res.grid * res.value, res.grid)
    assert mean == pytest.approx(float(res.weights @ res.nodes), rel=1e-6)
    assert abs(mean - np.trace(h) / D) < 3 * res.trace_stderr / D
    # Ritz values lie inside the spectrum; the extreme ones are found
    assert res.nodes.min() >= lam[-1] - 1e-8 and res.nodes.max() <= lam[0] + 1e-8
    assert res.nodes.max() == pytest.approx(lam[0], rel=1e-6)
    assert res.sigma == pytest.approx(0.01 * (res.nodes.max() - res.nodes.min()))
    # mass where the eigenvalues are: the smoothed spectral CDF is close to the true one
    cdf = np.array([res.weights[res.nodes <= t].sum() for t in res.grid])
    true_cdf = np.array([(lam <= t).mean() for t in res.grid])
    assert np.abs(cdf - true_cdf).max() < 0.25
    _json_roundtrip(res)


@pytest.mark.parametrize("kind", KINDS)
def test_slq_with_full_krylov_space_recovers_every_eigenvalue(quadratic, kind):
    _, lam, _ = quadratic
    res = spectral_density_slq(_operator(kind, quadratic), runs=1, lanczos_steps=D, seed=3, probe="gaussian",
                               grid=np.linspace(0, 110, 1101), sigma=0.5)
    assert res.run_sizes == (D,)
    np.testing.assert_allclose(np.sort(res.nodes)[::-1], lam, rtol=1e-7, atol=1e-8)
    assert np.isnan(res.uncertainty).all() and np.isnan(res.trace_stderr)
    assert res.sigma == 0.5 and res.grid[0] == 0 and res.grid[-1] == 110
    json.dumps(res.to_json())


def test_slq_stops_at_an_invariant_subspace():
    op = DenseOperator(np.diag([3.0, 3.0, 1.0, 1.0, 1.0, 1.0]))     # two distinct eigenvalues
    res = spectral_density_slq(op, runs=2, lanczos_steps=5, seed=0)
    assert res.run_sizes == (2, 2)
    np.testing.assert_allclose(np.sort(res.nodes), [1.0, 1.0, 3.0, 3.0], atol=1e-12)
    assert res.trace == pytest.approx(10.0, rel=1e-12)             # Rademacher: vᵀHv = tr H / P exactly


# ---------------------------------------------------------------------------------------------- validation
_SMALL = DenseOperator(np.diag(np.arange(1.0, 7.0)))


@pytest.mark.parametrize("call, error, match", [
    (lambda: top_eigenvalues_lanczos(_SMALL, k=0), ValueError, r"k must be an integer in \[1, 5\].*got 0"),
    (lambda: top_eigenvalues_lanczos(_SMALL, k=6), ValueError, r"k must be .*eigsh needs k < P = 6.*got 6"),
    (lambda: top_eigenvalues_lanczos(_SMALL, k=2, tol=-1.0), ValueError, "tol must be"),
    (lambda: top_eigenvalues_lanczos(_SMALL, k=2, maxiter=0), ValueError, "maxiter must be"),
    (lambda: top_eigenvalues_power(_SMALL, k=0), ValueError, r"k must be an integer in \[1, 6\].*got 0"),
    (lambda: top_eigenvalues_power(_SMALL, k=7), ValueError, "k must be"),
    (lambda: top_eigenvalues_power(_SMALL, k=1, iters=0), ValueError, "iters must be"),
    (lambda: top_eigenvalues_power(_SMALL, k=1, tol=0.0), ValueError, "tol must be"),
    (lambda: trace_hutchinson(_SMALL, samples=1), ValueError, "samples must be an integer >= 2.*got 1"),
    (lambda: trace_hutchpp(_SMALL, matvecs=2), ValueError, "matvecs must be an integer >= 3.*got 2"),
    (lambda: spectral_density_slq(_SMALL, runs=0), ValueError, "runs must be"),
    (lambda: spectral_density_slq(_SMALL, lanczos_steps=0), ValueError, "lanczos_steps must be"),
    (lambda: spectral_density_slq(_SMALL, sigma=0.0), ValueError, "sigma must be"),
    (lambda: spectral_density_slq(_SMALL, grid=[1.0, 0.0]), ValueError, "grid must be"),
    (lambda: spectral_density_slq(_SMALL, grid=[100.0, 101.0], sigma=0.01), ValueError, "no mass"),
    (lambda: spectral_density_slq(_SMALL, probe="sphere"), ValueError, "probe must be one of gaussian, rademacher"),
    (lambda: trace_hutchinson(_SMALL, seed=1.5), TypeError, "seed must be an int"),
    (lambda: trace_hutchinson(np.eye(3)), TypeError, "op must be an operator"),
    (lambda: _SMALL.dense(limit=5), ValueError, r"dense\(\) of a 6x6 operator exceeds limit=5"),
])
def test_validation(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_dense_limit_on_the_hessian_operator(quadratic):
    with pytest.raises(ValueError, match="exceeds limit=49"):
        HessianOperator(quadratic[2]).dense(limit=49)
