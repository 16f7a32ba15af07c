"""The two directions of a plane around one point, and the directions file.

A plane around a center w_c is w_c + x·d_x + y·d_y (``landscape.compute.around_plane``). The directions:

* ``random``: two Gaussian directions drawn from ``seed`` and normalized (``landscape.geometry.directions``;
  ``filter`` by default, Li et al. 2018: each filter of d rescaled to the norm of the same filter
  of w_c, biases and BatchNorm parameters zeroed unless ``include_bn_and_bias``). Coordinates are
  multiples of the directions, Li et al.'s convention. ``orthogonal``: d_y ← d_y − ⟨d_y, d_x⟩/‖d_x‖² d_x,
  rescaled to keep ‖d_y‖ (its filter norms then hold only approximately; in high dimension the
  cosine of two draws is ~1/√P anyway, and it is recorded).
* ``pca``: the top two principal components of the trajectory {w_1..w_T} (Li et al. 2018, Sec. 7):
  with X the T × P matrix of points and X̄ = X − mean, the components are the top right singular
  vectors of X̄, found from the T × T Gram matrix G = X̄ X̄ᵀ = V Λ Vᵀ as c_j = X̄ᵀ v_j / √λ_j
  (no P × P matrix). Explained variance ratio λ_j / Σ λ. The plane is centred on the last point
  (Li et al.) or the mean; a trajectory point's coordinates are ((w_i − w_c)·c_x, (w_i − w_c)·c_y).
  Sign: each component's largest-magnitude entry is positive. Euclidean units.
* ``hessian``: the top two eigenvectors of the training-loss Hessian at w_c (Lanczos,
  ``landscape.curvature.spectrum``), with their eigenvalues. Euclidean units; same sign rule.

The directions file (``directions.pt``) is ``{"x": {name: tensor}, "y": {name: tensor}}``, tensors
shaped like the parameters, readable with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from swa.errors import UserError
from swa.io import save_torch
from swa.validate import check, read_json
from landscape.geometry.directions import random_directions, sign_fixed
from landscape.engine.weights import ParamSpace
from landscape.curvature.hessian import HessianOperator
from landscape.curvature.spectrum import top_eigenvalues_lanczos

__all__ = ["DIRECTION_KINDS", "PCA_CENTERS", "PlaneDirections", "random_plane", "pca_plane", "hessian_plane",
           "save_directions", "load_directions", "directions_from_dict"]

DIRECTION_KINDS = ("random", "pca", "hessian")
PCA_CENTERS = ("last", "mean")
EUCLIDEAN = "Euclidean distance in parameter space"
MULTIPLES = "multiples of the directions (Li et al. 2018)"
_COLUMNS = 1 << 20  # columns per block when reducing a T × P matrix


@dataclass
class PlaneDirections:
    """Two directions (rows of ``directions``, (2, P) float32 in the space's order) and how they were made."""

    directions: torch.Tensor
    kind: str
    units: str
    labels: tuple[str, str]
    about: dict[str, Any] = field(default_factory=dict)
    center: Optional[torch.Tensor] = None  # PCA: the center it chose (the last point or the mean)
    trajectory: Optional[np.ndarray] = None  # PCA: (T, 3) x, y, distance from the plane of each point

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "units": self.units, "labels": list(self.labels), **self.about}


def random_plane(space: ParamSpace, center: torch.Tensor, *, seed: int, normalization: str = "filter",
                 include_bn_and_bias: bool = False, orthogonal: bool = False) -> PlaneDirections:
    """Two random directions from ``seed`` (see the module docstring)."""
    d = random_directions(space, center, 2, normalization=normalization, seed=seed,
                          include_bn_and_bias=include_bn_and_bias)
    dx, dy = d[0].double(), d[1].double()
    nx, ny = torch.linalg.vector_norm(dx), torch.linalg.vector_norm(dy)
    cosine = float(torch.dot(dx, dy) / (nx * ny)) if nx > 0 and ny > 0 else 0.0
    if orthogonal and nx > 0:
        dy = dy - torch.dot(dy, dx) / nx ** 2 * dx
        dy = dy * (ny / torch.linalg.vector_norm(dy).clamp_min(1e-300))
        d = torch.stack([dx, dy]).float()
    what = {"filter": "filter-normalized", "layer": "layer-normalized", "unit": "unit", "none": "raw"}[normalization]
    return PlaneDirections(d, "random", MULTIPLES, (f"direction 1 ({what})", f"direction 2 ({what})"),
                           {"seed": seed, "normalization": normalization, "include_bn_and_bias": include_bn_and_bias,
                            "orthogonal": orthogonal, "cosine": cosine,
                            "norms": [float(torch.linalg.vector_norm(r.double())) for r in d]})


