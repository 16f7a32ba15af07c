"""Result files that fill in as the computation goes: ``NAME.npz`` plus its ``NAME.json`` sidecar.

Metric arrays start as NaN and a boolean ``done`` array marks what was computed
(a computed loss may itself be inf/NaN far from the solution). A ``forward_fn``'s extra
metrics (:meth:`ResultStore.add_extras`) are more arrays, listed in the sidecar's
``extra_metrics`` (their names without the ``train_``/``test_`` prefix). After every chunk
both files are rewritten atomically. Opening a store whose sidecar records the
same inputs resumes it; different inputs are refused unless ``overwrite``.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np

from swa.errors import StaleResultsError, UserError
from swa.io import atomic_path, write_json
from swa.rundir import versions

__all__ = ["ResultStore", "StaleResultsError", "normalize_inputs", "read_matching_sidecar", "extra_metric_names"]


def extra_metric_names(extras: tuple[str, ...]) -> tuple[str, ...]:
    """The result's arrays of a ``forward_fn``'s extra metrics: ``train_<name>`` for each, then ``test_<name>``."""
    return tuple(f"train_{e}" for e in extras) + tuple(f"test_{e}" for e in extras)


def normalize_inputs(obj: Any) -> Any:
    """JSON round trip, so that stored and fresh inputs compare equal (tuples → lists, ...)."""
    return json.loads(json.dumps(obj, sort_keys=True))


def read_matching_sidecar(path: Path, inputs: dict[str, Any], what: str) -> dict[str, Any]:
    """The JSON file ``path`` if its ``inputs`` equal ``inputs``.

    Raises:
        UserError: unreadable; StaleResultsError: results of other inputs (the message names the keys
            that differ).
    """
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8 text
        raise UserError(f"cannot read {path} ({exc}); pass `overwrite=True` to start afresh") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("inputs", {}), dict):
        raise UserError(f"cannot read {path} (not a results sidecar); pass `overwrite=True` to start afresh")
    stored = meta.get("inputs", {})
    if stored != inputs:
        changed = sorted(k for k in set(stored) | set(inputs) if stored.get(k) != inputs.get(k))
        raise StaleResultsError(f"{path.parent} holds {what} results of other inputs (differs in: "
                        f"{', '.join(changed) or 'format'}); use another `out` or pass `overwrite=True`")
    return meta


class ResultStore:
    """Metric arrays of a fixed ``shape`` with a ``done`` mask, saved as ``out/name.npz`` + ``out/name.json``.

    Args:
        out: output directory; ``None`` keeps the results in memory (:meth:`save` does nothing until
            :meth:`save_as` names a directory).
        name: file stem (``plane``, ``interp``, ``rays``).
        shape: shape of every metric array.
        metrics: metric names.
        inputs: everything that determines the results (checkpoint hashes, grid, BN mode, data, ...);
            a later run resumes only if its inputs are equal.
        extra: fixed arrays written alongside (``alphas``, ``betas``, ``anchors``, ...).
        sidecar: more sidecar fields (labels, settings) that do not decide resumption.
        overwrite: start afresh even if the directory holds results of other inputs.
    """

    def __init__(self, out: Optional[str | Path], name: str, shape: tuple[int, ...], metrics: tuple[str, ...],
                 inputs: dict[str, Any], extra: dict[str, np.ndarray], sidecar: Optional[dict[str, Any]] = None,
                 overwrite: bool = False) -> None:
        self.name, self.shape, self.metrics = name, tuple(shape), tuple(metrics)
        self.base_metrics = self.metrics
        self._locate(out)
        self.inputs = normalize_inputs(inputs)
        self.extra = {k: np.asarray(v) for k, v in extra.items()}
        self.sidecar = dict(sidecar or {})
        self.values = {m: np.full(self.shape, np.nan) for m in self.metrics}
        self.done = np.zeros(self.shape, dtype=bool)
        self.seconds_before = 0.0
        self.started = time.perf_counter()
        self.resumed = 0
        self.compute_seconds: Optional[float] = None  # set when the computation ends (else: time since opened)
        self.previous: dict[str, Any] = {}  # the sidecar found when resuming
        if self.out is not None and self.json.exists() and not overwrite:
            self._resume()

    def _locate(self, out: Optional[str | Path]) -> None:
        self.out = None if out is None else Path(out)
        self.npz = None if out is None else self.out / f"{self.name}.npz"
        self.json = None if out is None else self.out / f"{self.name}.json"

    def _resume(self) -> None:
        meta = read_matching_sidecar(self.json, self.inputs, self.name)
        self.previous = meta
        if not self.npz.exists():
            return
        extras = meta.get("extra_metrics") or []
        if extras:
            self._set_extras(tuple(str(e) for e in extras))
        try:
            with np.load(self.npz) as f:
                for m in self.metrics:
                    self.values[m] = np.array(f[m], dtype=np.float64)
                self.done = np.array(f["done"], dtype=bool)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise UserError(f"cannot read {self.npz} ({reason}); pass `overwrite=True` to start afresh") from None
        if self.done.shape != self.shape:
            raise UserError(f"{self.npz} has shape {self.done.shape}, expected {self.shape}; pass `overwrite=True`")
        self.seconds_before = float(meta.get("timings", {}).get("compute_seconds", 0.0))
        self.resumed = int(self.done.sum())

    @property
    def extras(self) -> tuple[str, ...]:
        """A ``forward_fn``'s extra metric names (the arrays are ``train_<name>`` and ``test_<name>``)."""
        return tuple(self.sidecar.get("extra_metrics") or ())

    def _set_extras(self, extras: tuple[str, ...]) -> None:
        self.metrics = self.base_metrics + extra_metric_names(extras)
        self.values = {m: self.values.get(m, np.full(self.shape, np.nan)) for m in self.metrics}
        if extras:
            self.sidecar["extra_metrics"] = list(extras)
        else:
            self.sidecar.pop("extra_metrics", None)

    def add_extras(self, extras: tuple[str, ...]) -> None:
        """Hold the arrays of these extra metrics (NaN until computed) instead of any others.

        Raises:
            UserError: the results already hold points computed with other extra metrics.
        """
        extras = tuple(extras)
        if extras == self.extras:
            return
        if self.done.any():
            where = self.npz.parent if self.npz is not None else "the results"
            raise UserError(f"forward_fn returns the extra metrics ({', '.join(extras) or 'none'}) but {where} "
                            f"holds points computed with ({', '.join(self.extras) or 'none'}); use another out or "
                            "pass overwrite")
        self._set_extras(extras)

    @property
    def pending(self) -> np.ndarray:
        """Flat indices not yet computed, in order."""
        return np.flatnonzero(~self.done.reshape(-1))

    def update(self, flat_indices: np.ndarray, values: np.ndarray) -> None:
        """Record ``values`` (len(flat_indices), len(metrics)) at the flat indices."""
        for j, m in enumerate(self.metrics):
            self.values[m].reshape(-1)[flat_indices] = values[:, j]
        self.done.reshape(-1)[flat_indices] = True

    def save_as(self, out: str | Path, overwrite: bool = False) -> Path:
        """Write the results to ``out`` (from now on the store's directory); returns the npz path.

        Raises:
            StaleResultsError: ``out`` holds results of other inputs (unless ``overwrite``).
        """
        json_path = Path(out) / f"{self.name}.json"
        if json_path.exists() and not overwrite:
            read_matching_sidecar(json_path, self.inputs, self.name)
        self._locate(out)
        self.save()
        return self.npz

    def save(self) -> None:
        """Write the npz and the sidecar atomically (nothing for a store in memory)."""
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.npz) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **self.extra, **self.values, done=self.done)
        n_done = int(self.done.sum())
        write_json({
            "file": self.npz.name, "complete": bool(self.done.all()), "points_done": n_done,
            "points_total": int(self.done.size), "inputs": self.inputs, **self.sidecar,
            "versions": versions(),
            "timings": {"compute_seconds": self.compute_seconds if self.compute_seconds is not None
                        else self.seconds_before + time.perf_counter() - self.started},
        }, self.json)
