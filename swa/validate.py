"""Typed-field checks for the files the toolkit reads back (manifests, metrics, results, sidecars).

Every reader of a file the toolkit wrote (``swa.rundir`` for a run, ``landscape.results.read`` for
results, ``landscape.compute.directions`` for a directions file) goes through these helpers, so that a
file that parses but holds the wrong thing (a list where an object belongs, a string for a number,
``1e400``, a 1-D array where a grid belongs) is one :class:`~swa.errors.UserError` that names the file
and the field, never a ``KeyError``/``TypeError`` deep inside a drawing or a training loop.

Types are given as a tuple of Python types, with JSON's meaning: ``float`` is any real number (an
``int`` too, never a ``bool``), finite unless ``finite=False``, and within float range; ``int`` is an
integer that is not a ``bool``; ``type(None)`` allows ``null``.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from swa.errors import UserError

__all__ = ["REQUIRED", "describe", "check", "need", "label", "read_json", "read_json_lines", "load_npz",
           "finite_array", "increasing_axis"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: ``need(..., default=REQUIRED)``: the key must be present.
REQUIRED: Any = _Required()

_NAMES = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
          dict: "an object", type(None): "null"}


def describe(value: Any) -> str:
    """A short phrase for a value in a message: ``a list ([1, 2])``, ``the string 'x'``."""
    text = repr(value)
    text = text if len(text) <= 40 else text[:37] + "..."
    if isinstance(value, bool) or value is None:
        return text
    if isinstance(value, (int, float)):
        return f"the number {text}"
    if isinstance(value, str):
        return f"the string {text}"
    return f"{_NAMES.get(type(value), type(value).__name__)} ({text})"


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check(value: Any, types: Sequence[type], path: Any, field: str, *, finite: bool = True,
          low: Optional[float] = None, high: Optional[float] = None) -> Any:
    """``value`` if it is one of ``types`` (and, when a number, finite and in ``[low, high]``).

    Args:
        value: what the file holds at ``field``.
        types: the allowed Python types (see the module docstring for ``float`` and ``int``).
        path: the file, for the message.
        field: where in the file (``trajectory[2].path``), for the message.
        finite: refuse NaN and ±inf (an integer beyond float range is refused always).
        low, high: inclusive bounds for a number.

    Raises:
        UserError: ``"{path}: {field} must be {types}, got {value}"``.
    """
    types = tuple(types)
    if not any(_is(value, t) for t in types):
        wanted = " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in types))
        raise UserError(f"{path}: {field} must be {wanted}, got {describe(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            x = float(value)
        except OverflowError:
            raise UserError(f"{path}: {field} is out of range ({describe(value)})") from None
        if finite and not math.isfinite(x):
            raise UserError(f"{path}: {field} must be finite, got {value!r}")
        if (low is not None and x < low) or (high is not None and x > high):
            bounds = f">= {low:g}" if high is None else f"<= {high:g}" if low is None else f"in [{low:g}, {high:g}]"
            raise UserError(f"{path}: {field} must be {bounds}, got {value!r}")
    return value


def need(doc: dict[str, Any], key: str, types: Sequence[type], path: Any, where: str = "", *,
         default: Any = REQUIRED, **limits: Any) -> Any:
    """``doc[key]`` checked by :func:`check`; ``default`` when absent (absent and REQUIRED: an error).

    ``where`` prefixes the field in messages (``"trajectory[2]."``); ``limits`` go to :func:`check`.
    """
    if key not in doc:
        if default is REQUIRED:
            raise UserError(f"{path}: {where}{key} is missing")
        return default
    return check(doc[key], types, path, f"{where}{key}", **limits)


def label(doc: Any, key: str, default: str) -> str:
    """A value a reader only shows as text: a string or a number as text, anything else ``default``."""
    value = doc.get(key) if isinstance(doc, dict) else None
    if isinstance(value, str):
        return value
    if _is(value, float):
        return str(value)
    return default


def _read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; :class:`UserError` if unreadable or not UTF-8."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a {what} file (not UTF-8 text)") from None


def read_json(path: Path, what: str = "JSON") -> Any:
    """The parsed JSON of ``path``; :class:`UserError` if unreadable, not UTF-8 or not JSON."""
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{path} is not a {what} file ({' '.join(str(exc).split()) or 'nested too deeply'})") \
            from None


def read_json_lines(path: Path) -> Iterable[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of the JSON-lines file ``path``."""
    text = _read_text(path, "JSON-lines")
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except (ValueError, RecursionError):
                raise UserError(f"{path}, line {n}: not JSON") from None
    return out


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (no pickles); :class:`UserError` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise ValueError("a single array, not an .npz archive")
            return {k: np.asarray(f[k]) for k in f.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError) as exc:
        raise UserError(f"cannot read {path}: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def finite_array(arrays: dict[str, np.ndarray], key: str, path: Any, *, shape: Optional[tuple[int, ...]] = None,
                 ndim: Optional[int] = None, finite: bool = True, default: Any = REQUIRED) -> np.ndarray:
    """``arrays[key]`` as float64, refused unless real-valued (bool, integer or float), of ``shape``/``ndim``
    when given and, with ``finite``, free of NaN and ±inf."""
    if key not in arrays:
        if default is REQUIRED:
            raise UserError(f"{path}: array {key} is missing")
        return default
    arr = arrays[key]
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{path}: {key} must hold numbers, got dtype {arr.dtype}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise UserError(f"{path}: {key} has shape {tuple(arr.shape)}, expected {tuple(shape)}")
    if ndim is not None and arr.ndim != ndim:
        raise UserError(f"{path}: {key} must be {ndim}-D, got shape {tuple(arr.shape)}")
    out = arr.astype(np.float64)
    if finite and not np.isfinite(out).all():
        raise UserError(f"{path}: {key} holds NaN or inf")
    return out


def increasing_axis(arrays: dict[str, np.ndarray], key: str, path: Any, *, min_size: int = 1,
                    strict: bool = True) -> np.ndarray:
    """The 1-D coordinates ``arrays[key]``: finite, at least ``min_size`` of them, strictly increasing
    (non-decreasing when not ``strict``)."""
    arr = finite_array(arrays, key, path)
    if arr.ndim != 1 or arr.size < min_size:
        raise UserError(f"{path}: {key} must be a non-empty 1-D array of at least {min_size} coordinate(s), got "
                        f"shape {arr.shape}")
    steps = np.diff(arr)
    if (steps <= 0).any() if strict else (steps < 0).any():
        raise UserError(f"{path}: {key} must be {'strictly ' if strict else ''}increasing")
    return arr