def pca_plane(trajectory: Sequence[torch.Tensor], center: str = "last") -> PlaneDirections:
    """The top two principal components of the flat points ``trajectory`` (see the module docstring).

    Raises:
        UserError: fewer than three points, an unknown ``center``, or points spanning less than a plane.
    """
    if center not in PCA_CENTERS:
        raise UserError(f"`pca_center` must be one of {', '.join(PCA_CENTERS)}, got {center!r}")
    if len(trajectory) < 3:
        raise UserError(f"a PCA plane needs at least 3 trajectory points, got {len(trajectory)}")
    X = torch.stack([t.detach().float().cpu() for t in trajectory])  # (T, P)
    T, P = X.shape
    mean = torch.zeros(P, dtype=torch.float64)
    for s in range(0, P, _COLUMNS):
        mean[s:s + _COLUMNS] = X[:, s:s + _COLUMNS].double().mean(0)
    gram = torch.zeros(T, T, dtype=torch.float64)
    for s in range(0, P, _COLUMNS):
        block = X[:, s:s + _COLUMNS].double() - mean[s:s + _COLUMNS]
        gram += block @ block.T
    lam, V = torch.linalg.eigh(gram)
    lam, V = lam.flip(0).clamp_min(0), V.flip(1)
    total = float(lam.sum())
    if total <= 0 or float(lam[1]) <= 1e-12 * total:
        raise UserError("the trajectory points span less than a plane (all equal or on one line): no PCA plane")
    comps = torch.zeros(2, P, dtype=torch.float64)
    for s in range(0, P, _COLUMNS):
        block = X[:, s:s + _COLUMNS].double() - mean[s:s + _COLUMNS]
        comps[:, s:s + _COLUMNS] = (block.T @ V[:, :2]).T
    comps = torch.stack([sign_fixed(c / torch.linalg.vector_norm(c)) for c in comps])
    ratio = [float(v) / total for v in lam[:2]]
    w_c = X[-1].double() if center == "last" else mean
    coords = np.empty((T, 3))
    for i in range(T):
        diff = X[i].double() - w_c
        xy = comps @ diff
        coords[i] = [float(xy[0]), float(xy[1]), float(torch.linalg.vector_norm(diff - comps.T @ xy))]
    return PlaneDirections(comps.float(), "pca", EUCLIDEAN,
                           (f"PC1 ({ratio[0]:.1%})", f"PC2 ({ratio[1]:.1%})"),
                           {"center": center, "explained_variance_ratio": ratio,
                            "singular_values": [float(v) ** 0.5 for v in lam[:2]], "points": T},
                           center=w_c.float(), trajectory=coords)


def hessian_plane(objective: Any, *, tol: float = 1e-4, seed: int = 0) -> PlaneDirections:
    """The top two Hessian eigenvectors of ``objective`` (a ``ModelObjective`` at the center) by Lanczos."""
    eig = top_eigenvalues_lanczos(HessianOperator(objective), k=2, tol=tol, seed=seed)
    vecs = torch.from_numpy(np.ascontiguousarray(eig.vectors.T))  # (2, P), unit rows
    d = torch.stack([sign_fixed(v) for v in vecs]).float()
    lam = eig.value
    return PlaneDirections(d, "hessian", EUCLIDEAN,
                           (f"eigenvector 1 (λ = {lam[0]:.4g})", f"eigenvector 2 (λ = {lam[1]:.4g})"),
                           {"eigenvalues": list(lam), "residual_norms": list(eig.uncertainty),
                            "hessian_vector_products": eig.matvecs, "tol": tol, "seed": seed})


def save_directions(path: str | Path, space: ParamSpace, directions: torch.Tensor) -> Path:
    """Write ``{"x": {name: tensor}, "y": {name: tensor}}`` (atomically) and return the path."""
    d = directions.detach().float().cpu()
    save_torch({axis: {k: v.clone() for k, v in space.split(row).items()} for axis, row in zip("xy", d)}, path)
    return Path(path)


def load_directions(path: str | Path, space: ParamSpace) -> torch.Tensor:
    """The (2, P) directions of a directions file, checked against ``space``.

    Raises:
        UserError: an unreadable file, or contents :func:`directions_from_dict` refuses.
    """
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"`load_directions` {path}: no such file") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise UserError(f"`load_directions` {path}: not a directions file ({type(exc).__name__}: {exc})") from None
    return directions_from_dict(doc, space, f"`load_directions` {path}")


