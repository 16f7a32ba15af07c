"""Random directions in weight space, reproducible from a seed, as flat parameter vectors.

A direction is a vector d of length P in :class:`~landscape.engine.weights.ParamSpace` order
(float32, CPU). It starts as a standard Gaussian, d ~ N(0, I_P), and is then rescaled by a
normalization from :data:`NORMALIZATIONS`. With d_t and w_t the parts of d and of the
reference point w that belong to parameter tensor t, and d_t[i], w_t[i] the output filters
(slices along dim 0):

* ``"unit"``   d ← d / ‖d‖. Uniform on the unit sphere of R^P; every parameter is included.
  These are the random rays of the SWA paper (Izmailov et al. 2018, "Averaging Weights Leads
  to Wider Optima and Better Generalization", Fig. 4).
* ``"filter"`` d_t[i] ← d_t[i] / ‖d_t[i]‖ · ‖w_t[i]‖ for every tensor with ``dim > 1``: each
  filter of the direction gets the norm of the matching filter of the reference (Li et al.
  2018, "Visualizing the Loss Landscape of Neural Nets", Sec. 4).
* ``"layer"``  d_t ← d_t / ‖d_t‖ · ‖w_t‖ for every tensor with ``dim > 1`` (Li et al. 2018).
* ``"none"``   the raw Gaussian; every parameter is included.

For ``"filter"`` and ``"layer"`` the tensors with ``dim <= 1`` (biases, BatchNorm weight and
bias) are set to zero, as Li et al.'s code does by default (``ignore='biasbn'``), unless
``include_bn_and_bias=True``; then they are rescaled as whole tensors, d_t ← d_t / ‖d_t‖ · ‖w_t‖.
(Li et al.'s code instead copies w_t into d_t when 1-D tensors are not ignored: same norm, but
not random; the ``loss_landscapes`` package keeps them and rescales each entry.) A zero
reference filter (or tensor) gives a zero direction there. "Filter" is the slice along dim 0,
as in Li et al.: output channels for Conv/Linear, input channels for ConvTranspose.

Why normalize: the loss of a network with ReLUs and BatchNorm is unchanged when a layer's
weights are multiplied by α > 0 (and the next one's divided by α), so distances, curvatures
and sharpness measured along raw-scale directions ("unit", "none") are not
reparameterization-invariant (Dinh et al. 2017, "Sharp Minima Can Generalize For Deep Nets").
Filter normalization moves each filter in proportion to its own scale, so it is the
scale-aware choice for comparing the flatness of different solutions; "unit" rays measure
Euclidean distance in weight space, which is what the SWA paper's width plots show.

Reproducibility: a ``torch.Generator`` seeded with ``seed`` draws one 62-bit sub-seed per
direction, in order, and direction j is drawn from its own generator seeded with sub-seed j.
Direction j therefore depends only on (seed, j, P) and not on k:
``random_directions(..., k=5)[:3]`` equals ``random_directions(..., k=3)``. Draws happen on
the CPU so they are the same on every machine for a given torch version.
"""

from __future__ import annotations

from typing import Callable

import torch

from landscape.engine.weights import ParamSpace

__all__ = ["NORMALIZATIONS", "random_directions", "normalize_direction", "orthogonalize", "sign_fixed"]

#: ``fn(direction, reference, space, include_bn_and_bias) -> direction`` (flat, float32, new tensor).
Normalizer = Callable[[torch.Tensor, torch.Tensor, ParamSpace, bool], torch.Tensor]

#: Name → normalizer. An unknown name raises ``ValueError`` listing these keys.
NORMALIZATIONS: dict[str, Normalizer] = {}

_SEED_MIN, _SEED_MAX = -(2 ** 63), 2 ** 64 - 1  # what torch.Generator.manual_seed accepts


def _register(name: str) -> Callable[[Normalizer], Normalizer]:
    def add(fn: Normalizer) -> Normalizer:
        NORMALIZATIONS[name] = fn
        return fn
    return add


