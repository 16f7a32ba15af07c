"""Results that check themselves: the points a result is built from, evaluated once more outside the engine.

"My plot doesn't match the paper" is the reference projects' second most common thread. Every
plane, line and ray result therefore re-evaluates its anchors (or its center, or its ray origins) in
two ways and records how far apart they are, in the sidecar under ``self_check``:

* ``engine``: the batched evaluator at the check point's coordinates, exactly as every grid point is
  evaluated (functional call on the private copy, chunking, ``vmap``, the result's precision, its BN
  subset);
* ``reference``: a plain forward pass, written the slow obvious way: a fresh copy of the model,
  ``load_state_dict`` of the checkpoint, BatchNorm per the result's mode over *all* training inputs
  (``recompute``: ``swa.bn.update_bn_exact`` with the result's pass; ``fixed``: the first point's
  buffers, as the engine uses them; ``interpolate``: the checkpoint's own), ``eval()``, fp32 with TF32
  off, one loop over the batches.

The recorded difference is, per metric m, |engine_m − reference_m| / max(|reference_m|, 1e-12), and
its maximum over the metrics and check points. Past :data:`TOLERANCE` (1e-4) the result warns, naming
the likely cause from what differs between the two: reduced precision, a BatchNorm subset, a data
pipeline that changes between passes (augmentation, random transforms), or, when none of these
applies, the model behaving differently between passes (a train/eval difference) or the BN mode.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import numpy as np
import torch
import torch.nn as nn

from landscape.engine.evaluator import METRICS, AffineFamily
from landscape.engine.forward import split_metrics
from landscape.engine.precision import precision_scope
from landscape.engine.probe import DEFAULT_BATCH_SIZE
from swa.bn import update_bn_exact

if TYPE_CHECKING:  # pragma: no cover
    from landscape.engine.evaluator import Evaluator
    from landscape.engine.forward import Forward
    from landscape.engine.settings import Settings

__all__ = ["CheckPoint", "TOLERANCE", "self_check", "describe_check"]

TOLERANCE = 1e-4


@dataclass
class CheckPoint:
    """A point a result is built from: ``label``, the checkpoint ``state`` (full state dict), the point's
    ``coords`` in family ``family``; ``params`` overrides the state's spanned parameters (a point that is no
    checkpoint, such as a trajectory's mean)."""

    label: str
    state: dict[str, torch.Tensor]
    coords: tuple[float, ...]
    family: int = 0
    params: Optional[torch.Tensor] = None


def _reference_state(point: CheckPoint, family: AffineFamily, evaluator: "Evaluator") -> dict[str, torch.Tensor]:
    """The state the plain pass loads: the checkpoint's, with the engine's frozen parameters and, where the
    buffers do not follow the point (``fixed``), the family's buffers."""
    state = {k: v.detach().cpu() for k, v in point.state.items()}
    if point.params is not None:
        state.update({k: v.detach().cpu() for k, v in evaluator.space.split(point.params).items()})
    state.update({k: v.detach().cpu() for k, v in family.frozen.items()})
    if evaluator.bn == "fixed":
        state.update({k: v.detach().cpu() for k, v in evaluator.buffer_weights(family.buffer_base).items()})
    return state


def plain_metrics(net: nn.Module, state: dict[str, torch.Tensor], evaluator: "Evaluator",
                  forward: "Forward", bn: str, bn_pass: str) -> np.ndarray:
    """``[train_loss, train_acc, test_loss, test_acc]`` of ``net`` (a private copy of the model on the evaluator's
    device, overwritten here) loaded with ``state``, the plain way."""
    own = net.state_dict()
    net.load_state_dict({k: state[k].to(own[k].dtype) if k in state else v for k, v in own.items()})
    net.requires_grad_(False)
    batch = evaluator.batch_size or DEFAULT_BATCH_SIZE
    with precision_scope(evaluator.device, "fp32"), torch.no_grad():
        if bn == "recompute":
            size = evaluator.bn_batch_size or (len(evaluator.train) if evaluator.train.is_tensors else 1)
            update_bn_exact(net, evaluator.train.batches(size), mode=bn_pass, device=evaluator.device,
                            call=lambda b: forward.run(net, b))
        net.eval()
        out = []
        for split in (evaluator.train, evaluator.test):
            if split is None:
                out += [float("nan"), float("nan")]
            else:
                out += list(split_metrics(lambda b: forward(net, b), split.batches(batch)))
    return np.array(out, dtype=np.float64)


