"""A plane result in the formats of the reference projects and of ParaView; a curve result in the reference's.

* ``h5``: Li et al.'s surface file (``tomgoldstein/loss-landscape``, read by its ``plot_2D.py`` and
  ``h52vtp.py``): ``xcoordinates`` (nx,), ``ycoordinates`` (ny,), ``train_loss``, ``train_acc``,
  ``test_loss``, ``test_acc`` as (ny, nx) arrays with ``[j, i]`` at (x_i, y_j) — the layout their
  ``contour(meshgrid(x, y), Z)`` draws (their own files are (nx, ny)-shaped but filled in that
  order, the same for their square grids) — accuracies in percent as theirs, and the projected
  trajectory as ``proj_xcoord``, ``proj_ycoord`` (their projection file's keys). Needs ``h5py``
  (``pip install 'swa-landscape[export]'``).
* ``vtp``: a ParaView surface, written as VTK XML PolyData ("VTK File Formats", VTK 9
  documentation; float arrays inline base64 "binary", which carries NaN) by this module: points (x, y, z = the metric, or log10 of it with ``log``, clipped
  at ``zmax``), one quad per grid cell whose four corners are finite, and every metric as point
  data. Written by hand rather than through ``vtk``/``pyvista``: the format is a short documented
  text file, and those libraries are 100+ MB for a writer; the tests read it back with ``vtk``.
* ``mc-npz``: ``timgaripov/dnn-mode-connectivity``'s ``plane.npz`` (read by its ``plane_plot.py``):
  ``grid`` (nx, ny, 2), ``alphas``, ``betas``, ``tr_loss``, ``tr_nll``, ``tr_acc``, ``tr_err``, ``te_*``
  (accuracy and error in percent), ``bend_coordinates`` (3, 2) and ``curve_coordinates`` (T, 2) with
  ``ts``. ``tr_loss`` there adds the weight-decay term; here it equals ``tr_nll`` (no regularizer is
  evaluated). Bends are ordered (p0, p2, p1) so that their ``bend_coordinates[[0, 2]]`` are the two
  anchors on the x axis, as in their files; a plane around one point repeats its center. The curve
  is the projected trajectory (empty if none).

A curve (``curve.npz``, :mod:`landscape.compute.curve`) exports as ``mc-npz`` only: the reference's
``eval_curve.py`` file, ``ts``, ``dl``, ``tr_loss``, ``tr_nll``, ``tr_acc``, ``tr_err``, ``te_*`` and each one's
``_min``, ``_max``, ``_avg``, ``_int`` along the curve (:func:`export_curve`), without this toolkit's own arrays
(the straight line, the done mask); points not computed are NaN.

Each file carries a marker of this toolkit that the readers above ignore: an h5 attribute ``creator``,
an XML comment after the vtp's declaration, an mc-npz array ``creator`` (bytes, its first member). An
export replaces only its own earlier export of the same format (``overwrite`` for anything else; see
:func:`swa.io.check_replaceable`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

import numpy as np

from swa.errors import UserError
from swa.io import CREATOR, TEXT_MARKER, atomic_path, check_replaceable
from landscape.results.metrics import METRICS
from landscape.results.read import CurveData, PlaneData

__all__ = ["FORMATS", "CURVE_FORMATS", "export_plane", "export_curve", "default_output"]

FORMATS = ("h5", "vtp", "mc-npz")
CURVE_FORMATS = ("mc-npz",)
#: the reference eval_curve.py's per-point arrays (each also as _min, _max, _avg, _int)
CURVE_KEYS = ("tr_loss", "tr_nll", "tr_acc", "tr_err", "te_loss", "te_nll", "te_acc", "te_err")
SUFFIX = {"h5": ".h5", "vtp": ".vtp", "mc-npz": "_mc.npz"}


def default_output(data: PlaneData | CurveData, fmt: str, metric: str = "train_loss") -> Path:
    """``plane.h5``, ``plane_<metric>.vtp`` or ``plane_mc.npz`` beside the result."""
    stem = data.path.with_suffix("")
    return Path(f"{stem}_{metric}.vtp") if fmt == "vtp" else Path(f"{stem}{SUFFIX[fmt]}")


def _masked(data: PlaneData, key: str) -> np.ndarray:
    return np.where(data.done, np.asarray(data.values[key], dtype=np.float64), np.nan)


def _trajectory(data: PlaneData) -> np.ndarray:
    return np.array([[p.x, p.y] for p in data.points if p.kind == "trajectory"], dtype=np.float64).reshape(-1, 2)


def export_plane(data: PlaneData, fmt: str, out: Optional[Path] = None, *, metric: str = "train_loss",
                 log: bool = False, zmax: Optional[float] = None, overwrite: bool = False) -> Path:
    """Write ``data`` as ``fmt`` to ``out`` (default :func:`default_output`), atomically; return the path.

    ``out`` may be absent or an earlier export of this toolkit in the same format; anything else is
    replaced only with ``overwrite``.

    Raises:
        UserError: an unknown format or metric, a missing optional dependency, a log of non-positive values,
            or a file at ``out`` that is not our own ``fmt`` export (without ``overwrite``).
    """
    if fmt not in FORMATS:
        raise UserError(f"`fmt` must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if metric not in data.values:
        raise UserError(f"`metric={metric!r}` is not in {data.path} (it has {', '.join(data.values)})")
    if zmax is not None and not np.isfinite(zmax):
        raise UserError(f"`zmax` must be a finite number, got {zmax!r}")
    out = Path(out) if out is not None else default_output(data, fmt, metric)
    _check_target(data.path, out, fmt, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    {"h5": _h5, "vtp": _vtp, "mc-npz": _mc_npz}[fmt](data, out, metric=metric, log=log, zmax=zmax)
    return out


def _h5(data: PlaneData, out: Path, **_) -> None:
    try:
        import h5py
    except ImportError:
        raise UserError("the h5 export needs h5py: pip install 'swa-landscape[export]'") from None
    traj = _trajectory(data)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as f:
        f["xcoordinates"] = data.alphas
        f["ycoordinates"] = data.betas
        for key in METRICS:
            if key in data.values:
                values = _masked(data, key)
                f[key] = (values * 100.0 if key.endswith("_acc") else values).T
        f["proj_xcoord"] = traj[:, 0]
        f["proj_ycoord"] = traj[:, 1]
        f.attrs["source"] = str(data.path)
        f.attrs["units"] = data.units
        f.attrs["creator"] = CREATOR


def _mc_npz(data: PlaneData, out: Path, **_) -> None:
    nx, ny = len(data.alphas), len(data.betas)
    grid = np.stack(np.meshgrid(data.alphas, data.betas, indexing="ij"), axis=-1)
    anchors = np.asarray(data.anchors, dtype=np.float64).reshape(-1, 2)
    bends = anchors[[0, 2, 1]] if len(anchors) == 3 else np.repeat(anchors[:1], 3, axis=0) if len(anchors) \
        else np.zeros((3, 2))
    curve = _trajectory(data)
    arrays = {"creator": np.array(CREATOR.encode()), "grid": grid, "alphas": data.alphas, "betas": data.betas, "bend_coordinates": bends,
              "curve_coordinates": curve, "ts": np.linspace(0.0, 1.0, len(curve))}
    for ours, theirs in (("train", "tr"), ("test", "te")):
        loss = _masked(data, f"{ours}_loss") if f"{ours}_loss" in data.values else np.full((nx, ny), np.nan)
        acc = _masked(data, f"{ours}_acc") * 100.0 if f"{ours}_acc" in data.values else np.full((nx, ny), np.nan)
        arrays.update({f"{theirs}_loss": loss, f"{theirs}_nll": loss, f"{theirs}_acc": acc,
                       f"{theirs}_err": 100.0 - acc})
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _vtp(data: PlaneData, out: Path, *, metric: str, log: bool, zmax: Optional[float]) -> None:
    z = _masked(data, metric)  # (nx, ny)
    finite = np.isfinite(z)
    if log:
        if (z[finite] <= 0).any():
            raise UserError(f"`log=True` needs positive values; {metric} has values <= 0")
        z = np.where(finite, np.log10(np.where(finite, z, 1.0)), np.nan)
    if zmax is not None:
        z = np.minimum(z, zmax)
    top = float(np.nanmax(z)) if finite.any() else 0.0
    nx, ny = z.shape
    xs, ys = np.meshgrid(data.alphas, data.betas, indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel(), np.where(finite, z, top).ravel()], axis=1)  # point k = i·ny + j
    quads = [(i * ny + j, (i + 1) * ny + j, (i + 1) * ny + j + 1, i * ny + j + 1)
             for i in range(nx - 1) for j in range(ny - 1)
             if finite[i, j] and finite[i + 1, j] and finite[i + 1, j + 1] and finite[i, j + 1]]

    def numbers(a: np.ndarray) -> str:
        """Float64 values as VTK's inline "binary" encoding: base64 of a UInt32 byte count and the raw
        little-endian bytes (ASCII cannot carry NaN/inf to VTK's reader)."""
        raw = np.ascontiguousarray(np.ravel(a), dtype="<f8").tobytes()
        return base64.b64encode(np.uint32(len(raw)).astype("<u4").tobytes() + raw).decode("ascii")

    arrays = []
    for key in METRICS:
        if key in data.values:
            arrays.append(f'<DataArray type="Float64" Name="{escape(key)}" format="binary">'
                          f"{numbers(_masked(data, key))}</DataArray>")
    arrays.append(f'<DataArray type="UInt8" Name="finite" format="ascii">{" ".join(map(str, finite.ravel().astype(int)))}'
                  "</DataArray>")
    conn = " ".join(str(k) for q in quads for k in q)
    offsets = " ".join(str(4 * (n + 1)) for n in range(len(quads)))
    text = (
        f'<?xml version="1.0"?>\n{TEXT_MARKER}\n'
        '<VTKFile type="PolyData" version="1.0" byte_order="LittleEndian">\n<PolyData>\n'
        f'<Piece NumberOfPoints="{nx * ny}" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" '
        f'NumberOfPolys="{len(quads)}">\n'
        f'<PointData Scalars="{escape(metric)}">\n' + "\n".join(arrays) + "\n</PointData>\n"
        f'<Points><DataArray type="Float64" NumberOfComponents="3" format="binary">{numbers(points)}</DataArray>'
        "</Points>\n"
        f'<Polys><DataArray type="Int64" Name="connectivity" format="ascii">{conn}</DataArray>\n'
        f'<DataArray type="Int64" Name="offsets" format="ascii">{offsets}</DataArray></Polys>\n'
        "</Piece>\n</PolyData>\n</VTKFile>\n")
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text)


