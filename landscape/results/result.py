"""What a landscape computation returns: the metric arrays, in memory, savable as the command line's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from landscape.results.store import ResultStore

__all__ = ["Result"]


class Result:
    """Base of the plane, line and ray results.

    ``result["train_loss"]`` is a metric array (NaN where not computed); ``result.sidecar`` the
    metadata; ``result.save(out)`` writes ``NAME.npz`` and ``NAME.json`` exactly as the command line
    does (``swa-landscape plot`` draws them).
    """

    store: ResultStore
    stats: dict
    is_main: bool

    def __getitem__(self, metric: str) -> np.ndarray:
        try:
            return self.store.values[metric]
        except KeyError:
            raise KeyError(f"no metric {metric!r}; metrics are {', '.join(self.store.metrics)}") from None

    def keys(self) -> tuple[str, ...]:
        return self.store.metrics

    @property
    def done(self) -> np.ndarray:
        return self.store.done

    @property
    def sidecar(self) -> dict[str, Any]:
        return {"inputs": self.store.inputs, **self.store.sidecar}

    @property
    def path(self) -> Optional[Path]:
        """The npz file, once saved (or when computed into a directory)."""
        return self.store.npz

    def save(self, out: str | Path, overwrite: bool = False) -> Path:
        """Write ``out/NAME.npz`` and ``out/NAME.json``; returns the npz path.

        Raises:
            StaleResultsError: ``out`` holds results of other inputs (pass ``overwrite=True`` to replace them).
        """
        if not self.is_main:
            raise RuntimeError("only rank 0 holds the whole result under torchrun")
        return self.store.save_as(out, overwrite=overwrite)

    def __repr__(self) -> str:
        shape = "×".join(map(str, self.store.shape))
        return f"<{type(self).__name__} {shape} points, {int(self.store.done.sum())} done, metrics {list(self.keys())}>"
