"""Sharpness of checkpoints side by side: the metric registry, the computation, ``sharpness.json`` and ``.md``.

Each metric of :data:`SHARPNESS_METRICS` is computed at each checkpoint on the training loss
(``landscape.curvature.objective.ModelObjective``: eval mode with the checkpoint's own stored BatchNorm
statistics, as PyHessian with ``model.eval()``, or with statistics recomputed once at the point when
asked; all training data or a fixed ``samples`` subset) and stored with its
settings and uncertainty. Results are saved atomically after every metric, so an
interrupted run resumes where it stopped.

.. note:: Raw Hessian eigenvalues and trace, ε-sharpness and the non-adaptive
   measures change under reparameterizations that leave the function unchanged
   (Dinh et al. 2017, "Sharp minima can generalize for deep nets"); the adaptive
   measures (Kwon et al. 2021; Andriushchenko et al. 2023) and filter-normalized
   directions are the scale-aware choices.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ItemsView, Iterator, KeysView, Optional, Sequence

import torch
import torch.nn as nn
from tqdm.auto import tqdm

from swa.devices import resolve_device
from swa.errors import UserError
from swa.io import write_json, write_text
from swa.rundir import versions
from landscape.engine.checks import arg
from landscape.curvature.eigenvectors import FILE as EIGENVECTORS_FILE, PointEigenvectors, save_eigenvectors
from landscape.engine.inputs import Checkpoint, Context
from landscape.engine.forward import Forward
from landscape.curvature.objective import ModelObjective
from landscape.engine.precision import precision_scope
from landscape.engine.settings import Settings
from landscape.engine.weights import ParamSelector
from landscape.results.metrics import METRICS
from landscape.results.store import read_matching_sidecar
from landscape.curvature import spectrum, measures as sharpness
from landscape.curvature.hessian import HessianOperator
from landscape.engine.task import resume_key, space_of

__all__ = ["SharpnessSettings", "sharpness_settings", "SharpnessResult", "SHARPNESS_METRICS", "DEFAULT_METRICS",
           "compute_sharpness", "measure_sharpness", "render_markdown", "DINH_NOTE", "BN_FIXED", "BN_RECOMPUTED"]

FORMAT = "swa-landscape-sharpness/1"
BN_FIXED = "checkpoint statistics (eval mode), as PyHessian"
BN_RECOMPUTED = "recomputed at the point on the training inputs (eval mode)"
DINH_NOTE = ("Raw Hessian eigenvalues and trace, epsilon-sharpness and the non-adaptive measures are not invariant "
             "to reparameterizations that leave the network function unchanged (Dinh et al. 2017); the adaptive "
             "measures and filter-normalized directions are the scale-aware choices.")


@dataclass(frozen=True)
class SharpnessSettings:
    """Settings of every metric (defaults in brackets); all are recorded in ``sharpness.json``.

    Args:
        top_k [5], lanczos_tol [1e-4]: Hessian top eigenvalues by Lanczos (``eigsh``).
        power_iters [100]: power iteration with deflation (metric ``hessian_top_eigenvalues_power``).
        trace_matvecs [30]: Hutch++ budget; Hutchinson uses the same number of probes.
        slq_runs [4], slq_steps [30]: stochastic Lanczos quadrature (``hessian_spectrum``).
        eps [(1e-3, 5e-4)], subspace_dim [100], lbfgs_maxiter [10]: Keskar ε-sharpness.
        rho_average [0.1], rho_average_plain [0.01]: average-case adaptive / non-adaptive sharpness.
        rho_worst_l2 [0.5], rho_worst_linf [0.01] (adaptive), rho_worst_l2_plain [0.05],
        rho_worst_linf_plain [0.001]: worst-case sharpness radii; mc_samples [32], pgd_steps [20].
        pac_target [0.1], pac_samples [16], pac_eps [1e-3], pac_bisection_steps [8]: PAC-Bayes flatness
            (8 halvings of a [σ, 2σ] bracket: σ to 0.4%).
        directions [10], max_distance [20], steps [21], delta [0.1]: ray width.
        samples [all]: training points used; batch_size [2048].
        bn_recompute [False]: the Hessian of the eval-mode network with the checkpoint's own BatchNorm
            statistics (what PyHessian computes with ``model.eval()``); True recomputes the statistics once
            at the point on the training inputs, which changes the function whose Hessian is taken
            (``bn`` in ``sharpness.json`` says which).
    """

    top_k: int = 5
    lanczos_tol: float = 1e-4
    power_iters: int = 100
    trace_matvecs: int = 30
    slq_runs: int = 4
    slq_steps: int = 30
    eps: tuple[float, ...] = (1e-3, 5e-4)
    subspace_dim: int = 100
    lbfgs_maxiter: int = 10
    rho_average: float = 0.1
    rho_average_plain: float = 0.01
    rho_worst_l2: float = 0.5
    rho_worst_linf: float = 0.01
    rho_worst_l2_plain: float = 0.05
    rho_worst_linf_plain: float = 0.001
    mc_samples: int = 32
    pgd_steps: int = 20
    pac_target: float = 0.1
    pac_samples: int = 16
    pac_eps: float = 1e-3
    pac_bisection_steps: int = 8
    directions: int = 10
    max_distance: float = 20.0
    steps: int = 21
    delta: float = 0.1
    samples: Optional[int] = None
    bn_recompute: bool = False
    batch_size: int = 2048

    @property
    def bn(self) -> str:
        """The BatchNorm semantics in words, as ``sharpness.json`` records them."""
        return BN_RECOMPUTED if self.bn_recompute else BN_FIXED

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["eps"] = list(self.eps)
        return out


def _spectrum():
    return spectrum


def _sharp():
    return sharpness


def _op(obj):
    return HessianOperator(obj)


# name -> (function(obj, settings, seed) -> {row: result_json}, uses Hessian-vector products)
MetricFn = Callable[[ModelObjective, SharpnessSettings, int], dict[str, dict]]


def _rows(prefix: str, results: dict[str, Any]) -> dict[str, dict]:
    return {f"{prefix}{k}": v.to_json() for k, v in results.items()}


def _lanczos(o: ModelObjective, s: SharpnessSettings, seed: int):
    """The ``hessian_top_eigenvalues`` computation: an ``Eigenvalues`` with its eigenvectors."""
    return _spectrum().top_eigenvalues_lanczos(_op(o), k=s.top_k, tol=s.lanczos_tol, seed=seed)


SHARPNESS_METRICS: dict[str, MetricFn] = {  # each sharpness metric: how it is computed
    "hessian_top_eigenvalues": lambda o, s, seed: {"hessian_top_eigenvalues": _lanczos(o, s, seed).to_json()},
    "hessian_top_eigenvalues_power": lambda o, s, seed: {
        "hessian_top_eigenvalues_power": _spectrum().top_eigenvalues_power(
            _op(o), k=s.top_k, iters=s.power_iters, seed=seed).to_json()},
    "hessian_trace": lambda o, s, seed: {"hessian_trace": _spectrum().trace_hutchpp(
        _op(o), matvecs=s.trace_matvecs, seed=seed).to_json()},
    "hessian_trace_hutchinson": lambda o, s, seed: {"hessian_trace_hutchinson": _spectrum().trace_hutchinson(
        _op(o), samples=s.trace_matvecs, seed=seed).to_json()},
    "hessian_spectrum": lambda o, s, seed: {"hessian_spectrum": _spectrum().spectral_density_slq(
        _op(o), runs=s.slq_runs, lanczos_steps=s.slq_steps, seed=seed).to_json()},
    "eps_sharpness": lambda o, s, seed: {
        f"eps_sharpness[eps={e:g}, {space}]": _sharp().eps_sharpness(
            o, eps=e, subspace_dim=dim, maxiter=s.lbfgs_maxiter, seed=seed).to_json()
        for e in s.eps for space, dim in (("full", None), (f"subspace {s.subspace_dim}", s.subspace_dim))},
    "adaptive_average": lambda o, s, seed: {f"adaptive_average[rho={s.rho_average:g}]": _sharp()
        .adaptive_sharpness_average(o, s.rho_average, samples=s.mc_samples, adaptive=True, seed=seed).to_json()},
    "adaptive_worst_l2": lambda o, s, seed: {f"adaptive_worst_l2[rho={s.rho_worst_l2:g}]": _sharp()
        .adaptive_sharpness_worst(o, s.rho_worst_l2, p=2, adaptive=True, steps=s.pgd_steps, seed=seed).to_json()},
    "adaptive_worst_linf": lambda o, s, seed: {f"adaptive_worst_linf[rho={s.rho_worst_linf:g}]": _sharp()
        .adaptive_sharpness_worst(o, s.rho_worst_linf, p=math.inf, adaptive=True, steps=s.pgd_steps,
                                  seed=seed).to_json()},
    "average": lambda o, s, seed: {f"average[rho={s.rho_average_plain:g}]": _sharp().adaptive_sharpness_average(
        o, s.rho_average_plain, samples=s.mc_samples, adaptive=False, seed=seed).to_json()},
    "worst_l2": lambda o, s, seed: {f"worst_l2[rho={s.rho_worst_l2_plain:g}]": _sharp().adaptive_sharpness_worst(
        o, s.rho_worst_l2_plain, p=2, adaptive=False, steps=s.pgd_steps, seed=seed).to_json()},
    "worst_linf": lambda o, s, seed: {f"worst_linf[rho={s.rho_worst_linf_plain:g}]": _sharp()
        .adaptive_sharpness_worst(o, s.rho_worst_linf_plain, p=math.inf, adaptive=False, steps=s.pgd_steps,
                                  seed=seed).to_json()},
    "pac_bayes": lambda o, s, seed: {
        "pac_bayes_sigma": _sharp().pac_bayes_sigma(o, target=s.pac_target, samples=s.pac_samples, seed=seed,
                                                    bisection_steps=s.pac_bisection_steps).to_json(),
        "pac_bayes_sigma_magnitude": _sharp().pac_bayes_sigma(o, target=s.pac_target, samples=s.pac_samples,
                                                              magnitude_aware=True, eps=s.pac_eps, seed=seed,
                                                              bisection_steps=s.pac_bisection_steps).to_json()},
    "ray_width": lambda o, s, seed: {"ray_width": _sharp().ray_width_metric(
        o, directions=s.directions, max_distance=s.max_distance, steps=s.steps, delta=s.delta, seed=seed).to_json()},
}
DEFAULT_METRICS = ("hessian_top_eigenvalues", "hessian_trace", "eps_sharpness", "adaptive_average",
                   "adaptive_worst_l2", "adaptive_worst_linf", "pac_bayes", "ray_width")


def parse_metrics(names: Optional[str | Sequence[str]]) -> tuple[str, ...]:
    """Validate ``--metrics``/``metrics=``: names, each of which may be a comma-separated list, or one such
    string (``"hessian_trace"``, ``"hessian_trace,pac_bayes"``); ``all`` selects every metric. ``None`` (not
    given): :data:`DEFAULT_METRICS`.

    Raises:
        UserError: no metric at all (``[]``, ``""``), an unknown name, or something other than strings.
    """
    choices = f"choose from {', '.join(SHARPNESS_METRICS)} or 'all'"
    if names is None:
        return DEFAULT_METRICS
    if isinstance(names, str):
        names = [names]
    if not all(isinstance(name, str) for name in names):
        raise UserError(f"{arg('metrics')} must be metric names (strings), got {names!r}; {choices}")
    flat = [n.strip() for name in names for n in name.split(",") if n.strip()]
    if not flat:
        raise UserError(f"{arg('metrics')}: no metric given; {choices}")
    if flat == ["all"]:
        return tuple(SHARPNESS_METRICS)
    unknown = [n for n in flat if n not in SHARPNESS_METRICS]
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)}; {choices}")
    return tuple(dict.fromkeys(flat))


def check_eigenvectors(eigenvectors: Any, metrics: Sequence[str]) -> None:
    """Validate ``eigenvectors=``/``--eigenvectors``: a bool, and only with the metric ``hessian_top_eigenvalues``.

    Raises:
        UserError: otherwise (naming the argument as the caller spells it).
    """
    if not isinstance(eigenvectors, bool):
        raise UserError(f"{arg('eigenvectors')} must be True or False, got {eigenvectors!r}")
    if eigenvectors and "hessian_top_eigenvalues" not in metrics:
        raise UserError(f"{arg('eigenvectors')} keeps the eigenvectors of the metric hessian_top_eigenvalues; add it "
                        f"to {arg('metrics')} (given: {', '.join(metrics)})")


@dataclass
class SharpnessResult:
    """Per checkpoint label: train/test metrics and ``metrics`` (name → value, uncertainty, settings).

    A read-only mapping of the points' labels, in order: ``result["point 0"]``, ``"point 0" in result``,
    ``list(result)``, ``result.keys()``, ``result.items()``, ``len(result)``.
    ``result.save(out)`` writes ``sharpness.json`` and ``sharpness.md`` as the command line does, and with
    eigenvectors (``eigenvectors=True``) the files of :mod:`landscape.curvature.eigenvectors`.
    """

    json_path: Optional[Path]
    md_path: Optional[Path]
    results: dict[str, Any] = field(default_factory=dict)
    computed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    doc: dict[str, Any] = field(default_factory=dict)
    vectors: dict[str, PointEigenvectors] = field(default_factory=dict, repr=False)

    def __getitem__(self, label: str) -> dict[str, Any]:
        try:
            return self.results[label]
        except (KeyError, TypeError):
            raise KeyError(f"no point {label!r}; points are {', '.join(self.results)}") from None

    def __contains__(self, label: object) -> bool:
        return label in self.results

    def __iter__(self) -> Iterator[str]:
        """The points' labels, in order (a mapping of label → results)."""
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def keys(self) -> KeysView[str]:
        return self.results.keys()

    def items(self) -> ItemsView[str, dict[str, Any]]:
        return self.results.items()

    def value(self, metric: str, point: int | str = 0, index: Optional[int] = None) -> Any:
        """One metric's value at one point: ``result.value("hessian_trace", point="swa")`` is
        ``result["swa"]["metrics"]["hessian_trace"]["value"]``. ``point``: a label or an index in order
        (default the first); ``index``: one entry of a list value (``hessian_top_eigenvalues``: 0 is the largest).

        Raises:
            KeyError: an unknown point or metric (the message names the known ones).
            ValueError: ``index`` for a metric whose value is not a list, or out of range.
        """
        point = self._label(point)
        metrics = self[point]["metrics"]
        if metric not in metrics:
            raise KeyError(f"no metric {metric!r} at point {point!r}; its metrics are {', '.join(metrics) or 'none'}")
        value = metrics[metric]["value"]
        if index is None:
            return value
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{metric} is one number ({value!r}); index= is for list values such as "
                             f"hessian_top_eigenvalues")
        if not -len(value) <= index < len(value):
            raise ValueError(f"index {index} out of range: {metric} at {point!r} has {len(value)} values")
        return value[index]

    def _label(self, point: int | str) -> str:
        labels = list(self.results)
        if isinstance(point, int) and not isinstance(point, bool):
            if not -len(labels) <= point < len(labels):
                raise KeyError(f"no point {point}: {len(labels)} points ({', '.join(map(repr, labels))})")
            return labels[point]
        self[point]  # an unknown label: KeyError naming the points
        return point

    def eigenvectors(self, point: int | str = 0) -> PointEigenvectors:
        """The top-k Hessian eigenvectors at ``point`` (a label or an index in order), kept when the result was
        computed with ``eigenvectors=True``: ``.vectors`` (k, P) unit rows with ``.names`` (the parameters, in
        order), ``.values`` λ_1 ≥ … ≥ λ_k, ``.by_name()`` → {name: (k, *shape)}, ``.directions(0, 1)`` → the
        ``{"x": ..., "y": ...}`` dict ``landscape.plane(..., directions=...)`` takes.

        Raises:
            KeyError: an unknown point, or no eigenvectors kept (the message says how to get them).
        """
        label = self._label(point)
        if label not in self.vectors:
            raise KeyError(f"no eigenvectors at point {label!r}: pass `eigenvectors=True` with the metric "
                           f"hessian_top_eigenvalues")
        return self.vectors[label]

    def save(self, out: str | Path, overwrite: bool = False) -> Path:
        """Write ``out/sharpness.json`` and ``out/sharpness.md``; returns the JSON path.

        Raises:
            StaleResultsError: ``out`` holds sharpness results of other inputs (unless ``overwrite``).
        """
        json_path = Path(out) / "sharpness.json"
        if json_path.exists() and not overwrite:
            read_matching_sidecar(json_path, self.doc["inputs"], "sharpness")
        self.json_path, self.md_path = json_path, Path(out) / "sharpness.md"
        if self.vectors:
            self.doc["eigenvectors"] = _save_vectors(out, self.doc["labels"], self.vectors)
        _write(self.doc, self.json_path, self.md_path)
        return json_path

    def summary_line(self) -> str:
        parts = []
        for label, res in self.results.items():
            m = res["metrics"]
            bits = []
            if "hessian_top_eigenvalues" in m:
                bits.append(f"λmax {m['hessian_top_eigenvalues']['value'][0]:.4g}")
            if "hessian_trace" in m:
                bits.append(f"tr H {m['hessian_trace']['value']:.4g}")
            parts.append(f"{label}: " + ", ".join(bits) if bits else label)
        where = f" -> {self.json_path}" if self.json_path is not None else ""
        return (f"sharpness: {self.computed} metric computations ({self.skipped} reused) in {self.seconds:.1f}s"
                f"{where}; " + "; ".join(parts) + f"; BatchNorm: {self.bn}")

    @property
    def bn(self) -> str:
        """The BatchNorm semantics of the Hessian and losses (``BN_FIXED`` or ``BN_RECOMPUTED``)."""
        return _bn_of(self.doc)


