"""Evaluation data from whatever the caller holds, and its batches on the device.

``data`` may be (:func:`as_eval_data`):

* a :class:`~swa.data.TensorData` (the command line's data sets);
* ``(x, y)``: two tensors of the same length, put on the device once and cut into batches there;
* any re-iterable of batches: a ``DataLoader`` or a list yielding ``(x, y)`` pairs, dicts, or
  whatever a ``forward_fn`` takes. It is read once and its batches are kept on the device when they
  fit in :data:`~landscape.engine.budget.CACHE_FRACTION` of the device's free memory, so every point
  sees the same batches (random augmentation is drawn once: the landscape is of one fixed loss
  function) and no loader runs per point; otherwise it is read again at every pass, each batch moved to the device as it
  comes. A one-shot iterator or generator is refused: it would be empty after one pass;
* ``{"train": ..., "test": ...}`` of either form; ``test`` is optional (its metrics are then NaN).

A fixed random subset of ``n`` samples (:meth:`EvalData.sampled`, the API's and the command line's
``samples``; :meth:`Split.subset`, also for ``bn_samples``) is drawn from ``seed`` by one rule,
:func:`draw_indices`: the first ``n`` of ``torch.randperm(N)`` under ``torch.Generator().manual_seed(seed)``,
in increasing order, N the split's samples. It picks those positions of

* tensors: rows ``x[idx]``, ``y[idx]``;
* a ``DataLoader`` over a map-style dataset (with ``__len__``; the usual case): items ``dataset[i]``,
  served by a new unshuffled ``DataLoader`` with the loader's batch size, collate function, workers
  and pinning, so a shuffled loader gives the same subset at every call; for a loader over a
  ``TensorDataset(x, y)`` it is exactly the subset of the tensors ``(x, y)``;
* any other re-iterable of batches (a list, a loader with a batch sampler): the samples at those
  positions of one pass, read in order, each batch cut to its chosen rows along dim 0 (every tensor
  in it); a batch left without rows is dropped. Deterministic when the iterable yields the same
  batches in the same order at every pass (a list does).

Image tensors (4-D floating) are put in channels-last layout, given as tensors or in a source's
batches alike: oneDNN and cuDNN convolutions are faster in it (BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Mapping, Optional

import torch
from torch.utils.data import DataLoader, IterableDataset, Subset

from swa.data import CLASSIFICATION, REGRESSION, TensorData
from swa.checkpoint import tensor_bytes
from swa.devices import map_tensors, to_device
from landscape.engine.budget import CACHE_FRACTION, free_memory

__all__ = ["Split", "EvalData", "as_eval_data", "place", "draw_indices", "tensor_bytes"]


def place(batch: Any, device: torch.device, memory_format: torch.memory_format = torch.contiguous_format,
          dtype: Optional[torch.dtype] = None) -> Any:
    """``batch`` on ``device``; floating tensors cast to ``dtype`` if given, 4-D ones in ``memory_format``."""
    if dtype is None and memory_format == torch.contiguous_format:
        return to_device(batch, device)

    def one(t: torch.Tensor) -> torch.Tensor:
        t = to_device(t, device)
        if not t.is_floating_point():
            return t
        return (t.to(dtype) if dtype is not None else t).contiguous(
            memory_format=memory_format if t.dim() == 4 else torch.contiguous_format)

    return map_tensors(batch, one)


class _Batches:
    """A re-iterable view of a split's batches (each ``iter`` starts a new pass)."""

    def __init__(self, split: "Split", batch_size: int) -> None:
        self.split, self.batch_size = split, batch_size

    def __iter__(self) -> Iterator[Any]:
        return self.split.iter_batches(self.batch_size)

    def __len__(self) -> int:
        n = self.split.num_batches(self.batch_size)
        if n is None:
            raise TypeError("the number of batches of this source is not known before a pass")
        return n