def _norm(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Euclidean norm accumulated in float64."""
    return torch.linalg.vector_norm(x, dim=dim, keepdim=dim is not None, dtype=torch.float64)


def _scale_to(d: torch.Tensor, target: torch.Tensor, dim: int | None = None) -> None:
    """In place: d ← d / ‖d‖ · target (per row when ``dim`` is given); a zero d stays zero."""
    factor = target / _norm(d, dim).clamp_min(torch.finfo(torch.float64).tiny)
    d.mul_(factor.to(d.dtype))


def _rescale(direction: torch.Tensor, reference: torch.Tensor, space: ParamSpace,
             include_bn_and_bias: bool, per_filter: bool) -> torch.Tensor:
    out = direction.clone()
    d_parts, w_parts = space.split(out), space.split(reference)
    for name in space.param_names:
        d, w = d_parts[name], w_parts[name]
        if d.numel() == 0:
            continue
        if d.dim() <= 1:
            if include_bn_and_bias:
                _scale_to(d, _norm(w))
            else:
                d.zero_()
        elif per_filter:
            rows = d.reshape(d.shape[0], -1)  # a view: the slice of ``out`` is contiguous
            _scale_to(rows, _norm(w.reshape(w.shape[0], -1), dim=1), dim=1)
        else:
            _scale_to(d, _norm(w))
    return out


@_register("unit")
def _unit(direction, reference, space, include_bn_and_bias):
    out = direction.clone()
    _scale_to(out, torch.ones((), dtype=torch.float64))
    return out


@_register("filter")
def _filter(direction, reference, space, include_bn_and_bias):
    return _rescale(direction, reference, space, include_bn_and_bias, per_filter=True)


@_register("layer")
def _layer(direction, reference, space, include_bn_and_bias):
    return _rescale(direction, reference, space, include_bn_and_bias, per_filter=False)


@_register("none")
def _none(direction, reference, space, include_bn_and_bias):
    return direction.clone()


def _check_normalization(normalization: str) -> Normalizer:
    try:
        return NORMALIZATIONS[normalization]
    except (KeyError, TypeError):
        raise ValueError(f"normalization={normalization!r} is unknown; valid: "
                         f"{', '.join(sorted(NORMALIZATIONS))}") from None


def _check_vector(name: str, value: torch.Tensor, space: ParamSpace) -> torch.Tensor:
    """``value`` as a CPU tensor after checking it is a finite flat vector of length P."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (flat parameters), got {type(value).__name__}")
    if value.dim() != 1 or value.numel() != space.num_params:
        raise ValueError(f"{name} has shape {tuple(value.shape)}; expected a flat vector of length "
                         f"num_params={space.num_params} (ParamSpace.params_of)")
    if not value.is_floating_point():
        raise ValueError(f"{name} has dtype {value.dtype}; expected a floating-point tensor")
    value = value.detach().to("cpu")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or inf; expected finite values")
    return value


def normalize_direction(space: ParamSpace, direction: torch.Tensor, reference: torch.Tensor, *,
                        normalization: str, include_bn_and_bias: bool = False) -> torch.Tensor:
    """Rescale one flat ``direction`` relative to the flat ``reference`` point.

    See the module docstring for the formula of each normalization.

    Args:
        space: the parameter layout of both vectors.
        direction: flat vector of length ``space.num_params``; not modified.
        reference: flat parameters of the point the direction starts from, same length.
        normalization: a key of :data:`NORMALIZATIONS` (``"unit"``, ``"filter"``, ``"layer"``,
            ``"none"``).
        include_bn_and_bias: for ``"filter"`` and ``"layer"``, keep the parameters with
            ``dim <= 1`` (rescaled to the reference tensor's norm) instead of zeroing them.
            Default: ``False``. Ignored by ``"unit"`` and ``"none"``.

    Returns:
        A new float32 CPU tensor of length ``space.num_params``.

    Raises:
        ValueError: unknown ``normalization``, or a vector of the wrong length, dtype or with
            non-finite values.
    """
    fn = _check_normalization(normalization)
    direction = _check_vector("direction", direction, space).float()
    reference = _check_vector("reference", reference, space)
    return fn(direction, reference, space, bool(include_bn_and_bias))


def _check_int(name: str, value, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name}={value} is not allowed; expected an int {allowed}")
    return value


