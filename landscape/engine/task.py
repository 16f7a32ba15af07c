"""Run a :class:`Task` (the in-memory computation) into a :class:`~landscape.results.store.ResultStore`.

The order is fixed and short: the geometry module has already built the task (inputs
validated, size checked by :func:`budget_for` before any array exists, points as affine
families); :func:`run_task` checks its size, joins the
process group for the duration of a ``with`` block, builds the functional evaluator
(data moved to the device only now), opens the store (in memory, or a directory that a
re-run resumes when its resume key matches) and drives the evaluator over the pending
points (``landscape.engine.loop``). The command line and the Python API both come through here.

The resume key (``inputs``) holds what determines the values: the checkpoints' digests
(from the file, or from the tensors for in-memory states), the grid, the evaluation
settings, the model and data descriptions (with the loss's name), and the sample subset
(``sample``) when the data were cut to one (``samples=`` / ``--samples``). A ``forward_fn``'s
extra metrics are learnt from one batch before the points are evaluated
(``Evaluator.find_extras``) and become more arrays of the store. The device is not part of the
key (the values do not depend on it beyond rounding), but the sidecar's ``evaluation`` records
the device and its name the batch sizes were chosen on: a run resumed on another kind of device
chooses them again rather than reuse them. The evaluation runs with freed CPU memory kept for
reuse (``landscape.engine.allocator``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from swa.devices import resolve_device
from landscape.engine.allocator import reuse_freed_memory
from landscape.engine.budget import check_budget
from landscape.engine.data import EvalData
from landscape.engine.distributed import process_group
from landscape.engine.evaluator import METRICS, AffineFamily, Evaluator
from landscape.engine.forward import Forward
from landscape.engine import progress as progress_lines
from landscape.engine.loop import run_points
from landscape.engine.self_check import CheckPoint, self_check
from landscape.engine.settings import Settings
from landscape.results.store import ResultStore, normalize_inputs
from landscape.engine.probe import DEFAULT_BATCH_SIZE, device_name, probe_samples
from landscape.engine.weights import ParamSelector, ParamSpace
from swa.errors import UserError

__all__ = ["Job", "Task", "Outcome", "run_task", "resume_key", "space_of", "budget_for", "Budget"]


@dataclass(frozen=True)
class Job:
    """What a computation evaluates, and how, passed whole from the API or the command line down to
    :func:`run_task`: the architecture (never changed: evaluation works on a private copy), the data, the loss
    definition, the settings, what the sidecar says about them (``about``, part of the resume key), which
    parameters span the space (``params``: a regex, a predicate or ``Params``) and where info lines go."""

    model: nn.Module
    data: EvalData
    forward: Forward
    settings: Settings
    about: dict
    params: ParamSelector = None
    log: Callable[[str], None] = print


@dataclass
class Task:
    """Points to evaluate and what their result file holds.

    Args:
        name: file stem and command (``plane``, ``interp``, ``rays``).
        shape: shape of every metric array; the families' points fill it in flat order.
        families: the points, as affine families.
        bn: the resolved BN strategy name (the families were built for it).
        inputs: what determines the values, besides settings, model and data (resume key).
        extra: fixed arrays of the result file (axes, anchors, ...).
        sidecar: more sidecar fields (labels, paths, units).
        directions: columns of the coordinates (for the size check).
        checks: the points the result is built from (anchors, center, ray origins), evaluated once more
            by the engine and by a plain forward pass (``landscape.engine.self_check``).
    """

    name: str
    shape: tuple[int, ...]
    families: list[AffineFamily]
    bn: str
    inputs: dict[str, Any]
    extra: dict[str, np.ndarray]
    sidecar: dict[str, Any] = field(default_factory=dict)
    directions: int = 1
    checks: list[CheckPoint] = field(default_factory=list)

    @property
    def points(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Outcome:
    store: ResultStore
    stats: dict
    is_main: bool  # False on the other ranks under torchrun: they hold partial values


def space_of(model: nn.Module, params: ParamSelector = None) -> ParamSpace:
    """:meth:`ParamSpace.of`, with a selection that matches nothing reported as a :class:`UserError`."""
    try:
        return ParamSpace.of(model, params)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _samples(data: EvalData) -> int:
    n = 0
    for split in (data.train, data.test):
        if split is not None and split.is_tensors:
            n += len(split)
    return n


Budget = Callable[[str, int, int], None]


def budget_for(space: ParamSpace, data: EvalData, settings: Settings) -> Budget:
    """``budget(command, points, directions)``: refuses too large a computation before its arrays exist
    (``landscape.engine.budget.check_budget``); the geometry calls it as soon as it knows the size."""
    return lambda command, points, directions: check_budget(
        command, points, directions=directions, parameters=space.num_params, samples=_samples(data),
        batch_size=settings.batch_size or DEFAULT_BATCH_SIZE, max_points=settings.max_points)


def resume_key(*parts: dict[str, Any], data: Optional[EvalData] = None,
               space: Optional[ParamSpace] = None) -> dict[str, Any]:
    """A resume key (a sidecar's ``inputs``), built here only, for every result the toolkit resumes: the grid
    results of :func:`run_task`, sharpness (``landscape.curvature.sharpness``) and a plane's directions
    (``landscape.compute.around_plane``). ``parts`` are merged in order: what the computation describes of itself
    (command, points, axes, directions), ``about`` (model, data and loss descriptions) and the settings that
    change the numbers. Added here: the sample subset when the data were cut to one (``samples=``,
    :meth:`EvalData.sampled`) and the parameter selection when there is one. The key is JSON-normalized
    (:func:`~landscape.results.store.normalize_inputs`), so a stored key compares equal; a re-run whose key
    equals the stored one resumes."""
    inputs: dict[str, Any] = {}
    for part in parts:
        inputs.update(part)
    if data is not None and data.sample is not None:  # the subset of samples=: other values, other key
        inputs["sample"] = data.sample
    if space is not None and space.selection is not None:
        inputs["params"] = space.selection
    return normalize_inputs(inputs)


def run_task(task: Task, model: nn.Module, data: EvalData, forward: Forward, space: ParamSpace,
             settings: Settings, *, about: dict[str, Any], out: Optional[str | Path] = None,
             log: Callable[[str], None] = print) -> Outcome:
    """Evaluate every pending point of ``task``; ``about`` describes model and data for the resume key.

    Raises:
        StaleResultsError: results of other inputs in ``out`` (unless ``settings.overwrite``).
    """
    inputs = resume_key({"command": task.name}, about, settings.inputs(model), task.inputs, data=data, space=space)
    sidecar = {"settings": settings.to_json(), "bn_mode": task.bn, "space": space.describe(), **task.sidecar}
    store = ResultStore(out, task.name, task.shape, METRICS, inputs, task.extra, sidecar,
                        overwrite=settings.overwrite)
    if not settings.self_check:
        store.sidecar["self_check"] = {"skipped": True}  # timing the engine alone
    with process_group(resolve_device(settings.device)) as dist, reuse_freed_memory(dist.device):
        cached = _cached_choice(store.previous.get("evaluation"), dist.device) if settings.batch_size is None else {}
        evaluator = Evaluator(model, data, forward, space, device=dist.device, bn=task.bn,
                              bn_samples=settings.bn_samples, bn_pass=settings.bn_pass,
                              batch_size=settings.batch_size or cached.get("batch_size"),
                              bn_batch_size=cached.get("bn_batch_size"), precision=settings.precision,
                              seed=settings.seed)
        if forward.forward_fn is not None:  # its extra metrics, if any, are more arrays of the result
            store.add_extras(evaluator.find_extras(task.families[0]))
        if len(store.pending):
            tuned = {**evaluator.tune(task.families[0], settings.chunk), "device": str(dist.device),
                     "device_name": device_name(dist.device)}
            chosen = dist.all_gather(tuned)[0]  # every rank uses rank 0's choice
            evaluator.batch_size, evaluator.bn_batch_size = chosen["batch_size"], chosen["bn_batch_size"]
            store.sidecar["evaluation"] = {**cached, **chosen}
        main_log = log if dist.is_main else (lambda _: None)
        _note_cost(task.name, len(store.pending), evaluator, cached.get("probe_seconds"), dist.world, main_log)
        _note_bn_cost(model, evaluator, settings, main_log)
        stats = run_points(evaluator, task.families, store, chunk=settings.chunk, dist=dist,
                           progress=settings.progress, log=log)
        if task.checks and settings.self_check and dist.is_main:
            _check_store(store, task, evaluator, model, forward, settings, fresh=bool(stats["computed"]))
    store.compute_seconds = store.seconds_before + stats["seconds"]
    return Outcome(store=store, stats=stats, is_main=dist.is_main)


def _cached_choice(previous: Any, device) -> dict:
    """The batch sizes a resumed result recorded (``evaluation``), if they were chosen on the same kind of
    device (type and name) as ``device``; else ``{}``, and they are chosen again."""
    if not isinstance(previous, dict):
        return {}
    recorded = str(previous.get("device", ""))
    if recorded.split(":")[0] != device.type or previous.get("device_name") != device_name(device):
        return {}
    return previous


def _check_store(store: ResultStore, task: Task, evaluator: Evaluator, model: nn.Module, forward: Forward,
                 settings: Settings, fresh: bool) -> None:
    """Record the self-check in the sidecar: computed when points were computed now (or the file has none),
    else the one found when resuming a finished result."""
    previous = store.previous.get("self_check")
    if fresh or not isinstance(previous, dict):
        offsets = np.cumsum([0] + [len(f) for f in task.families])

        def computed(family: int, coords: tuple[float, ...]) -> Optional[np.ndarray]:
            rows = np.flatnonzero((task.families[family].coords == np.asarray(coords)).all(axis=1))
            flat = [offsets[family] + r for r in rows if store.done.reshape(-1)[offsets[family] + r]]
            return np.array([store.values[m].reshape(-1)[flat[0]] for m in METRICS]) if flat else None

        store.sidecar["self_check"] = self_check(task.checks, task.families, evaluator, model, forward, settings,
                                                 computed=computed)
        store.save()
    else:
        store.sidecar["self_check"] = previous


def _note_cost(name: str, points: int, evaluator: Evaluator, cached_probe: Optional[dict], world: int,
               log: Callable[[str], None]) -> None:
    """Before long work, one line with its cost (``landscape.engine.progress.cost_line``), the time estimated from the
    batch-size probe (this run's, else the one a resumed result recorded); only when the estimate exceeds
    ``COST_LINE_MIN_SECONDS`` and the data are tensors (whose sizes are known)."""
    probe = evaluator.probe_seconds or {int(k): float(v) for k, v in (cached_probe or {}).items()}
    train, test, bn_data = evaluator.train, evaluator.test, evaluator.bn_data
    if not points or not probe or not train.is_tensors or (test is not None and not test.is_tensors):
        return
    bn = len(bn_data) if evaluator.bn == "recompute" and bn_data.is_tensors else None
    n_test = len(test) if test is not None else 0
    probe_time = probe.get(evaluator.batch_size, min(probe.values()))
    per_sample = probe_time / min(probe_samples(evaluator.device), len(train))
    per_point = per_sample * ((bn or 0) + len(train) + n_test)
    if points * per_point / max(1, world) > progress_lines.COST_LINE_MIN_SECONDS:
        log(progress_lines.cost_line(name, points, bn_samples=bn, train=len(train), test=n_test,
                                     seconds_per_point=per_point, world=world))


def _note_bn_cost(model: nn.Module, evaluator: Evaluator, settings: Settings, log: Callable[[str], None]) -> None:
    n_bn = sum(isinstance(m, _BatchNorm) for m in model.modules())
    data = evaluator.bn_data
    if evaluator.bn == "recompute" and settings.bn_pass == "exact" and n_bn > 8 and data.is_tensors \
            and len(data) > (evaluator.bn_batch_size or len(data)):
        log(f"note: exact BatchNorm statistics take about {n_bn // 2} passes over {len(data)} inputs per point "
            f"({n_bn} BatchNorm layers; {evaluator.bn_batch_size} fit in memory at once); --bn-pass single-pass "
            "takes one, --bn-samples N fewer inputs")