def _save_vectors(out: str | Path, labels: Sequence[str], vectors: dict[str, PointEigenvectors]) -> dict[str, Any]:
    """Write the eigenvector files into ``out``; what ``sharpness.json`` records of them under ``eigenvectors``."""
    return {"file": EIGENVECTORS_FILE, "directions": save_eigenvectors(out, labels, vectors)}


def _write(doc: dict[str, Any], json_path: Path, md_path: Path) -> None:
    write_json(doc, json_path)
    write_text(render_markdown(doc), md_path)


def _finite_point(ckpt: Checkpoint, obj: ModelObjective) -> None:
    where = ckpt.path or "checkpoint"
    if not torch.isfinite(obj.point).all():
        raise UserError(f"{where} ({ckpt.label}) has non-finite weights: a diverged checkpoint "
                        "has no meaningful sharpness")
    value = obj.value()
    if not math.isfinite(value):
        raise UserError(f"the training loss at {where} ({ckpt.label}) is {value}: a diverged checkpoint has no "
                        "meaningful sharpness")


def compute_sharpness(ctx: Context, points: Sequence[Checkpoint], out: str | Path, settings: SharpnessSettings, *,
                      evaluation: Settings = Settings(), metrics: Sequence[str] = DEFAULT_METRICS,
                      params: ParamSelector = None, eigenvectors: bool = False,
                      log: Callable[[str], None] = print) -> SharpnessResult:
    """:func:`measure_sharpness` on a command's model and data (``ctx``), into ``out``."""
    return measure_sharpness(ctx.model, ctx.data, points, settings, evaluation=evaluation, about=ctx.to_json(),
                             out=out, metrics=metrics, params=params, eigenvectors=eigenvectors, log=log)