def _engine_metrics(evaluator: "Evaluator", family: AffineFamily, coords: tuple[float, ...]) -> np.ndarray:
    one = AffineFamily(family.base, family.directions, np.asarray([coords], dtype=np.float64), family.buffer_base,
                       family.buffer_directions, family.frozen)
    return evaluator.evaluate_rows(one, np.array([0]))[0][:len(METRICS)]  # not a forward_fn's extra metrics


def _rel(engine: np.ndarray, reference: np.ndarray) -> np.ndarray:
    diff = np.abs(engine - reference) / np.maximum(np.abs(reference), 1e-12)
    same = (engine == reference) | (np.isnan(engine) & np.isnan(reference))  # NaN accuracy: not counted on both
    return np.where(same, 0.0, diff)


def likely_causes(settings: "Settings", evaluator: "Evaluator") -> list[str]:
    """What differs between the engine and the plain pass, most likely first."""
    causes = []
    if settings.precision != "fp32":
        causes.append(f"reduced precision (--precision {settings.precision}; fp32 is the reference)")
    if evaluator.bn == "recompute" and settings.bn_samples is not None:
        causes.append(f"BatchNorm statistics from a subset of {settings.bn_samples} training inputs (--bn-samples)")
    if not evaluator.train.is_tensors:
        causes.append("a data pipeline that changes between passes (augmentation or random transforms in the "
                      "DataLoader; evaluate on fixed tensors)")
    if not causes:
        causes.append(f"the model behaving differently between passes (a train/eval difference such as a layer "
                      f"left stochastic) or the BN mode ({evaluator.bn})")
    return causes


def self_check(points: list[CheckPoint], families: list[AffineFamily], evaluator: "Evaluator", model: nn.Module,
               forward: "Forward", settings: "Settings", warn: Optional[Callable[[str], None]] = None,
               computed: Optional[Callable[[int, tuple[float, ...]], Optional[np.ndarray]]] = None) -> dict[str, Any]:
    """Evaluate each check point by the engine and by a plain pass; the sidecar's ``self_check`` entry.

    ``computed(family, coords)`` gives the engine's values of a point the result already holds (a line's
    ends on its grid, a ray's origin, a plane's center), which are then not evaluated again.

    Returns:
        ``{"tolerance", "max_rel_diff", "ok", "points": [{"label", "coords", "engine", "reference",
        "rel_diff"}], "causes"}`` (``causes`` only when not ``ok``); metric dicts keyed by
        :data:`~landscape.engine.evaluator.METRICS`.
    """
    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    entries, worst, worst_at = [], 0.0, None
    net = copy.deepcopy(model).to(evaluator.device)  # one private copy, loaded with each point's state
    defaults = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # for keys a state lacks
    for point in points:
        family = families[point.family].to(evaluator.device)
        engine = computed(point.family, point.coords) if computed is not None else None
        if engine is None:
            engine = _engine_metrics(evaluator, family, point.coords)
        reference = plain_metrics(net, {**defaults, **_reference_state(point, family, evaluator)}, evaluator, forward,
                                  evaluator.bn, settings.bn_pass)
        rel = _rel(engine, reference)
        finite = rel[np.isfinite(rel)]
        here = float(finite.max()) if finite.size else float("inf")
        if not finite.size or here > worst:
            worst, worst_at = here, point.label
        entries.append({"label": point.label, "coords": [float(c) for c in point.coords],
                        "engine": dict(zip(METRICS, map(float, engine))),
                        "reference": dict(zip(METRICS, map(float, reference))),
                        "rel_diff": float(here)})
    check: dict[str, Any] = {"tolerance": TOLERANCE, "max_rel_diff": worst, "ok": bool(worst <= TOLERANCE),
                             "points": entries}
    if not check["ok"]:
        check["causes"] = likely_causes(settings, evaluator)
        warn(f"self-check: at {worst_at} the landscape differs from a plain forward pass by {worst:.2g} "
             f"(relative, more than {TOLERANCE:g}); likely cause: {'; or '.join(check['causes'])}")
    return check


def describe_check(check: Optional[dict[str, Any]]) -> str:
    """The summary line's part: ``self-check 3e-08 (ok)``, or ``''`` when the result has none."""
    if not isinstance(check, dict) or not isinstance(check.get("max_rel_diff"), (int, float)):
        return ""
    verdict = "ok" if check.get("ok") else f"above {TOLERANCE:g}: see the warning"
    return f"; self-check {check['max_rel_diff']:.1g} ({verdict})"
