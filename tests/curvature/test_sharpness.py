"""Flatness measures against closed forms on a rotated quadratic realized as a linear regression.

L(w) = mean((X w − y)²) with y = X w*, X = √(N/2)·diag(√λ)·Qᵀ (N = d) is exactly
½ (w − w*)ᵀ H (w − w*), H = Q diag(λ) Qᵀ, Q a random rotation; everything runs in float64
through :class:`landscape.curvature.objective.ModelObjective` (whose loss passes the outputs through float32,
hence relative tolerances no tighter than ~1e-4 on small loss rises).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn

from landscape.geometry.directions import random_directions
from landscape.curvature.objective import ModelObjective
from landscape.curvature.measures import (adaptive_sharpness_average, adaptive_sharpness_worst, eps_sharpness,
                                 pac_bayes_sigma, ray_width_metric, subspace_basis)
from swa.data import TensorData

F64 = torch.float64


@dataclass
class Quadratic:
    obj: ModelObjective
    H: torch.Tensor
    wstar: torch.Tensor

    def f(self, w: torch.Tensor) -> float:
        r = w - self.wstar
        return float(0.5 * r @ self.H @ r)

    @property
    def C(self) -> torch.Tensor:
        return torch.diag(self.obj.point.abs())


def quadratic(lam, seed: int = 0, offset: torch.Tensor | None = None) -> Quadratic:
    """The quadratic ½(w − w*)ᵀH(w − w*) as a ModelObjective at w* (+ ``offset``); |w*_i| ∈ [0.5, 1.5]."""
    d = len(lam)
    g = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64)).Q
    lam = torch.tensor(lam, dtype=F64)
    signs = torch.where(torch.rand(d, generator=g, dtype=F64) < 0.5, -1.0, 1.0).to(F64)
    wstar = (torch.rand(d, generator=g, dtype=F64) + 0.5) * signs
    X = math.sqrt(d / 2) * torch.diag(lam.sqrt()) @ Q.T
    y = (X @ wstar).view(-1, 1)
    data = TensorData(X, y, X, y, task="regression", num_outputs=1)
    w = wstar if offset is None else wstar + offset
    obj = ModelObjective(nn.Linear(d, 1, bias=False), data, {"weight": w.view(1, -1)}, dtype=F64,
                         bn_recompute=False)
    return Quadratic(obj, Q @ torch.diag(lam) @ Q.T, wstar)


def test_quadratic_realization():
    q = quadratic([3.0, 1.0, 0.5], seed=1)
    assert not torch.allclose(q.H, torch.diag(torch.diagonal(q.H)))  # rotated, not diagonal
    w = q.wstar + torch.tensor([0.1, -0.2, 0.3], dtype=F64)
    assert q.obj.value(w) == pytest.approx(q.f(w), rel=1e-6)
    assert q.obj.value() < 1e-12


@pytest.mark.parametrize("batch_size", [64, 16])  # one batch (kept gradient graph) / four batches (jvp of grad)
def test_hvp_matches_the_dense_hessian_of_a_nonlinear_net(batch_size):
    """H·v against torch.autograd.functional.hessian of the loss written out by hand, float64."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 5, generator=g, dtype=F64), torch.randint(0, 3, (64,), generator=g)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    obj = ModelObjective(net, (x, y), state, dtype=F64, bn_recompute=False, batch_size=batch_size)
    shapes = [(4, 5), (4,), (3, 4), (3,)]

    def loss(w: torch.Tensor) -> torch.Tensor:
        W1, b1, W2, b2 = (p.view(s) for p, s in zip(w.split([20, 4, 12, 3]), shapes))
        return nn.functional.cross_entropy(torch.tanh(x @ W1.T + b1) @ W2.T + b2, y)

    H = torch.autograd.functional.hessian(loss, obj.point.clone())
    for seed in range(3):
        v = torch.randn(obj.num_params, generator=torch.Generator().manual_seed(seed), dtype=F64)
        torch.testing.assert_close(obj.hvp(v), H @ v, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(obj.hvp(v, w=obj.point), H @ v, rtol=1e-9, atol=1e-12)
    assert obj.hvp_count == 6
    assert (obj._retained is not None) == (batch_size == 64)  # both paths were exercised


# ------------------------------------------------------------------------ ε-sharpness
def brute_eps(q: Quadratic, eps: float, A: torch.Tensor | None = None) -> float:
    """Max of (f(x+z) − f(x))/(1+f(x))·100 over the corners of the box (where a convex f peaks)."""
    x = q.obj.point
    f0 = q.f(x)
    b = eps * ((x if A is None else A.T @ x).abs() + 1)
    best = f0
    for s in itertools.product((-1.0, 1.0), repeat=len(b)):
        y = b * torch.tensor(s, dtype=F64)
        best = max(best, q.f(x + (y if A is None else A @ y)))
    return (best - f0) / (1 + f0) * 100


OFFSET = torch.tensor([0.04, -0.07, 0.03, 0.06], dtype=F64)


@pytest.mark.parametrize("lam, offset, subspace_dim, seed", [
    ([10.0, 0.2, 0.1, 0.05], None, None, 0),  # at the minimum; ~rank one: one pair of local maxima
    ([10.0, 0.2, 0.1, 0.05], None, None, 1),
    ([10.0, 0.2, 0.1, 0.05], None, 3, 0),
    ([4.0, 1.0, 0.5, 0.2], OFFSET, None, 0),  # off the minimum: the gradient picks the corner
    ([4.0, 1.0, 0.5, 0.2], OFFSET, 2, 0),
    ([4.0, 1.0, 0.5, 0.2], OFFSET, 3, 1),
])
def test_eps_sharpness_matches_box_corners(lam, offset, subspace_dim, seed):
    q = quadratic(lam, seed=0, offset=offset)
    r = eps_sharpness(q.obj, eps=1e-3, subspace_dim=subspace_dim, maxiter=30, seed=seed)
    A = None if subspace_dim is None else subspace_basis(4, subspace_dim, seed)
    assert r.value == pytest.approx(brute_eps(q, 1e-3, A), rel=1e-3)
    assert r.loss == pytest.approx(q.f(q.obj.point), rel=1e-5, abs=1e-12)
    assert r.evaluations >= 2 and r.lower_bound


def test_eps_sharpness_is_a_lower_bound():
    q = quadratic([4.0, 1.0, 0.5, 0.2], seed=3)  # at the minimum: several local maxima
    for sub, seed in [(None, 0), (None, 1), (2, 0), (2, 1), (3, 2)]:
        r = eps_sharpness(q.obj, subspace_dim=sub, seed=seed)
        A = None if sub is None else subspace_basis(4, sub, seed)
        assert 0 < r.value <= brute_eps(q, 1e-3, A) * (1 + 1e-4)


def test_subspace_basis_orthonormal():
    A = subspace_basis(50, 7, 3)
    assert A.shape == (50, 7) and A.dtype == F64
    torch.testing.assert_close(A.T @ A, torch.eye(7, dtype=F64), rtol=0, atol=1e-12)
    torch.testing.assert_close(A, subspace_basis(50, 7, 3), rtol=0, atol=0)


# ----------------------------------------------------------------- adaptive sharpness
@pytest.mark.parametrize("adaptive", [True, False])
def test_average_sharpness_closed_form(adaptive):
    q = quadratic([5.0, 2.0, 1.0, 0.5, 0.3, 0.1], seed=2)
    rho, n = 0.05, 1000
    C = q.C if adaptive else torch.eye(6, dtype=F64)
    M = C @ q.H @ C
    r = adaptive_sharpness_average(q.obj, rho, samples=n, adaptive=adaptive, seed=1)
    exact = 0.5 * rho ** 2 * float(torch.trace(M))
    assert abs(r.value - exact) <= 3 * r.stderr
    # Var(½ρ² zᵀMz) = ½ρ⁴ tr(M²): the reported standard error is the right size
    assert r.stderr == pytest.approx(rho ** 2 * math.sqrt(float(torch.trace(M @ M)) / 2 / n), rel=0.2)


@pytest.mark.parametrize("adaptive", [True, False])
def test_worst_case_l2_closed_form(adaptive):
    q = quadratic([5.0, 2.0, 1.0, 0.5, 0.3, 0.1], seed=2)
    rho = 0.05
    C = q.C if adaptive else torch.eye(6, dtype=F64)
    exact = 0.5 * rho ** 2 * float(torch.linalg.eigvalsh(C @ q.H @ C)[-1])
    r = adaptive_sharpness_worst(q.obj, rho, p=2, adaptive=adaptive, steps=100, restarts=2, step_size=10 * rho)
    assert r.value == pytest.approx(exact, rel=1e-3)
    assert r.lower_bound and r.evaluations == 2 * 101
    default = adaptive_sharpness_worst(q.obj, rho, p=2, adaptive=adaptive)
    assert 0.99 * exact < default.value <= exact * (1 + 1e-4)
    assert default.step_size == pytest.approx(2 * rho)


@pytest.mark.parametrize("seed", [0, 1])
def test_worst_case_linf_matches_box_corners(seed):
    q = quadratic([4.0, 2.0, 1.0, 0.3], seed=seed)
    rho = 0.05
    c = q.obj.point.abs()
    brute = max(q.f(q.wstar + c * rho * torch.tensor(s, dtype=F64))
                for s in itertools.product((-1.0, 1.0), repeat=4))
    r = adaptive_sharpness_worst(q.obj, rho, p=math.inf, steps=50, restarts=10, seed=seed)
    assert r.value == pytest.approx(brute, rel=1e-3)
    assert r.to_json()["settings"]["p"] == "inf"


# --------------------------------------------------------------------------- PAC-Bayes
@pytest.mark.slow  # over 1 s: not in make test-fast
def test_pac_bayes_sigma_closed_form():
    lam = torch.linspace(0.5, 2.0, 20).tolist()
    q = quadratic(lam, seed=4)
    target = 0.01
    trH = float(torch.trace(q.H))
    r = pac_bayes_sigma(q.obj, target=target, samples=300, bisection_steps=12, seed=0)
    assert r.value == pytest.approx(math.sqrt(2 * target / trH), rel=0.05)
    assert not r.censored and 0 < r.bracket_width <= r.value * 2 ** -11
    assert r.estimate <= target and r.estimate == pytest.approx(target, rel=1e-2)
    assert 0 < r.estimate_stderr < target

    eps = 1e-2
    trCHC = float(torch.trace(q.C @ q.H @ q.C))
    r = pac_bayes_sigma(q.obj, target=target, samples=300, magnitude_aware=True, eps=eps, bisection_steps=12)
    assert r.value == pytest.approx(math.sqrt((2 * target - eps ** 2 * trH) / trCHC), rel=0.05)


def test_pac_bayes_censored_and_infeasible():
    q = quadratic([1.0, 0.5, 0.2], seed=0)
    r = pac_bayes_sigma(q.obj, target=0.1, samples=4, sigma_max=1e-3)
    assert r.censored and r.value == 1e-3 and math.isinf(r.bracket_width)
    assert r.to_json()["bracket_width"] is None
    with pytest.raises(ValueError, match=r"eps=1\.0 alone raises"):
        pac_bayes_sigma(q.obj, target=0.01, samples=4, magnitude_aware=True, eps=1.0)


# --------------------------------------------------------------------------- ray width
def test_ray_width_closed_form():
    q = quadratic([4.0, 2.0, 1.0, 0.5, 0.25], seed=5)
    delta, k = 0.1, 4
    r = ray_width_metric(q.obj, directions=k, max_distance=1.0, steps=1001, delta=delta, seed=3)
    d = random_directions(q.obj.space, q.obj.point.float(), k, normalization="unit", seed=3).to(F64)
    d = d / d.norm(dim=1, keepdim=True)
    exact = [math.sqrt(2 * delta / float(v @ q.H @ v)) for v in d]
    assert r.widths == pytest.approx(exact, rel=1e-2)
    assert r.censored == 0 and r.value == pytest.approx(sum(r.widths) / k)
    censored = ray_width_metric(q.obj, directions=2, max_distance=0.01, steps=3, delta=delta)
    assert censored.value is None and censored.censored == 2
    assert json.loads(json.dumps(censored.to_json(), allow_nan=False))["widths"] == [None, None]


# ------------------------------------------------------------ reproducibility and JSON
MEASURES = {
    "eps": lambda obj, seed: eps_sharpness(obj, subspace_dim=2, seed=seed),
    "average": lambda obj, seed: adaptive_sharpness_average(obj, 0.05, samples=8, seed=seed),
    "worst": lambda obj, seed: adaptive_sharpness_worst(obj, 0.05, p=2, steps=5, seed=seed),
    "pac": lambda obj, seed: pac_bayes_sigma(obj, target=0.01, samples=4, bisection_steps=4, seed=seed),
    "rays": lambda obj, seed: ray_width_metric(obj, directions=3, max_distance=2.0, steps=11, seed=seed),
}


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_reproducible_and_json(name):
    q = quadratic([3.0, 1.0, 0.5, 0.2], seed=6, offset=None if name != "eps" else OFFSET)
    a, b, other = (MEASURES[name](q.obj, s) for s in (7, 7, 8))
    assert a == b
    if name in ("average", "pac", "rays"):  # Monte Carlo / random rays: the seed matters
        assert a.value != other.value
    out = json.loads(json.dumps(a.to_json(), allow_nan=False))
    assert out["value"] == pytest.approx(a.value) and out["settings"]["seed"] == 7
    assert out["lower_bound"] is (name in ("eps", "worst"))
    assert (out["uncertainty"] is None) is (name in ("eps", "worst")) and out["uncertainty_kind"]
    if name == "worst":
        assert out["settings"]["p"] == 2


# -------------------------------------------------------------------------- validation
OBJ_CASES = [
    (eps_sharpness, {"eps": 0.0}, ValueError, r"eps must be a finite number > 0, got 0\.0"),
    (eps_sharpness, {"eps": math.nan}, ValueError, r"eps must be a finite number > 0, got nan"),
    (eps_sharpness, {"subspace_dim": 0}, ValueError, r"subspace_dim must be in \[1, 3\], got 0"),
    (eps_sharpness, {"subspace_dim": 4}, ValueError, r"subspace_dim must be in \[1, 3\], got 4"),
    (eps_sharpness, {"maxiter": 0}, ValueError, r"maxiter must be >= 1, got 0"),
    (eps_sharpness, {"seed": -1}, ValueError, r"seed must be in \[0, \d+\], got -1"),
    (eps_sharpness, {"maxiter": 2.5}, TypeError, r"maxiter must be an int, got float 2\.5"),
    (adaptive_sharpness_average, {"rho": -0.1}, ValueError, r"rho must be a finite number > 0, got -0\.1"),
    (adaptive_sharpness_average, {"rho": 0.1, "samples": 1}, ValueError, r"samples must be >= 2, got 1"),
    (adaptive_sharpness_average, {"rho": 0.1, "adaptive": 1}, TypeError, r"adaptive must be a bool, got int 1"),
    (adaptive_sharpness_worst, {"rho": 0.1, "p": 1}, ValueError, r"p must be 2 or math\.inf .*got 1"),
    (adaptive_sharpness_worst, {"rho": 0.1, "p": "inf"}, ValueError, r"p must be 2 or math\.inf .*got 'inf'"),
    (adaptive_sharpness_worst, {"rho": math.inf}, ValueError, r"rho must be a finite number > 0, got inf"),
    (adaptive_sharpness_worst, {"rho": 0.1, "steps": 0}, ValueError, r"steps must be >= 1, got 0"),
    (adaptive_sharpness_worst, {"rho": 0.1, "restarts": 0}, ValueError, r"restarts must be >= 1, got 0"),
    (adaptive_sharpness_worst, {"rho": 0.1, "step_size": 0.0}, ValueError, r"step_size must be a finite number > 0"),
    (pac_bayes_sigma, {"target": 0.0}, ValueError, r"target must be a finite number > 0, got 0\.0"),
    (pac_bayes_sigma, {"samples": 1}, ValueError, r"samples must be >= 2, got 1"),
    (pac_bayes_sigma, {"eps": -1e-3}, ValueError, r"eps must be a finite number >= 0, got -0\.001"),
    (pac_bayes_sigma, {"bisection_steps": 0}, ValueError, r"bisection_steps must be >= 1, got 0"),
    (pac_bayes_sigma, {"sigma_max": 0.0}, ValueError, r"sigma_max must be a finite number > 0, got 0\.0"),
    (pac_bayes_sigma, {"magnitude_aware": "yes"}, TypeError, r"magnitude_aware must be a bool"),
    (ray_width_metric, {"directions": 0}, ValueError, r"directions must be >= 1, got 0"),
    (ray_width_metric, {"max_distance": -1.0}, ValueError, r"max_distance must be a finite number > 0, got -1\.0"),
    (ray_width_metric, {"steps": 1}, ValueError, r"steps must be >= 2, got 1"),
    (ray_width_metric, {"delta": 0.0}, ValueError, r"delta must be a finite number > 0, got 0\.0"),
    (ray_width_metric, {"seed": True}, TypeError, r"seed must be an int, got bool True"),
]


@pytest.mark.parametrize("fn, kwargs, exc, match", OBJ_CASES,
                         ids=[f"{fn.__name__}-{'-'.join(kw)}-{i}" for i, (fn, kw, _, _) in enumerate(OBJ_CASES)])
def test_validation(fn, kwargs, exc, match):
    q = quadratic([1.0, 0.5, 0.2], seed=0)
    with pytest.raises(exc, match=match):
        fn(q.obj, **kwargs)


def test_validation_obj_and_basis():
    with pytest.raises(TypeError, match=r"obj must provide 'value'"):
        eps_sharpness(object())
    with pytest.raises(ValueError, match=r"dim must be in \[1, 5\], got 6"):
        subspace_basis(5, 6, 0)
    with pytest.raises(ValueError, match=r"num_params must be >= 1, got 0"):
        subspace_basis(0, 1, 0)