_NOT_FOR_SHARPNESS = ("bn_samples", "bn_pass", "chunk", "precision", "max_points", "self_check")


def sharpness_settings(evaluation: Settings, **metric_settings: Any) -> SharpnessSettings:
    """The :class:`SharpnessSettings` of ``evaluation`` (its ``samples``, ``bn`` and ``batch_size``, 2048 when
    ``None``) and ``metric_settings`` (``top_k=3``, ...): what the Python API and the command line both measure with.

    Raises:
        UserError: ``bn`` other than ``fixed``/``recompute`` (``interpolate`` needs three checkpoints; sharpness
            measures one), or an evaluation setting sharpness does not use (``chunk``, ``precision``, ...) set
            to other than its default.
    """
    if evaluation.bn not in (None, "fixed", "recompute"):
        raise UserError(f"{arg('bn')} must be 'fixed' (the default: the checkpoint's statistics, as PyHessian) or "
                        f"'recompute' for sharpness, got {evaluation.bn!r}")
    default = Settings()
    unused = [name for name in _NOT_FOR_SHARPNESS if getattr(evaluation, name) != getattr(default, name)]
    if unused:
        raise UserError(f"{', '.join(arg(name) for name in unused)} do(es) not apply to sharpness (its Hessian "
                        "sums run in fp32 on the points' own batches); leave them at their defaults")
    return SharpnessSettings(**{"samples": evaluation.samples, "bn_recompute": evaluation.bn == "recompute",
                                "batch_size": evaluation.batch_size or 2048, **metric_settings})