@dataclass
class Split:
    """One split: tensors ``x``, ``y`` (cut into batches) or a re-iterable ``source`` of batches.

    ``device``, ``memory_format`` and ``dtype`` say where and how batches are delivered; tensors are
    moved there once by :meth:`placed`, the batches of a source one by one as they are read.
    """

    x: Optional[torch.Tensor] = None
    y: Optional[torch.Tensor] = None
    source: Optional[Iterable] = None
    device: torch.device = torch.device("cpu")
    memory_format: torch.memory_format = torch.contiguous_format
    dtype: Optional[torch.dtype] = None
    images: bool = False  # a source whose first batch holds a 4-D floating tensor (laid out channels-last)

    @property
    def is_tensors(self) -> bool:
        return self.source is None

    def __len__(self) -> int:
        """Samples (tensor splits only)."""
        if not self.is_tensors:
            raise TypeError("the size of a split given as batches is known only after a pass")
        return self.x.shape[0]

    def placed(self, device: torch.device | str, memory_format: torch.memory_format = torch.contiguous_format,
               dtype: Optional[torch.dtype] = None, cache: bool = True) -> "Split":
        """The split delivered on ``device``: tensors moved once; a source's batches cached there if they fit."""
        device = torch.device(device)
        if not self.is_tensors:
            placed = replace(self, device=device, memory_format=memory_format, dtype=dtype)
            cached = _cache(placed) if cache else None
            return placed if cached is None else replace(placed, source=cached)
        x, y = place(self.x, device, memory_format, dtype), place(self.y, device, dtype=dtype)
        return replace(self, x=x, y=y, device=device, memory_format=memory_format, dtype=dtype)

    def subset(self, n: Optional[int], seed: int) -> "Split":
        """A fixed random subset of ``n`` samples in their original order (``self`` if ``n`` is None or not
        smaller than the split), by the rule of :func:`draw_indices` (see the module docstring for sources).

        Raises:
            ValueError: ``n`` < 1, or a source whose batches do not hold their samples along dim 0.
        """
        if n is None:
            return self
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"a sample subset needs a positive number of samples, got {n!r}")
        n = int(n)
        if not self.is_tensors:
            source = _source_subset(self.source, n, seed)
            return self if source is None else replace(self, source=source)
        if n >= len(self):
            return self
        idx = draw_indices(len(self), n, seed)
        return replace(self, x=self.x[idx.to(self.x.device)], y=self.y[idx.to(self.y.device)])

    def count(self) -> int:
        """Samples: the tensors' length, or (for a source) the samples of one pass, counted by reading it."""
        if self.is_tensors:
            return len(self)
        loader = _map_style_loader(self.source)
        if loader is not None and not loader.drop_last:
            return len(loader.dataset)
        return sum(_batch_len(b) for b in self.source)

    def head(self, n: int) -> "Split":
        """The first ``n`` samples (tensor splits), e.g. for a timing probe."""
        return replace(self, x=self.x[:n], y=self.y[:n])

    def iter_batches(self, batch_size: int) -> Iterator[Any]:
        """One pass: ``(x, y)`` slices of a tensor split, or the source's batches placed on the device."""
        if self.is_tensors:
            for start in range(0, len(self), batch_size):
                yield self.x[start:start + batch_size], self.y[start:start + batch_size]
        else:
            for batch in self.source:
                yield place(batch, self.device, self.memory_format, self.dtype)

    def batches(self, batch_size: int) -> _Batches:
        """A re-iterable of the split's batches (see :meth:`iter_batches`)."""
        return _Batches(self, batch_size)

    def num_batches(self, batch_size: int) -> Optional[int]:
        """Batches in one pass (``None`` for a source without a length)."""
        if self.is_tensors:
            return -(-len(self) // batch_size)
        return len(self.source) if hasattr(self.source, "__len__") else None

    def is_one_batch(self, batch_size: int) -> bool:
        return self.num_batches(batch_size) == 1

    def describe(self) -> dict[str, Any]:
        if self.is_tensors:
            return {"samples": len(self), "input_shape": list(self.x.shape[1:]), "sha256": _digest(self.x, self.y)}
        info: dict[str, Any] = {"batches_from": type(self.source).__name__}
        if hasattr(self.source, "__len__"):
            info["batches"] = len(self.source)
        return info


def draw_indices(total: int, n: int, seed: int) -> torch.Tensor:
    """The fixed random subset's positions: the first ``n`` of ``randperm(total)`` drawn with ``seed``, sorted."""
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def _batch_len(batch: Any) -> int:
    """Samples in a batch: the length along dim 0 of its first tensor (every tensor must share it)."""
    sizes: list[int] = []
    map_tensors(batch, lambda t: sizes.append(t.shape[0] if t.dim() else -1) or t)
    if not sizes or min(sizes) < 0 or len(set(sizes)) != 1:
        raise ValueError(f"a sample subset of batches needs batches whose tensors all hold the samples along dim 0, "
                         f"got a {type(batch).__name__} with {'no tensors' if not sizes else f'lengths {sizes}'}")
    return sizes[0]


def _map_style_loader(source: Iterable) -> Any:
    """``source`` if it is a ``DataLoader`` with a batch size over a dataset with a length, else ``None``."""
    if isinstance(source, DataLoader) and source.batch_size is not None \
            and not isinstance(source.dataset, IterableDataset) and hasattr(source.dataset, "__len__"):
        return source
    return None


def _source_subset(source: Iterable, n: int, seed: int) -> Optional[Iterable]:
    """``n`` samples of a source by the rule of the module docstring; ``None`` if it has no more than ``n``."""
    if _map_style_loader(source) is not None:
        total = len(source.dataset)
        if n >= total:
            return None
        idx = draw_indices(total, n, seed).tolist()
        return DataLoader(Subset(source.dataset, idx), batch_size=source.batch_size, shuffle=False,
                          collate_fn=source.collate_fn, num_workers=source.num_workers, pin_memory=source.pin_memory,
                          drop_last=False)
    batches = list(source)
    sizes = [_batch_len(b) for b in batches]
    total = sum(sizes)
    if n >= total:
        return None
    keep = draw_indices(total, n, seed)
    out, start = [], 0
    for batch, size in zip(batches, sizes):
        rows = keep[(keep >= start) & (keep < start + size)] - start
        start += size
        if len(rows):
            out.append(map_tensors(batch, lambda t, rows=rows: t[rows.to(t.device)]))
    return out


def _nbytes(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.numel() * batch.element_size()
    if isinstance(batch, dict):
        return sum(_nbytes(v) for v in batch.values())
    if isinstance(batch, (tuple, list)):
        return sum(_nbytes(v) for v in batch)
    return 0


def _cache(split: Split) -> Optional[list]:
    """The source's batches read once onto the device, or ``None`` if they would take too much memory."""
    limit = CACHE_FRACTION * free_memory(split.device)
    batches, total = [], 0
    for batch in split.iter_batches(0):
        total += _nbytes(batch)
        if total > limit:
            return None
        batches.append(batch)
    return batches


@dataclass
class EvalData:
    """Train and (optional) test splits, the task when the targets tell it (``None`` otherwise), and the
    record of the sample subset they were cut to (``sample``, by :meth:`sampled`; ``None``: all samples)."""

    train: Split
    test: Optional[Split] = None
    task: Optional[str] = None
    sample: Optional[dict[str, Any]] = None

    @property
    def image_like(self) -> bool:
        """4-D training inputs (tensors), or a source whose batches hold 4-D floating tensors: evaluated in
        channels-last layout either way, so that a DataLoader and tensors run the same kernels."""
        return self.train.x.dim() == 4 if self.train.is_tensors else self.train.images

    def sampled(self, samples: Optional[int], seed: int) -> "EvalData":
        """A fixed random subset of ``samples`` training samples and of min(``samples``, test size) test samples,
        drawn from ``seed`` (:meth:`Split.subset`, the rule of the module docstring); ``self`` if ``samples`` is
        None. ``sample`` records it: ``{"samples", "seed", "train": [kept, of], "test": [kept, of]}``.

        Raises:
            ValueError: ``samples`` < 1; batches that cannot be cut (:meth:`Split.subset`).
        """
        if samples is None:
            return self
        if isinstance(samples, bool) or not isinstance(samples, numbers.Integral) or samples < 1:
            raise ValueError(f"samples must be a positive integer, got {samples!r}")
        samples = int(samples)
        record: dict[str, Any] = {"samples": samples, "seed": seed}
        splits = []
        for name, split in (("train", self.train), ("test", self.test)):
            if split is None:
                splits.append(None)
                continue
            total = split.count()
            part = split.subset(samples, seed)
            record[name] = [min(samples, total), total]
            splits.append(part)
        return replace(self, train=splits[0], test=splits[1], sample=record)

    def sample_line(self) -> Optional[str]:
        """One line naming the subset (``None`` without one)."""
        r = self.sample
        if r is None:
            return None
        test = f" and {r['test'][0]:,} of {r['test'][1]:,} test" if r.get("test") else ""
        return (f"samples: a fixed random subset of {r['train'][0]:,} of {r['train'][1]:,} training{test} samples "
                f"(seed {r['seed']})")

    def describe(self) -> dict[str, Any]:
        return {"train": self.train.describe(), "test": None if self.test is None else self.test.describe(),
                "task": self.task}


def _digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(tensor_bytes(t))
    return h.hexdigest()


def _task_of(y: Any) -> Optional[str]:
    if not isinstance(y, torch.Tensor):
        return None
    return REGRESSION if y.is_floating_point() else CLASSIFICATION


def _split(obj: Any, name: str) -> tuple[Split, Optional[str]]:
    if isinstance(obj, (tuple, list)) and len(obj) == 2 and all(isinstance(t, torch.Tensor) for t in obj):
        x, y = obj
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name} inputs and targets differ in length: {x.shape[0]} vs {y.shape[0]}")
        if x.shape[0] == 0:
            raise ValueError(f"the {name} split is empty")
        return Split(x=x.detach(), y=y.detach()), _task_of(y)
    if isinstance(obj, torch.Tensor) or isinstance(obj, (str, bytes)) or not isinstance(obj, Iterable):
        raise TypeError(f"{name} data must be an (x, y) pair of tensors or an iterable of batches, got "
                        f"{type(obj).__name__}")
    if iter(obj) is obj:
        raise TypeError(f"{name} data is a one-shot iterator ({type(obj).__name__}), which would be empty after "
                        "one pass; pass a list or a DataLoader")
    first = next(iter(obj), None)
    if first is None:
        raise ValueError(f"the {name} split has no batches")
    task = _task_of(first[1]) if isinstance(first, (tuple, list)) and len(first) == 2 else None
    dims: list[bool] = []
    map_tensors(first, lambda t: dims.append(t.dim() == 4 and t.is_floating_point()) or t)
    return Split(source=obj, images=any(dims)), task


def as_eval_data(data: Any) -> EvalData:
    """Normalize the forms listed in the module docstring to :class:`EvalData`.

    Raises:
        TypeError, ValueError: a form not listed, tensors of different lengths, an empty split.
    """
    if isinstance(data, EvalData):
        return data
    if isinstance(data, TensorData):
        return EvalData(Split(x=data.x_train, y=data.y_train), Split(x=data.x_test, y=data.y_test), data.task)
    if isinstance(data, Mapping):
        unknown = set(data) - {"train", "test"}
        if "train" not in data or unknown:
            raise ValueError(f"a data dict needs the key 'train' (and optionally 'test'), got keys {sorted(data)}")
        train, task = _split(data["train"], "train")
        test = _split(data["test"], "test")[0] if data.get("test") is not None else None
        return EvalData(train, test, task)
    train, task = _split(data, "train")
    return EvalData(train, None, task)
