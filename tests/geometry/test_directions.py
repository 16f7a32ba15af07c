"""Random directions: each normalization against a slow per-filter loop in float64, seeding, isotropy,
Gram–Schmidt, and input validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from landscape.geometry.directions import NORMALIZATIONS, normalize_direction, orthogonalize, random_directions
from landscape.engine.weights import ParamSpace

# Small models covering conv (4-D), conv1d (3-D), linear (2-D), BatchNorm/LayerNorm (1-D), no-bias layers.
MODELS = {
    "conv_bn": lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                     nn.Linear(4 * 6 * 6, 3)),
    "mlp_ln": lambda: nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.LayerNorm(8),
                                    nn.Linear(8, 3)),
    "conv1d": lambda: nn.Sequential(nn.Conv1d(2, 3, 5), nn.Flatten(), nn.Linear(3 * 4, 2)),
}
SCALED = ("filter", "layer")


def _make(name: str, seed: int = 1):
    """Model, its ParamSpace and flat reference; all parameters perturbed so BN bias etc. are nonzero."""
    torch.manual_seed(seed)
    model = MODELS[name]()
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    space = ParamSpace.of(model)
    return model, space, space.params_of(model.state_dict())


@pytest.fixture(params=sorted(MODELS))
def case(request):
    return _make(request.param)


def _expected(model: nn.Module, raw: torch.Tensor, normalization: str, include: bool) -> torch.Tensor:
    """The obvious loop over named parameters and their filters, in float64."""
    parts, offset = [], 0
    for _, p in model.named_parameters():
        n = p.numel()
        d = raw[offset:offset + n].double().reshape(p.shape).clone()
        offset += n
        w = p.detach().double()
        if p.dim() <= 1:
            d = d / d.norm() * w.norm() if include else torch.zeros_like(d)
        elif normalization == "filter":
            for i in range(p.shape[0]):
                d[i] = d[i] / d[i].norm() * w[i].norm()
        else:
            d = d / d.norm() * w.norm()
        parts.append(d.reshape(-1))
    return torch.cat(parts)


# --- output format ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization", sorted(NORMALIZATIONS))
def test_shape_dtype_device_and_reference_untouched(case, normalization):
    _, space, ref = case
    before = ref.clone()
    d = random_directions(space, ref.double(), 3, normalization=normalization, seed=0)
    assert d.shape == (3, space.num_params) and d.dtype == torch.float32 and d.device.type == "cpu"
    assert torch.isfinite(d).all()
    assert torch.equal(ref, before)


def test_registry_holds_the_documented_normalizations():
    assert set(NORMALIZATIONS) == {"unit", "filter", "layer", "none"}


# --- each normalization ----------------------------------------------------------------------------------------

def test_unit_rows_have_unit_norm(case):
    _, space, ref = case
    d = random_directions(space, ref, 4, normalization="unit", seed=3)
    torch.testing.assert_close(d.double().norm(dim=1), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-6)
    assert (d != 0).all()  # every parameter included


def test_unit_is_the_normalized_raw_gaussian(case):
    _, space, ref = case
    raw = random_directions(space, ref, 2, normalization="none", seed=5).double()
    unit = random_directions(space, ref, 2, normalization="unit", seed=5).double()
    torch.testing.assert_close(unit, raw / raw.norm(dim=1, keepdim=True), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("normalization", SCALED)
@pytest.mark.parametrize("include", [False, True])
def test_scaled_normalizations_match_slow_loop(case, normalization, include):
    model, space, ref = case
    raw = random_directions(space, ref, 2, normalization="none", seed=11)
    d = random_directions(space, ref, 2, normalization=normalization, seed=11, include_bn_and_bias=include)
    for j in range(2):
        torch.testing.assert_close(d[j].double(), _expected(model, raw[j], normalization, include),
                                   rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("include", [False, True])
def test_filter_norms_match_reference_filters(case, include):
    model, space, ref = case
    d = random_directions(space, ref, 2, normalization="filter", seed=7, include_bn_and_bias=include)
    for j in range(2):
        parts = space.split(d[j])
        for name, p in model.named_parameters():
            w, dj = p.detach().double(), parts[name].double()
            if p.dim() > 1:
                for i in range(p.shape[0]):
                    torch.testing.assert_close(dj[i].norm(), w[i].norm(), rtol=1e-5, atol=0, msg=f"{name}[{i}]")
            elif include:
                assert (dj != 0).any(), name
                torch.testing.assert_close(dj.norm(), w.norm(), rtol=1e-5, atol=0, msg=name)
            else:
                assert torch.equal(parts[name], torch.zeros_like(parts[name])), name


@pytest.mark.parametrize("include", [False, True])
def test_layer_norms_match_reference_tensors(case, include):
    model, space, ref = case
    d = random_directions(space, ref, 1, normalization="layer", seed=2, include_bn_and_bias=include)[0]
    parts = space.split(d)
    for name, p in model.named_parameters():
        if p.dim() <= 1 and not include:
            assert torch.equal(parts[name], torch.zeros_like(parts[name])), name
        else:
            torch.testing.assert_close(parts[name].double().norm(), p.detach().double().norm(), rtol=1e-5, atol=0,
                                       msg=name)


def test_filter_direction_differs_from_layer_direction():
    _, space, ref = _make("conv_bn")
    f = random_directions(space, ref, 1, normalization="filter", seed=0)
    layer = random_directions(space, ref, 1, normalization="layer", seed=0)
    assert not torch.allclose(f, layer)


def test_zero_reference_filter_gives_zero_direction_filter():
    model, space, _ = _make("conv_bn")
    with torch.no_grad():
        model[0].weight[2].zero_()
        model[1].bias.zero_()
    ref = space.params_of(model.state_dict())
    d = random_directions(space, ref, 1, normalization="filter", seed=0, include_bn_and_bias=True)[0]
    parts = space.split(d)
    assert torch.isfinite(d).all()
    assert torch.equal(parts["0.weight"][2], torch.zeros_like(parts["0.weight"][2]))
    assert torch.equal(parts["1.bias"], torch.zeros_like(parts["1.bias"]))
    assert (parts["0.weight"][1] != 0).all()


def test_none_is_a_standard_gaussian():
    _, space, ref = _make("conv_bn")
    d = random_directions(space, ref, 20, normalization="none", seed=0).double()
    assert abs(float(d.mean())) < 0.02 and abs(float(d.std()) - 1.0) < 0.02


def test_normalize_direction_applies_the_same_rule():
    model, space, ref = _make("mlp_ln")
    raw = random_directions(space, ref, 1, normalization="none", seed=4)[0]
    for normalization in sorted(NORMALIZATIONS):
        torch.testing.assert_close(normalize_direction(space, raw, ref, normalization=normalization),
                                   random_directions(space, ref, 1, normalization=normalization, seed=4)[0],
                                   rtol=0, atol=0)
    assert torch.equal(raw, random_directions(space, ref, 1, normalization="none", seed=4)[0])  # not modified


# --- seeding ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("normalization", sorted(NORMALIZATIONS))
def test_same_seed_same_directions_and_prefix_property(case, normalization):
    _, space, ref = case
    a = random_directions(space, ref, 3, normalization=normalization, seed=123)
    b = random_directions(space, ref, 3, normalization=normalization, seed=123)
    longer = random_directions(space, ref, 5, normalization=normalization, seed=123)
    assert torch.equal(a, b)
    assert torch.equal(longer[:3], a)


def test_global_rng_neither_used_nor_advanced():
    _, space, ref = _make("conv_bn")
    torch.manual_seed(0)
    a = random_directions(space, ref, 2, normalization="unit", seed=9)
    after = torch.rand(1)
    torch.manual_seed(1)
    b = random_directions(space, ref, 2, normalization="unit", seed=9)
    torch.manual_seed(0)
    assert torch.equal(a, b) and torch.equal(torch.rand(1), after)


def test_different_seeds_and_rows_differ():
    _, space, ref = _make("conv_bn")
    a = random_directions(space, ref, 2, normalization="unit", seed=0)
    b = random_directions(space, ref, 2, normalization="unit", seed=1)
    assert not torch.allclose(a, b, atol=1e-3)
    assert not torch.allclose(a[0], a[1], atol=1e-3)


# --- isotropy --------------------------------------------------------------------------------------------------

def test_unit_directions_are_isotropic():
    _, space, ref = _make("conv_bn")  # P = 483
    d = random_directions(space, ref, 200, normalization="unit", seed=0).double()
    assert float(d.mean(0).norm()) < 0.15  # ≈ 1/sqrt(200) = 0.07 for uniform directions
    # Each coordinate carries 1/P of the energy on average: P·mean(d_i²) ≈ 1 (chi-square, 200 dof).
    second = d.pow(2).mean(0) * space.num_params
    assert 0.6 < float(second.min()) and float(second.max()) < 1.45
    # Nearly orthogonal in high dimension: |cos| ~ 1/sqrt(P).
    gram = d @ d.T
    off = gram[~torch.eye(200, dtype=torch.bool)]
    assert float(off.abs().max()) < 0.25


def test_two_unit_directions_in_1000_dims_are_nearly_orthogonal():
    torch.manual_seed(0)
    model = nn.Linear(100, 10)  # P = 1010
    space = ParamSpace.of(model)
    d = random_directions(space, space.params_of(model.state_dict()), 2, normalization="unit", seed=0)
    assert abs(float(d[0] @ d[1])) < 0.2


# --- orthogonalize ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("m,p", [(1, 5), (2, 483), (4, 50), (6, 6)])
def test_orthogonalize_is_orthonormal_and_spans_the_rows(m, p):
    a = torch.randn(m, p, generator=torch.Generator().manual_seed(m * p), dtype=torch.float64)
    q = orthogonalize(a)
    assert q.shape == a.shape and q.dtype == a.dtype
    torch.testing.assert_close(q @ q.T, torch.eye(m, dtype=torch.float64), rtol=0, atol=1e-10)
    residual = a - (a @ q.T) @ q
    assert float(residual.norm() / a.norm()) < 1e-10
    # Gram–Schmidt order: q_0 is a_0 normalized.
    torch.testing.assert_close(q[0], a[0] / a[0].norm(), rtol=0, atol=1e-12)


def test_orthogonalize_float32_random_plane():
    _, space, ref = _make("conv_bn")
    d = random_directions(space, ref, 2, normalization="filter", seed=0)
    q = orthogonalize(d)
    assert q.dtype == torch.float32
    torch.testing.assert_close(q.double() @ q.double().T, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-5)
    residual = d.double() - (d.double() @ q.double().T) @ q.double()
    assert float(residual.norm() / d.double().norm()) < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_orthogonalize_raises_on_dependent_rows(dtype):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 40, generator=g, dtype=dtype)
    with pytest.raises(ValueError, match=r"row 2 is linearly dependent"):
        orthogonalize(torch.stack([a, b, a - 2 * b]))
    with pytest.raises(ValueError, match=r"row 1 is linearly dependent"):
        orthogonalize(torch.stack([a, 3 * a]))
    with pytest.raises(ValueError, match=r"row 0 is linearly dependent"):
        orthogonalize(torch.zeros(1, 40, dtype=dtype))


@pytest.mark.parametrize("bad,match", [
    (torch.randn(5), r"\(m, P\)"),
    (torch.zeros(0, 5), r"m >= 1"),
    (torch.ones(2, 3, dtype=torch.int64), r"floating-point"),
    (torch.randn(4, 3), r"m=4 rows in a P=3"),
    (torch.tensor([[1.0, float("nan")]]), r"NaN"),
])
def test_orthogonalize_validates(bad, match):
    with pytest.raises(ValueError, match=match):
        orthogonalize(bad)


# --- validation ------------------------------------------------------------------------------------------------

def test_unknown_normalization_lists_valid_keys():
    _, space, ref = _make("conv_bn")
    with pytest.raises(ValueError, match=r"normalization='filters' is unknown; valid: filter, layer, none, unit"):
        random_directions(space, ref, 1, normalization="filters", seed=0)
    with pytest.raises(ValueError, match=r"valid: filter, layer, none, unit"):
        normalize_direction(space, ref, ref, normalization="Filter")


@pytest.mark.parametrize("k,exc,match", [
    (0, ValueError, r"k=0 is not allowed; expected an int >= 1"),
    (-2, ValueError, r"k=-2"),
    (2.0, TypeError, r"k must be an int"),
    (True, TypeError, r"k must be an int"),
])
def test_k_is_validated(k, exc, match):
    _, space, ref = _make("conv_bn")
    with pytest.raises(exc, match=match):
        random_directions(space, ref, k, normalization="unit", seed=0)


def test_seed_is_validated():
    _, space, ref = _make("conv_bn")
    with pytest.raises(TypeError, match=r"seed must be an int"):
        random_directions(space, ref, 1, normalization="unit", seed=1.5)
    with pytest.raises(ValueError, match=r"seed=.* is not allowed"):
        random_directions(space, ref, 1, normalization="unit", seed=2 ** 64)


@pytest.mark.parametrize("mangle,exc,match", [
    (lambda r: r[:-1], ValueError, r"reference has shape \(482,\); expected a flat vector of length num_params=483"),
    (lambda r: r.reshape(1, -1), ValueError, r"reference has shape \(1, 483\)"),
    (lambda r: r.to(torch.int64), ValueError, r"reference has dtype torch.int64"),
    (lambda r: torch.where(torch.arange(r.numel()) == 3, float("inf"), r), ValueError, r"NaN or inf"),
    (lambda r: r.tolist(), TypeError, r"reference must be a torch.Tensor"),
])
def test_reference_is_validated(mangle, exc, match):
    _, space, ref = _make("conv_bn")
    with pytest.raises(exc, match=match):
        random_directions(space, mangle(ref), 1, normalization="filter", seed=0)


def test_model_without_parameters_is_rejected():
    space = ParamSpace.of(nn.ReLU())
    with pytest.raises(ValueError, match=r"num_params=0"):
        random_directions(space, torch.zeros(0), 1, normalization="unit", seed=0)


def test_normalize_direction_validates_direction_length():
    _, space, ref = _make("conv_bn")
    with pytest.raises(ValueError, match=r"direction has shape \(10,\)"):
        normalize_direction(space, torch.randn(10), ref, normalization="layer")


# --- cross-check -----------------------------------------------------------------------------------------------

def test_filter_matches_loss_landscapes_package(case):
    """marcellodebernardi/loss-landscapes (>= 3): ``ModelParameters.filter_normalize_(ref)`` on the same raw
    Gaussian. That package rescales 1-D tensors instead of dropping them, so only ``dim > 1`` tensors are
    compared; ours are zero elsewhere (``include_bn_and_bias=False``)."""
    pytest.importorskip("loss_landscapes")
    mp = pytest.importorskip("loss_landscapes.model_interface.model_parameters")
    model, space, ref = case
    raw = random_directions(space, ref, 1, normalization="none", seed=21)[0]
    ours = space.split(random_directions(space, ref, 1, normalization="filter", seed=21)[0])
    theirs = mp.ModelParameters([t.clone() for t in space.split(raw).values()])
    theirs.filter_normalize_(mp.ModelParameters([t.clone() for t in space.split(ref).values()]))
    for name, t in zip(space.param_names, theirs.parameters):
        if t.dim() > 1:
            torch.testing.assert_close(ours[name], t.float(), rtol=1e-5, atol=1e-7, msg=name)
        else:
            assert torch.equal(ours[name], torch.zeros_like(ours[name])), name
