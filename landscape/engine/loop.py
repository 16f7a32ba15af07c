"""Drive an :class:`~landscape.engine.evaluator.Evaluator` over the pending points of a :class:`~landscape.results.store.ResultStore`.

The store's flat index order is the concatenation of the families' rows. Points
are processed in chunks; after a chunk the results are saved (by rank 0 under
``torchrun``) unless the last save was less than ``SAVE_RATIO`` times its own
duration ago, so saving a large result file takes at most about 1/``SAVE_RATIO``
of the time while small ones are saved after every chunk. The last chunk is always
saved; an interrupted run loses only what was computed since the last save, and a
re-run skips what is done.

Progress: a ``tqdm.auto`` bar where one shows (a terminal, a notebook); else, as when
stderr goes to a log file, plain lines (``landscape.engine.progress.ProgressLines``); nothing
with ``progress=False`` or on the other ranks under ``torchrun``.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import numpy as np
from tqdm.auto import tqdm

from landscape.engine.distributed import Dist
from landscape.engine.evaluator import AffineFamily, Evaluator
from landscape.engine.progress import ProgressLines, use_bar
from landscape.results.store import ResultStore

__all__ = ["run_points", "SAVE_RATIO"]

SAVE_RATIO = 10.0


def run_points(evaluator: Evaluator, families: Sequence[AffineFamily], store: ResultStore, *, chunk: int = 16,
               dist: Optional[Dist] = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Evaluate every pending point; returns ``{"computed", "skipped", "seconds"}``.

    Raises:
        ValueError: ``chunk`` < 1 or families that do not cover the store.
    """
    dist = dist or Dist()
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    sizes = [len(f) for f in families]
    if sum(sizes) != store.done.size:
        raise ValueError(f"the families hold {sum(sizes)} points but the store has {store.done.size}")
    offsets = np.cumsum([0] + sizes)
    families = [f.to(evaluator.device) for f in families]
    pending = store.pending
    skipped = store.done.size - len(pending)
    if skipped and dist.is_main:
        log(f"resuming {store.npz}: {skipped} of {store.done.size} points already done, skipping them")
    mine = pending[dist.rank::dist.world]
    rounds = math.ceil(math.ceil(len(pending) / dist.world) / chunk) if len(pending) else 0
    started = time.perf_counter()
    last_save, save_cost = -math.inf, 0.0
    bar = _progress(store.name, len(pending), progress and dist.is_main and len(pending) > 0)
    for r in range(rounds):
        idx = mine[r * chunk:(r + 1) * chunk]
        values = np.zeros((0, len(store.metrics)))
        if len(idx):
            fam = np.searchsorted(offsets, idx, side="right") - 1
            values = np.concatenate([evaluator.evaluate_rows(families[f], idx[fam == f] - offsets[f])
                                     for f in np.unique(fam)])
            idx = np.concatenate([idx[fam == f] for f in np.unique(fam)])
        gathered = dist.all_gather((idx, values))
        if dist.is_main:
            for g_idx, g_values in gathered:
                if len(g_idx):
                    store.update(g_idx, g_values)
            now = time.perf_counter()
            if r == rounds - 1 or now - last_save >= SAVE_RATIO * save_cost:
                store.save()
                last_save = time.perf_counter()
                save_cost = last_save - now
            bar.update(sum(len(g) for g, _ in gathered))
    bar.close()
    dist.barrier()
    return {"computed": len(pending), "skipped": skipped, "seconds": time.perf_counter() - started}


def _progress(name: str, total: int, show: bool):
    """A tqdm bar where one shows, plain lines where it does not, nothing when not ``show``."""
    if not show:
        return tqdm(total=total, disable=True)
    if use_bar():
        return tqdm(total=total, desc=name, unit="pt", disable=False)
    return ProgressLines(name, total)