def _check_target(source: Path, out: Path, fmt: str, overwrite: bool) -> None:
    """``out`` may be written: not the result itself, not a directory, absent or our own ``fmt`` export."""
    if out.exists() and source.exists() and out.resolve() in (source.resolve(), source.with_suffix(".json").resolve()):
        raise UserError(f"`out={str(out)!r}` is the result being exported; choose another file")
    if out.is_dir():
        raise UserError(f"`out={str(out)!r}` is a directory; give a file name")
    check_replaceable(out, fmt, overwrite)


def export_curve(data: CurveData, fmt: str = "mc-npz", out: Optional[Path] = None, *,
                 overwrite: bool = False) -> Path:
    """Write the curve of ``data`` (row 0 of its arrays) as the reference's ``curve.npz`` (see the module
    docstring) to ``out`` (default ``curve_mc.npz`` beside it), atomically; return the path.

    Raises:
        UserError: a format other than ``mc-npz``; a file at ``out`` that is not our own export (without
            ``overwrite``).
    """
    if fmt not in CURVE_FORMATS:
        raise UserError(f"a curve exports as {', '.join(CURVE_FORMATS)} only, got `fmt={fmt!r}`")
    out = Path(out) if out is not None else default_output(data, fmt)
    _check_target(data.path, out, fmt, overwrite)
    stored = np.load(data.path)
    arrays = {"creator": np.array(CREATOR.encode()), "ts": data.ts}
    if "dl" in stored:
        arrays["dl"] = stored["dl"]
    done = data.done[0]
    for key in CURVE_KEYS:
        if key not in stored:  # no accuracy (regression): no _acc / _err
            continue
        values = np.where(done, stored[key], np.nan)
        arrays[key] = values
        for stat in ("min", "max", "avg", "int"):
            arrays[f"{key}_{stat}"] = stored[f"{key}_{stat}"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return out