def measure_sharpness(model: nn.Module, data: Any, points: Sequence[Checkpoint], settings: SharpnessSettings, *,
                      evaluation: Settings = Settings(), about: dict[str, Any], out: Optional[str | Path] = None,
                      metrics: Sequence[str] = DEFAULT_METRICS, forward: Optional[Forward] = None,
                      params: ParamSelector = None, eigenvectors: bool = False,
                      log: Callable[[str], None] = print) -> SharpnessResult:
    """Compute ``metrics`` at every checkpoint, on the training loss of ``model`` there
    (:class:`~landscape.curvature.objective.ModelObjective` with ``settings``' samples, BN and batch size, the
    ``forward`` loss definition and the ``params`` space); into ``out`` (resumable:
    ``sharpness.json`` and ``sharpness.md`` after every metric) or in memory.

    ``evaluation``: the :class:`~landscape.engine.settings.Settings` whose ``seed``, ``device``, ``overwrite`` and
    ``progress`` apply (its samples, BN and batch size are in ``settings``, :func:`sharpness_settings`).
    Every metric of every checkpoint draws its randomness from ``seed``, so results are reproducible
    and checkpoints are compared on the same random draws.

    ``eigenvectors``: keep the top-k eigenvectors of ``hessian_top_eigenvalues`` at each point
    (``result.eigenvectors(point)``) and, with ``out``, write them as :mod:`landscape.curvature.eigenvectors` describes
    (``sharpness.json`` names the files under ``eigenvectors``). Lanczos finds them anyway, so they cost no
    extra Hessian-vector product; a resumed run recomputes that metric at points whose vectors it does not hold.

    Raises:
        UserError: non-finite weights or loss at a checkpoint; results of other inputs in ``out``
            (without ``overwrite``); ``eigenvectors`` without the metric ``hessian_top_eigenvalues``.
    """
    check_eigenvectors(eigenvectors, metrics)
    seed, device, overwrite, progress = evaluation.seed, evaluation.device, evaluation.overwrite, evaluation.progress
    started = time.perf_counter()
    space = space_of(model, params)  # a selection that matches nothing is refused before any work
    dev = resolve_device(device)
    json_path = md_path = None
    if out is not None:
        json_path, md_path = Path(out) / "sharpness.json", Path(out) / "sharpness.md"
    inputs = resume_key({"points": [p.digest for p in points], "labels": [p.label for p in points]}, about,
                        {"settings": settings.to_json(), "seed": seed}, space=space)
    results: dict[str, Any] = {}
    if json_path is not None and json_path.exists() and not overwrite:
        results = read_matching_sidecar(json_path, inputs, "sharpness").get("results", {})
        if results:
            log(f"resuming {json_path}: reusing the metrics already computed")
    res = SharpnessResult(json_path=json_path, md_path=md_path, results=results)

    def save(write: bool = True) -> None:
        res.doc = {"format": FORMAT, "inputs": inputs, "labels": [p.label for p in points], "metrics": list(metrics),
                   "settings": settings.to_json(), "bn": settings.bn, "seed": seed, "note": DINH_NOTE,
                   "versions": versions(),
                   "results": results}
        if json_path is not None and write:
            if res.vectors:
                res.doc["eigenvectors"] = _save_vectors(out, res.doc["labels"], res.vectors)
            _write(res.doc, json_path, md_path)

    bar = tqdm(desc="Hessian-vector products", unit="hvp", disable=None if progress else True)
    with precision_scope(dev, "fp32"):  # full float32 (TF32 off on CUDA), as on the CPU
        for ckpt in points:
            entry = results.setdefault(ckpt.label, {"path": ckpt.path, "sha256": ckpt.digest, "metrics": {},
                                                    "hvps": 0, "seconds": {}})
            if eigenvectors and ckpt.label not in res.vectors:  # resumed without its vectors: Lanczos again
                entry["seconds"].pop("hessian_top_eigenvalues", None)
            pending = [m for m in metrics if m not in entry["seconds"]]
            if not pending:
                res.skipped += len(metrics)
                continue
            obj = ModelObjective(model, data, ckpt.state, device=dev, samples=settings.samples, seed=seed,
                                 bn_recompute=settings.bn_recompute, batch_size=settings.batch_size, forward=forward,
                                 params=params)
            _finite_point(ckpt, obj)
            obj.on_hvp = bar.update
            entry.update(obj.metrics())
            entry["samples"] = obj.num_samples
            for name in metrics:
                if name in entry["seconds"]:
                    res.skipped += 1
                    continue
                t0 = time.perf_counter()
                hvps_before = obj.hvp_count
                try:
                    if name == "hessian_top_eigenvalues" and eigenvectors:
                        eig = _lanczos(obj, settings, seed)
                        res.vectors[ckpt.label] = PointEigenvectors.of(eig, obj.space)
                        entry["metrics"][name] = eig.to_json()
                    else:
                        entry["metrics"].update(SHARPNESS_METRICS[name](obj, settings, seed))
                except ValueError as exc:  # an estimator refusing its settings (they name the argument)
                    raise UserError(f"{name}: {exc}") from None
                entry["seconds"][name] = time.perf_counter() - t0
                entry["hvps"] += obj.hvp_count - hvps_before
                res.computed += 1
                save()
    bar.close()
    save(write=bool(res.computed) or json_path is None or not json_path.exists())  # all reused: nothing to write
    res.seconds = time.perf_counter() - started
    return res


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value[:5]) + (" …" if len(value) > 5 else "")
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _cell(metric: dict) -> str:
    value = metric.get("value")
    unc = metric.get("uncertainty", metric.get("stderr"))
    text = _fmt(value)
    if isinstance(unc, (int, float)) and not isinstance(unc, bool) and not isinstance(value, (list, dict)):
        text += f" ± {unc:.2g}"
    return text


