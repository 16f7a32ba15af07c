"""Presets for the published conventions of loss-landscape planes: ``--like NAME`` / ``plane(like=NAME)``.

"My plot doesn't match the paper" often comes down to a convention: which BatchNorm statistics,
which directions, which units and range. A preset sets them all, as the paper's own code does:

* ``li2018`` — Li, Xu, Taylor, Studer & Goldstein 2018, *Visualizing the Loss Landscape of Neural
  Nets* (``tomgoldstein/loss-landscape``): a plane around one checkpoint along two random
  filter-normalized directions, biases and BatchNorm parameters left out of the directions
  (their ``--xignore biasbn``), BatchNorm statistics fixed (the network in eval mode), x and y in
  −1:1 with 51 points each (their ``--x=-1:1:51 --y=-1:1:51``).
* ``garipov2018`` — Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, *Loss Surfaces, Mode
  Connectivity, and Fast Ensembling of DNNs* (``timgaripov/dnn-mode-connectivity``, ``plane.py``):
  the plane through three points w0, w1, w2 with u = w2 − w0 and v the part of w1 − w0
  orthogonal to u, in *their units*: a point is w0 + α·‖u‖·û + β·‖v‖·v̂, so that w0 = (0, 0) and
  w2 = (1, 0); α, β ∈ [−0.2, 1.2] with 21 points each (their margins and ``--grid_points``);
  BatchNorm statistics recomputed at every point (their ``utils.update_bn``). Given points
  (first, middle, last), x runs from the first to the last and y towards the middle.
* ``izmailov2018`` — Izmailov, Podoprikhin, Garipov, Vetrov & Wilson 2018, *Averaging Weights Leads
  to Wider Optima and Better Generalization*: the plane through the first, middle and last points
  of the trajectory in Euclidean units (û towards the middle point), the box around them and the
  projected trajectory widened by 0.2 with 21 points per axis, BatchNorm statistics recomputed at
  every point (the SWA paper's choice).

:data:`PRESETS` is the registry; :func:`plane_preset` resolves a name against the arguments the
caller gave, refusing an explicit choice that contradicts the preset. The result's sidecar records
the preset under ``preset`` and a figure's title names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from swa.errors import UserError
from landscape.geometry.grid import Axis

__all__ = ["Preset", "PRESETS", "preset", "plane_preset", "PlaneChoice"]


@dataclass(frozen=True)
class Preset:
    """A published convention: ``name``, its citation, which plane it is (``around`` one point or ``through``
    three) and the settings it fixes."""

    name: str
    cite: str
    paper: str
    code: str
    kind: str
    bn: str
    units: str = "euclidean"
    directions: Optional[str] = None
    normalization: Optional[str] = None
    include_bn_and_bias: Optional[bool] = None
    axis: Optional[tuple[float, float, int]] = None
    grid: int = 21
    margin: float = 0.2
    x_towards_last: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        """What the sidecar records."""
        return {"name": self.name, "cite": self.cite, "paper": self.paper, "code": self.code, "kind": self.kind,
                "bn": self.bn, "units": self.units, "directions": self.directions,
                "normalization": self.normalization, "include_bn_and_bias": self.include_bn_and_bias,
                "axis": None if self.axis is None else list(self.axis), "grid": self.grid, "margin": self.margin}


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("li2018", "Li et al. 2018", "Visualizing the Loss Landscape of Neural Nets", "tomgoldstein/loss-landscape",
           kind="around", bn="fixed", directions="random", normalization="filter", include_bn_and_bias=False,
           axis=(-1.0, 1.0, 51), grid=51),
    Preset("garipov2018", "Garipov et al. 2018", "Loss Surfaces, Mode Connectivity, and Fast Ensembling of DNNs",
           "timgaripov/dnn-mode-connectivity", kind="through", bn="recompute", units="relative",
           axis=(-0.2, 1.2, 21), x_towards_last=True),
    Preset("izmailov2018", "Izmailov et al. 2018",
           "Averaging Weights Leads to Wider Optima and Better Generalization", "timgaripov/swa", kind="through",
           bn="recompute"),
)}


def preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        UserError: an unknown name (lists the known ones).
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise UserError(f"like must be one of {', '.join(PRESETS)}, got {name!r}") from None


@dataclass
class PlaneChoice:
    """The plane arguments after a preset: what the computation takes."""

    bn: Optional[str]
    grid: Optional[int]
    margin: float
    x_axis: Optional[Axis]
    y_axis: Optional[Axis]
    directions: Any
    normalization: str
    include_bn_and_bias: bool
    units: str = "euclidean"
    x_towards_last: bool = False
    record: Optional[dict[str, Any]] = None


def _clash(flag: str, given: Any, wanted: Any, name: str) -> UserError:
    return UserError(f"`like={name!r}` sets `{flag}={wanted!r}`, but `{flag}={given!r}` was given; drop one of them")


def plane_preset(like: Optional[str], *, around: bool, bn: Optional[str], grid: Optional[int], margin: float,
                 x_axis: Optional[Axis], y_axis: Optional[Axis], directions: Any, normalization: str,
                 include_bn_and_bias: bool) -> PlaneChoice:
    """Apply the preset ``like`` (``None``: nothing) to a plane's arguments.

    ``around`` says whether the caller asked for a plane around one point (a center, directions). A preset
    fills what the caller left open; an explicit choice that contradicts it (``--bn``, ``--grid``, ``--x``/
    ``--y``, ``--directions``, a normalization other than the default) is refused, as is a preset of the other
    kind of plane. ``--grid`` changes the number of points per axis only (recorded as a deviation).

    Raises:
        UserError: an unknown preset, a plane of the other kind, or a contradicting choice.
    """
    choice = PlaneChoice(bn, grid, margin, x_axis, y_axis, directions, normalization, include_bn_and_bias)
    if like is None:
        return choice
    p = preset(like)
    if p.kind == "around" and not around:
        raise UserError(f"`like={p.name!r}` is a plane around one checkpoint: give `center=CKPT`")
    if p.kind == "through" and around:
        raise UserError(f"`like={p.name!r}` is a plane through three checkpoints: drop `center` and `directions`")
    if bn is not None and bn != p.bn:
        raise _clash("bn", bn, p.bn, p.name)
    choice.bn = p.bn
    record = p.to_json()
    points = p.grid if grid is None else grid  # the resolution may differ from the paper's (recorded); the range not
    if points != p.grid:
        record.update(grid=points, deviations={"grid": points})
    if p.axis is not None:
        want = Axis(p.axis[0], p.axis[1], points)
        for flag, given in (("x", x_axis), ("y", y_axis)):
            if given is not None and (given.lo, given.hi) != (want.lo, want.hi):
                raise _clash(flag, f"{given.lo:g}:{given.hi:g}", f"{want.lo:g}:{want.hi:g}", p.name)
        choice.x_axis = x_axis or want
        choice.y_axis = y_axis or want
    choice.grid = points
    if p.directions is not None:
        if directions is not None and directions != p.directions:
            raise _clash("directions", directions, p.directions, p.name)
        if normalization != p.normalization:
            raise _clash("normalization", normalization, p.normalization, p.name)
        if include_bn_and_bias != p.include_bn_and_bias:
            raise _clash("include_bn_and_bias", include_bn_and_bias, p.include_bn_and_bias, p.name)
        choice.directions = p.directions
    choice.units, choice.x_towards_last, choice.record = p.units, p.x_towards_last, record
    return choice
