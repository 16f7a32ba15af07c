"""What a caller chooses about the geometry: a plane's grid (:class:`Grid`) and directions (:class:`Directions`),
and the random rays from each point (:class:`Rays`).

Both are small frozen dataclasses, checked when built, that the Python API takes (``grid=``, ``directions=``)
and the command line builds from its flags (``landscape.cli.plane``), so that both hand
:func:`landscape.compute.plane.evaluate_plane` and :func:`landscape.compute.around_plane.evaluate_around` the
same objects. The line through one point (``landscape.compute.around_line``) takes :class:`Directions` too
(``kind`` ``random`` or ``hessian``); the rays (``landscape.compute.rays``) take :class:`Rays`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from landscape.compute.directions import PCA_CENTERS
from landscape.engine.checks import arg, check_int, check_number
from landscape.geometry.directions import NORMALIZATIONS
from landscape.geometry.grid import Axis, as_axis, check_grid, check_margin
from swa.errors import UserError

__all__ = ["Grid", "Directions", "Rays"]


def check_normalization(value: str) -> None:
    """Raise a :class:`UserError` naming ``normalization`` unless ``value`` is one of
    :data:`landscape.geometry.directions.NORMALIZATIONS`."""
    if value not in NORMALIZATIONS:
        raise UserError(f"{arg('normalization')} must be one of {', '.join(sorted(NORMALIZATIONS))}, got {value!r}")


@dataclass(frozen=True)
class Grid:
    """The grid of a plane: ``landscape.Grid(points=31)`` or ``landscape.Grid(x=(-1, 1, 41), y=(-0.5, 0.5, 21))``.

    Args:
        points: points per axis of the default grid (``None``: 21 through three points; around one point 51
            on CUDA and 21 on a CPU).
        x, y: explicit axes, ``(min, max, points)`` or an :class:`~landscape.geometry.grid.Axis`; both or
            neither.
        margin: the default grid's margin around the anchors and projected points, as a fraction >= 0 of their
            extent (0.2).

    Raises:
        UserError: fewer than 2 points, a bad axis or a negative margin (checked when built).
    """

    points: Optional[int] = None
    x: Optional[Axis] = None
    y: Optional[Axis] = None
    margin: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", check_grid(self.points, "points"))
        object.__setattr__(self, "x", as_axis(self.x, "x"))
        object.__setattr__(self, "y", as_axis(self.y, "y"))
        object.__setattr__(self, "margin", check_margin(self.margin))

    @classmethod
    def of(cls, value: Any) -> "Grid":
        """``grid=`` as the API takes it: a :class:`Grid`, points per axis (an int), or ``None`` (the default)."""
        return value if isinstance(value, Grid) else cls(points=check_grid(value))  # named grid=, as given


@dataclass(frozen=True)
class Directions:
    """The directions of a plane around one point: ``landscape.Directions("hessian", hessian_samples=512)``.

    Args:
        kind: ``random`` (drawn from the settings' ``seed``), ``pca`` (of the trajectory), ``hessian`` (the
            top eigenvectors at the center), or given: a ``Path`` of a directions file or a (2, P) tensor (the
            API also takes a ``{"x": {name: tensor}, "y": ...}`` dict or a path string).
        normalization, include_bn_and_bias, orthogonal: for ``random``: ``filter`` (Li et al.), ``layer``,
            ``unit`` or ``none``; also move biases and BatchNorm parameters; make the second direction
            orthogonal to the first (its norm kept).
        pca_center: for ``pca``: ``last`` (the last trajectory point) or ``mean``.
        hessian_samples, hessian_tol, hessian_batch_size: for ``hessian``: the Hessian's training samples
            (``None``: all), Lanczos' tolerance, the batch size of its sums (halved on out-of-memory; the
            directions do not depend on it beyond rounding, so a resumed run does not compare it).

    Raises:
        UserError: an unknown normalization or PCA center, or a batch size below 1 (checked when built).
    """

    kind: Any = "random"
    normalization: str = "filter"
    include_bn_and_bias: bool = False
    orthogonal: bool = False
    pca_center: str = "last"
    hessian_samples: Optional[int] = None
    hessian_tol: float = 1e-4
    hessian_batch_size: int = 2048

    def __post_init__(self) -> None:
        check_normalization(self.normalization)
        if self.pca_center not in PCA_CENTERS:
            raise UserError(f"{arg('pca_center')} must be one of {', '.join(PCA_CENTERS)}, got "
                            f"{self.pca_center!r}")
        check_int(self.hessian_batch_size, "hessian_batch_size", 1)


@dataclass(frozen=True)
class Rays:
    """Random rays from each point (Izmailov et al. 2018, Fig. 4): ``landscape.Rays(directions=20, delta=0.05)``.

    Args:
        directions: how many random directions; the same for every point, drawn from the settings' ``seed``.
        max_distance, steps: each ray's ``steps`` points on [0, ``max_distance``] (in units of the normalized
            direction).
        delta: the rise of the training loss at which each ray's width is read
            (:func:`landscape.geometry.rays.ray_width`).
        normalization: ``unit`` (each direction of norm 1), ``filter``, ``layer`` or ``none``.
        include_bn_and_bias: with ``filter``/``layer``, also move biases and BatchNorm parameters.

    Raises:
        UserError: ``directions`` < 1, ``steps`` < 2, a ``max_distance``/``delta`` not finite and > 0, or an
            unknown normalization (checked when built).
    """

    directions: int = 10
    max_distance: float = 20.0
    steps: int = 21
    delta: float = 0.1
    normalization: str = "unit"
    include_bn_and_bias: bool = False

    def __post_init__(self) -> None:
        check_int(self.directions, "directions", 1)
        check_int(self.steps, "steps", 2)
        check_number(self.max_distance, "max_distance")
        check_number(self.delta, "delta")
        check_normalization(self.normalization)

    @classmethod
    def of(cls, value: Any) -> "Rays":
        """``rays=`` as the API takes it: a :class:`Rays`, the number of directions (an int), or ``None``."""
        if value is None:
            return cls()
        return value if isinstance(value, Rays) else cls(directions=value)