def random_directions(space: ParamSpace, reference: torch.Tensor, k: int, *, normalization: str,
                      seed: int, include_bn_and_bias: bool = False) -> torch.Tensor:
    """``k`` random Gaussian directions from ``reference``, each normalized, as rows.

    Row j is ``normalize_direction(space, g_j, reference, ...)`` with g_j ~ N(0, I_P) drawn from
    a generator seeded by the j-th sub-seed of ``seed`` (module docstring), so it does not
    depend on ``k`` and the same seed gives the same raw Gaussian for every normalization.

    Args:
        space: the parameter layout (``ParamSpace.of(model)``).
        reference: flat parameters (``space.params_of(state_dict)``) of the point the
            directions start from; used by ``"filter"`` and ``"layer"``.
        k: number of directions, ``>= 1``.
        normalization: a key of :data:`NORMALIZATIONS`: ``"unit"`` (SWA paper's random rays),
            ``"filter"`` (Li et al. 2018), ``"layer"``, ``"none"``.
        seed: an int accepted by ``torch.Generator.manual_seed``.
        include_bn_and_bias: for ``"filter"`` and ``"layer"``, keep parameters with
            ``dim <= 1`` (rescaled as whole tensors) instead of zeroing them. Default ``False``.

    Returns:
        Tensor of shape ``(k, space.num_params)``, float32, on the CPU.

    Raises:
        ValueError: unknown ``normalization`` (lists the valid ones), ``k < 1``, ``seed`` out
            of range, a model without parameters, or a ``reference`` that is not a finite flat
            vector of length ``space.num_params``.
        TypeError: ``k`` or ``seed`` not an int, ``reference`` not a tensor.

    Example::

        space = ParamSpace.of(model)
        w = space.params_of(model.state_dict())
        d = random_directions(space, w, 2, normalization="filter", seed=0)
        point = w + 0.3 * d[0] - 0.1 * d[1]
    """
    fn = _check_normalization(normalization)
    k = _check_int("k", k, 1)
    seed = _check_int("seed", seed, _SEED_MIN, _SEED_MAX)
    if space.num_params == 0:
        raise ValueError("space has num_params=0; the model has no parameters to move along")
    reference = _check_vector("reference", reference, space)
    include = bool(include_bn_and_bias)

    seeds = torch.Generator().manual_seed(seed)
    out = torch.empty(k, space.num_params, dtype=torch.float32)
    for j in range(k):
        sub_seed = int(torch.randint(0, 2 ** 62, (1,), generator=seeds))
        g = torch.Generator().manual_seed(sub_seed)
        raw = torch.randn(space.num_params, generator=g, dtype=torch.float32)
        out[j] = fn(raw, reference, space, include)
    return out


def orthogonalize(directions: torch.Tensor, *, rel_tol: float = 1e-6) -> torch.Tensor:
    """Gram–Schmidt orthonormalization of the rows of ``directions``.

    q_i = r_i / ‖r_i‖ with r_i = a_i − Σ_{j<i} ⟨a_i, q_j⟩ q_j (modified Gram–Schmidt, run twice
    for stability, in float64), so q_0 ∝ a_0 and span(q_0..q_i) = span(a_0..a_i). Useful to turn
    two random directions into an orthonormal random plane.

    Args:
        directions: ``(m, P)`` tensor, ``1 <= m <= P``.
        rel_tol: row i counts as dependent when ‖r_i‖ <= rel_tol · ‖a_i‖. Default ``1e-6``.

    Returns:
        ``(m, P)`` tensor with orthonormal rows, in the input's dtype and device.

    Raises:
        ValueError: not a 2-D floating tensor with ``1 <= m <= P``, non-finite values, or
            linearly dependent rows (names the first dependent row).
    """
    if not isinstance(directions, torch.Tensor):
        raise TypeError(f"directions must be a torch.Tensor, got {type(directions).__name__}")
    if directions.dim() != 2 or directions.shape[0] < 1 or not directions.is_floating_point():
        raise ValueError(f"directions has shape {tuple(directions.shape)} and dtype {directions.dtype}; "
                         f"expected a floating-point (m, P) tensor with m >= 1")
    m, p = directions.shape
    if m > p:
        raise ValueError(f"directions has m={m} rows in a P={p}-dimensional space; "
                         f"at most P rows can be linearly independent")
    if not rel_tol > 0:
        raise ValueError(f"rel_tol={rel_tol} is not allowed; expected a positive float")
    a = directions.detach().to(torch.float64)
    if not bool(torch.isfinite(a).all()):
        raise ValueError("directions contains NaN or inf; expected finite values")
    q = torch.empty_like(a)
    for i in range(m):
        r = a[i].clone()
        for _ in range(2):
            for j in range(i):
                r -= torch.dot(r, q[j]) * q[j]
        norm, scale = float(_norm(r)), float(_norm(a[i]))
        if norm <= rel_tol * scale or norm == 0.0:
            raise ValueError(f"directions row {i} is linearly dependent on rows 0..{i - 1} "
                             f"(residual {norm:.3g} of norm {scale:.3g}); expected independent rows")
        q[i] = r / norm
    return q.to(dtype=directions.dtype, device=directions.device)


def sign_fixed(d: torch.Tensor) -> torch.Tensor:
    """``d`` or ``-d``, whichever has its largest-magnitude entry positive: the sign rule of every eigenvector
    direction (an eigenvector is defined up to its sign)."""
    return d if float(d[int(torch.argmax(d.abs()))]) >= 0 else -d
