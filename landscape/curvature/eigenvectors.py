"""Top Hessian eigenvectors kept per point by ``sharpness(..., eigenvectors=True)``, and their files.

The vectors are those of the ``hessian_top_eigenvalues`` metric (Lanczos, ``landscape.curvature.spectrum``): unit
vectors v_1..v_k of the training-loss Hessian H at the point, H v_i ≈ λ_i v_i with λ_1 ≥ … ≥ λ_k, over
the parameters of the sharpness space (all, or ``params``). An eigenvector is defined up to its sign;
each is returned with its largest-magnitude entry positive (the rule of ``plane --directions hessian``).

Files, next to ``sharpness.json``:

* ``eigenvectors.pt``: ``{"format": "swa-landscape-eigenvectors/1", "labels": [label, ...],
  "points": {label: {"eigenvalues": (k,) float64, "residual_norms": (k,) float64,
  "vectors": {name: (k, *shape) float32}}}}``, readable with ``torch.load(..., weights_only=True)``.
* ``hessian-directions-<i>.pt`` for the i-th point (0-based, in order; k ≥ 2): its top two
  eigenvectors in the directions-file format ``{"x": {name: tensor}, "y": {name: tensor}}`` that
  ``swa-landscape plane --load-directions FILE`` and ``landscape.plane(directions=FILE)`` read, so the
  plane around the point along v_1 and v_2 is one command away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from swa.io import save_torch
from landscape.geometry.directions import sign_fixed
from landscape.engine.weights import ParamSpace

__all__ = ["PointEigenvectors", "FORMAT", "FILE", "directions_file", "save_eigenvectors"]

FORMAT = "swa-landscape-eigenvectors/1"
FILE = "eigenvectors.pt"


def directions_file(index: int) -> str:
    """The name of the directions file of the ``index``-th point: ``hessian-directions-<index>.pt``."""
    return f"hessian-directions-{index}.pt"


@dataclass(frozen=True)
class PointEigenvectors:
    """The top-k Hessian eigenpairs at one point.

    Attributes:
        values: λ_1 ≥ … ≥ λ_k.
        residual_norms: ‖H v_i − λ_i v_i‖ (the metric's uncertainty).
        vectors: (k, P) float32, unit rows v_i in the order of ``space`` (sign: largest-magnitude entry > 0).
        space: the parameters the vectors span (``names`` and shapes).
    """

    values: tuple[float, ...]
    residual_norms: tuple[float, ...]
    vectors: torch.Tensor
    space: ParamSpace

    @classmethod
    def of(cls, eig, space: ParamSpace) -> "PointEigenvectors":
        """From a ``landscape.curvature.spectrum.Eigenvalues`` with ``vectors`` (P × k columns)."""
        cols = torch.from_numpy(np.ascontiguousarray(np.asarray(eig.vectors, dtype=np.float64).T))  # (k, P)
        rows = [sign_fixed(v) for v in cols]
        return cls(tuple(eig.value), tuple(eig.uncertainty), torch.stack(rows).float(), space)

    @property
    def names(self) -> tuple[str, ...]:
        """The parameter names, in the order of the vectors' entries."""
        return self.space.param_names

    def by_name(self) -> dict[str, torch.Tensor]:
        """name → (k, *shape): the i-th eigenvector restricted to a parameter is ``[i]`` of its tensor."""
        return {name: t.clone() for name, t in self.space.split_rows(self.vectors).items()}

    def directions(self, x: int = 0, y: int = 1) -> dict[str, dict[str, torch.Tensor]]:
        """Eigenvectors ``x`` and ``y`` (0-based) as ``{"x": {name: tensor}, "y": {name: tensor}}``, what
        ``landscape.plane(model, data=..., center=state, directions=...)`` takes.

        Raises:
            ValueError: an index outside 0..k−1, or ``x == y``.
        """
        k = len(self.values)
        if not all(isinstance(i, int) and 0 <= i < k for i in (x, y)) or x == y:
            raise ValueError(f"x and y must be two different eigenvector indices in 0..{k - 1}, got {x}, {y}")
        return {axis: {n: t.clone() for n, t in self.space.split(self.vectors[i]).items()}
                for axis, i in (("x", x), ("y", y))}


def save_eigenvectors(out: str | Path, labels: Sequence[str], vectors: Mapping[str, PointEigenvectors]
                      ) -> dict[str, str]:
    """Write ``out/eigenvectors.pt`` (the points of ``labels`` that have vectors, in that order) and each
    such point's ``hessian-directions-<i>.pt`` (i its index in ``labels``; when k ≥ 2), atomically.

    Returns:
        label → its directions file's name (points with k ≥ 2).
    """
    out = Path(out)
    kept = [lab for lab in labels if lab in vectors]
    doc = {"format": FORMAT, "labels": kept, "points": {
        lab: {"eigenvalues": torch.tensor(vectors[lab].values, dtype=torch.float64),
              "residual_norms": torch.tensor(vectors[lab].residual_norms, dtype=torch.float64),
              "vectors": vectors[lab].by_name()} for lab in kept}}
    save_torch(doc, out / FILE)
    files = {}
    for i, lab in enumerate(labels):
        if lab in vectors and len(vectors[lab].values) >= 2:
            files[lab] = directions_file(i)
            save_torch(vectors[lab].directions(0, 1), out / files[lab])
    return files