def _bn_of(doc: dict[str, Any]) -> str:
    """``doc["bn"]``; files written before it was recorded say it through ``settings.bn_recompute``."""
    if isinstance(doc.get("bn"), str):
        return doc["bn"]
    recompute = (doc.get("settings") or {}).get("bn_recompute")
    return "?" if recompute is None else (BN_RECOMPUTED if recompute else BN_FIXED)


def render_markdown(doc: dict[str, Any]) -> str:
    """``sharpness.md``: one column per checkpoint, one row per metric, then the notes."""
    labels = [lab for lab in doc["labels"] if lab in doc["results"]]
    lines = ["# Sharpness", "", "| metric | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for key in METRICS:
        lines.append(f"| {key} | " + " | ".join(_fmt(doc["results"][lab].get(key)) for lab in labels) + " |")
    rows: list[str] = []
    for lab in labels:
        for row in doc["results"][lab]["metrics"]:
            if row not in rows:
                rows.append(row)
    for row in rows:
        cells = [_cell(doc["results"][lab]["metrics"][row]) if row in doc["results"][lab]["metrics"] else "–"
                 for lab in labels]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", f"Training loss over {doc['results'][labels[0]].get('samples', '?') if labels else '?'} samples, "
              f"seed {doc['seed']}, BatchNorm: {_bn_of(doc)}. Uncertainties: standard errors of Monte Carlo "
              "estimates; eigenvalue residuals; optimizer-based maxima (epsilon-sharpness, worst-case) are lower "
              "bounds.", ""]
    vectors = doc.get("eigenvectors")
    if isinstance(vectors, dict) and isinstance(vectors.get("directions"), dict):
        planes = "; ".join(f"{lab}: `{name}`" for lab, name in vectors["directions"].items())
        lines += [f"Top Hessian eigenvectors: `{vectors.get('file')}`" + (
            f"; the plane along the top two, `swa-landscape plane --around CKPT --load-directions FILE`: {planes}"
            if planes else "") + ".", ""]
    lines += [f"Note: {DINH_NOTE}", ""]
    return "\n".join(lines)