def loaded_provenance(path: str | Path) -> tuple[tuple[str, str], dict[str, Any]]:
    """Axis labels and provenance of directions read from the directions file ``path``.

    A plane around a point writes its directions as ``directions.pt`` beside its ``plane.json``; read
    from there, the labels are that plane's with its folder named ("direction 1 (filter-normalized,
    from random-sgd)"), so a second plane on the same directions says what they are. Any other file:
    "direction 1 (from FILE)". The provenance holds the file and, when known, the source's kind.
    A ``hessian-directions-<i>.pt`` that ``sharpness --eigenvectors`` wrote beside its ``sharpness.json``
    labels the axes with the checkpoint's top two eigenvalues ("eigenvector 1 (λ = 266.5, SWA, from sharp)").
    """
    path = Path(path)
    about: dict[str, Any] = {"file": str(path)}
    from_sharpness = _sharpness_provenance(path)
    if from_sharpness is not None:
        about.update(from_sharpness[1])
        return from_sharpness[0], about
    side_path = path.parent / "plane.json"
    try:  # only labels come from the sidecar: an unusable one costs them, nothing else
        side = read_json(side_path, "plane sidecar") if path.name == "directions.pt" and side_path.is_file() else {}
        source = side.get("directions") if isinstance(side, dict) else None
        source = source if isinstance(source, dict) else {}
        labels = [check(lab, (str,), side_path, "directions.labels[]")
                  for lab in check(source.get("labels") or [], (list,), side_path, "directions.labels")]
        check(source.get("kind"), (str, type(None)), side_path, "directions.kind")
    except UserError:
        source, labels = {}, []
    if len(labels) == 2 and source.get("kind") not in (None, "loaded"):
        about["source_kind"] = source["kind"]
        where = path.parent.name
        return tuple(lab[:-1] + f", from {where})" if lab.endswith(")") else f"{lab} (from {where})"
                     for lab in labels), about
    if len(labels) == 2:  # itself loaded: its labels already say where from
        return (labels[0], labels[1]), about
    return (f"direction 1 (from {path.name})", f"direction 2 (from {path.name})"), about


def _sharpness_provenance(path: Path) -> Optional[tuple[tuple[str, str], dict[str, Any]]]:
    """Axis labels and provenance of a directions file listed under ``eigenvectors.directions`` of the
    ``sharpness.json`` beside it (``landscape.curvature.eigenvectors``); ``None`` for any other file. Only labels come
    from there: an unusable ``sharpness.json`` costs them, nothing else."""
    side_path = path.parent / "sharpness.json"
    if not (path.name.startswith("hessian-directions-") and side_path.is_file()):
        return None
    try:
        doc = check(read_json(side_path, "sharpness.json"), (dict,), side_path, "the top level")
        named = check((check(doc.get("eigenvectors") or {}, (dict,), side_path, "eigenvectors")).get("directions")
                      or {}, (dict,), side_path, "eigenvectors.directions")
        label = next((lab for lab, name in named.items() if name == path.name), None)
        if label is None:
            return None
        entry = check((check(doc.get("results") or {}, (dict,), side_path, "results")).get(label) or {}, (dict,),
                      side_path, "results[]")
        top = check((entry.get("metrics") or {}).get("hessian_top_eigenvalues") or {}, (dict,), side_path,
                    "metrics.hessian_top_eigenvalues")
        values = check(top.get("value") or [], (list,), side_path, "hessian_top_eigenvalues.value")
        lams = [check(v, (float,), side_path, "hessian_top_eigenvalues.value[]") for v in values[:2]]
    except UserError:
        return None
    if len(lams) < 2:
        return None
    where = path.parent.name
    labels = tuple(f"eigenvector {i + 1} (λ = {lam:.4g}, {label}, from {where})" for i, lam in enumerate(lams))
    return (labels[0], labels[1]), {"source_kind": "hessian", "point": label, "eigenvalues": lams}


def directions_from_dict(doc: Any, space: ParamSpace, source: str = "directions") -> torch.Tensor:
    """The (2, P) matrix of ``{"x": {name: tensor}, "y": {name: tensor}}``, checked against ``space``.

    Raises:
        UserError: other keys, a parameter missing or of another shape, NaN/inf.
    """
    if not isinstance(doc, dict) or set(doc) != {"x", "y"} or not all(isinstance(doc[a], dict) for a in "xy"):
        raise UserError(f"{source}: expected {{'x': {{name: tensor}}, 'y': {{name: tensor}}}}")
    rows = []
    for axis in "xy":
        part = doc[axis]
        missing = [n for n in space.param_names if n not in part]
        if missing:
            raise UserError(f"{source}: '{axis}' lacks {len(missing)} parameter(s) of the model, e.g. {missing[0]}")
        for name, shape in zip(space.param_names, space.param_shapes):
            t = part[name]
            if not isinstance(t, torch.Tensor):
                raise UserError(f"{source}: '{axis}' {name} must be a tensor, got {type(t).__name__}")
            if t.layout != torch.strided or not t.dtype.is_floating_point:
                raise UserError(f"{source}: '{axis}' {name} must be a dense floating-point tensor, got "
                                f"{str(t.dtype).replace('torch.', '')}" + ("" if t.layout == torch.strided
                                                                            else f" ({t.layout})"))
            if tuple(t.shape) != tuple(shape):
                raise UserError(f"{source}: '{axis}' {name} has shape {tuple(t.shape)}, the model's is "
                                f"{tuple(shape)}")
        row = torch.cat([part[n].detach().float().reshape(-1) for n in space.param_names])
        if not bool(torch.isfinite(row).all()):
            raise UserError(f"{source}: '{axis}' contains NaN or inf")
        rows.append(row)
    return torch.stack(rows)
