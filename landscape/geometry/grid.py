"""Lines and planes in weight space, projections onto them, and the coordinate grids evaluated.

Plane through three points p0, p1, p2 (flat parameter vectors), Gram–Schmidt:

    û = (p1 − p0)/‖p1 − p0‖,   v = (p2 − p0) − ⟨p2 − p0, û⟩û,   v̂ = v/‖v‖,

and the plane point at (x, y) is p0 + x·û + y·v̂, in Euclidean weight-space units
(Garipov et al. 2018; Izmailov et al. 2018, Fig. 1). A line from a to b at t is
a + t·(b − a).
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from swa.errors import UserError
from landscape.engine.checks import arg, check_int, check_number

__all__ = ["Plane", "Line", "Axis", "parse_axis", "as_axis", "check_grid", "check_margin", "check_direction_pair",
           "default_plane_axes", "GeometryError", "PARALLEL_TOL"]

PARALLEL_TOL = 1e-6  # two directions with |cos| > 1 − PARALLEL_TOL are parallel


class GeometryError(UserError):
    """Degenerate geometry (collinear or coincident points) or a malformed grid spec."""


@dataclass(frozen=True)
class Axis:
    """``n`` evenly spaced values from ``lo`` to ``hi`` inclusive: ``lo < hi``, both finite, ``n >= 2``.

    Raises:
        GeometryError: otherwise (:func:`parse_axis` and :func:`as_axis` name the argument).
    """

    lo: float
    hi: float
    n: int

    def __post_init__(self) -> None:
        _check_axis(self.lo, self.hi, self.n, f"axis ({self.lo!r}, {self.hi!r}, {self.n!r})")

    def values(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, self.n)

    def to_json(self) -> dict:
        return {"min": self.lo, "max": self.hi, "n": self.n}


def _check_axis(lo: Any, hi: Any, n: Any, what: str) -> None:
    """The one check of an axis, for the command line (``what`` = ``--x '1:1:3'``) and the API (``x (1, 1, 3)``)."""
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (lo, hi)):
        raise GeometryError(f"{what}: min and max must be numbers")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise GeometryError(f"{what}: min and max must be finite numbers")
    if not lo < hi:
        raise GeometryError(f"{what}: min must be below max")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise GeometryError(f"{what}: points must be an integer >= 2")
    if n < 2:
        raise GeometryError(f"{what}: needs at least 2 points")


_AXIS = re.compile(r"^\s*([^:\s]+)\s*:\s*([^:\s]+)\s*:\s*(\d+)\s*$")


def parse_axis(text: str, flag: str = "--x") -> Axis:
    """Parse ``MIN:MAX:N`` (e.g. ``-0.5:1.5:21``); :class:`GeometryError` names the flag when malformed."""
    m = _AXIS.match(text)
    if not m:
        raise GeometryError(f"{flag} {text!r} is not MIN:MAX:N (e.g. -0.5:1.5:21)")
    try:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
    except ValueError:
        raise GeometryError(f"{flag} {text!r} is not MIN:MAX:N (e.g. -0.5:1.5:21)") from None
    _check_axis(lo, hi, n, f"{flag} {text!r}")
    return Axis(lo, hi, n)


def as_axis(value: Any, name: str) -> Optional[Axis]:
    """The Python API's axis: ``None``, an :class:`Axis`, or ``(min, max, points)``, checked as :func:`parse_axis`.

    Raises:
        GeometryError: not a triple, or an axis :class:`Axis` refuses (named ``name``).
    """
    if value is None or isinstance(value, Axis):
        return value
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise GeometryError(f"{arg(name)} must be (min, max, points), got {value!r}")
    lo, hi, n = (v.item() if isinstance(v, np.generic) else v for v in value)
    _check_axis(lo, hi, n, f"{arg(name)} ({lo!r}, {hi!r}, {n!r})")
    return Axis(float(lo), float(hi), int(n))


def check_grid(value: Any, name: str = "grid") -> Optional[int]:
    """Points per axis of a default grid: ``None`` (the default) or an integer >= 2.

    Raises:
        UserError: otherwise, naming ``name`` (``--grid`` on the command line).
    """
    return None if value is None else check_int(value, name, 2)


def check_margin(value: Any, name: str = "margin") -> float:
    """The margin around a default grid's points, a finite fraction >= 0 of their extent.

    Raises:
        UserError: otherwise, naming ``name``.
    """
    return check_number(value, name, minimum=0.0, inclusive=True)


def check_direction_pair(directions: torch.Tensor, source: str = "directions") -> None:
    """Refuse two directions that span no plane: NaN/inf, a zero row, or rows with |cos| > 1 − 1e-6.

    Raises:
        GeometryError: one line naming ``source`` and the problem.
    """
    d = directions.detach().double()
    if not bool(torch.isfinite(d).all()):
        raise GeometryError(f"{source}: the directions contain NaN or inf")
    norms = torch.linalg.vector_norm(d, dim=1)
    for i, norm in enumerate(norms.tolist()):
        if norm == 0.0:
            raise GeometryError(f"{source}: direction {i + 1} is zero: two zero-free directions span a plane")
    cos = float(torch.dot(d[0], d[1]) / (norms[0] * norms[1]))
    if abs(cos) > 1 - PARALLEL_TOL:
        raise GeometryError(f"{source}: the two directions are parallel (|cos| = {abs(cos):.9g} > 1 - "
                            f"{PARALLEL_TOL:g}): they span a line, not a plane")


@dataclass
class Plane:
    """The affine plane p0 + x·û + y·v̂ through three points (see the module docstring)."""

    origin: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    anchors: np.ndarray  # (3, 2): coordinates of p0, p1, p2

    @classmethod
    def through(cls, p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor, rel_tol: float = 1e-6,
                names: Sequence[str] = ("p0", "p1", "p2")) -> "Plane":
        """Gram–Schmidt through p0, p1, p2 (computed in float64); ``names`` name the points in errors.

        Raises:
            GeometryError: two points coincide, or p2 on the line through p0 and p1 (within ``rel_tol``).
        """
        p0d, p1d, p2d = (p.detach().double() for p in (p0, p1, p2))
        d1, d2 = p1d - p0d, p2d - p0d
        n1 = torch.linalg.vector_norm(d1)
        scale = max(float(n1), float(torch.linalg.vector_norm(d2)), 1e-30)
        if float(n1) <= rel_tol * max(scale, float(torch.linalg.vector_norm(p0d))):
            raise GeometryError(f"{names[0]} and {names[1]} hold the same weights (the points coincide): no plane "
                                "through them (pick distinct checkpoints)")
        for i, other in ((0, p0d), (1, p1d)):
            if float(torch.linalg.vector_norm(p2d - other)) <= rel_tol * scale:
                raise GeometryError(f"{names[i]} and {names[2]} hold the same weights (the points coincide): the "
                                    "three points are collinear, no plane through them (pick distinct checkpoints)")
        u = d1 / n1
        c = torch.dot(d2, u)
        v = d2 - c * u
        nv = torch.linalg.vector_norm(v)
        if float(nv) <= rel_tol * scale:
            raise GeometryError(f"{names[0]}, {names[1]} and {names[2]} are collinear: they span a line, not a "
                                "plane (pick a third checkpoint off the line, or use `interp`)")
        v = v / nv
        anchors = np.array([[0.0, 0.0], [float(n1), 0.0], [float(c), float(nv)]])
        return cls(origin=p0d.float(), u=u.float(), v=v.float(), anchors=anchors)

    def point(self, x: float, y: float) -> torch.Tensor:
        """p0 + x·û + y·v̂."""
        return self.origin + x * self.u + y * self.v

    def project(self, p: torch.Tensor) -> tuple[float, float, float]:
        """Coordinates (x, y) of the orthogonal projection of ``p`` and its distance from the plane."""
        d = p.detach().double() - self.origin.double()
        u, v = self.u.double(), self.v.double()
        x, y = float(torch.dot(d, u)), float(torch.dot(d, v))
        residual = d - x * u - y * v
        return x, y, float(torch.linalg.vector_norm(residual))

    @property
    def directions(self) -> torch.Tensor:
        """(2, P): û and v̂ as rows."""
        return torch.stack([self.u, self.v])

    def anchor_weights(self, x: float, y: float) -> tuple[float, float]:
        """(α, β) with x·û + y·v̂ = α(p1 − p0) + β(p2 − p0): the plane point as an affine combination."""
        a = self.anchors
        # Columns: coordinates of p1 − p0 and p2 − p0 in the (û, v̂) basis.
        m = np.array([[a[1, 0], a[2, 0]], [a[1, 1], a[2, 1]]])
        alpha, beta = np.linalg.solve(m, np.array([x, y]))
        return float(alpha), float(beta)


@dataclass
class Line:
    """a + t·(b − a)."""

    start: torch.Tensor
    end: torch.Tensor

    @property
    def direction(self) -> torch.Tensor:
        return self.end - self.start

    @property
    def length(self) -> float:
        return float(torch.linalg.vector_norm(self.direction.double()))


def default_plane_axes(points: Sequence[tuple[float, float]], grid: int, margin: float) -> tuple[Axis, Axis]:
    """The bounding box of ``points`` (anchors and projected trajectory) widened by ``margin`` of its extent.

    Each side grows by ``margin`` × (the box's extent along that axis); ``grid`` points per axis.
    """
    check_grid(grid)
    check_margin(margin)
    pts = np.asarray(points, dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    extent = np.maximum(hi - lo, 1e-12)
    lo, hi = lo - margin * extent, hi + margin * extent
    return Axis(float(lo[0]), float(hi[0]), grid), Axis(float(lo[1]), float(hi[1]), grid)


