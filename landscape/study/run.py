"""Run the fine-tuning study of :mod:`swa.study` and look at the landscape of one seed.

:func:`run_study` pretrains, tunes SGD's rate (when more than one is given), fine-tunes every
method over the seeds, measures each reported model (train and test loss and accuracy, eval mode,
full sets) and writes ``OUT/study.json`` and ``OUT/study.md`` (mean ± std, paired differences with
SGD and their 95 % intervals, :mod:`landscape.study.table`). :func:`study_landscape` computes the
first seed's landscape under ``OUT/landscape``. Both reuse finished runs and results and resume
interrupted ones; ``swa-landscape demo`` and ``scripts/repro_mnist_finetune.py`` call them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from landscape.engine.settings import Settings
from landscape.engine.task import Job
from swa.evaluation import evaluate
from swa.rundir import open_run
from landscape.study.table import study_markdown, summarize_study
from swa.io import write_json, write_text
from swa.study import (
    LABELS, METHODS, method_config, pretrain_config, reported_checkpoint, train_or_reuse, tuning_configs,
)
from landscape.results.store import StaleResultsError
from landscape.compute.options import Directions, Grid, Rays
from landscape.compute.plane import compute_plane
from landscape.compute.around_plane import evaluate_around
from landscape.engine.forward import Forward
from landscape.geometry.grid import Axis
from landscape.engine.inputs import load_checkpoints, load_context
from landscape.compute.line import compute_interp
from landscape.curvature.sharpness import compute_sharpness, sharpness_settings
from landscape.compute.rays import compute_rays
from landscape.compute.curve import compute_curve
from swa.curves import CurveConfig

__all__ = ["run_study", "study_landscape", "checkpoint_metrics"]

Say = Callable[[str], None]


def checkpoint_metrics(run_dir: Path, checkpoint: Path) -> dict[str, Any]:
    """Train and test loss (and accuracy) of ``checkpoint`` in eval mode on the full sets of ``run_dir``'s data."""
    run = open_run(run_dir)
    data = run.load_data()
    model = run.build_model(checkpoint)
    tr = evaluate(model, data.x_train, data.y_train, data.task)
    te = evaluate(model, data.x_test, data.y_test, data.task)
    return {"train_loss": tr["loss"], "train_acc": tr["acc"], "test_loss": te["loss"], "test_acc": te["acc"],
            "checkpoint": str(checkpoint)}


def run_study(spec, seeds: Sequence[int], *, title: str, say: Say = print,
              extra: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Train (or reuse) every run of the study ``spec`` (a :class:`swa.study.StudySpec`); return the summary.

    SGD's constant rate η is the one of ``spec.rates`` whose seed-0 run ends with the lowest training
    loss (the test set is never used for a choice); with a single rate it is taken as given.
    """
    out = Path(spec.out)
    pre_dir = train_or_reuse(pretrain_config(spec), log=say)
    say(f"study: pretrained with Adam ({spec.pretrain_epochs} epochs) -> {pre_dir}")
    tuning = {}
    for rate, config in tuning_configs(spec).items():
        run_dir = train_or_reuse(config, log=say)
        tuning[rate] = checkpoint_metrics(run_dir, reported_checkpoint(run_dir))["train_loss"]
    if tuning:
        rate = min(tuning, key=lambda r: tuning[r])
        say("study: SGD's constant rate tuned on the training loss: " + ", ".join(
            f"{r:g} -> {loss:.4f}" for r, loss in tuning.items()) + f"; chosen {rate:g}")
    else:
        rate = spec.rates[0]
        say(f"study: SGD's constant rate {rate:g}, as given")
    per_seed: dict[str, list[dict]] = {m: [] for m in METHODS}
    total, done = len(METHODS) * len(seeds), 0
    for seed in seeds:
        for method in METHODS:
            run_dir = train_or_reuse(method_config(spec, method, seed, rate), log=say)
            per_seed[method].append({"seed": seed, **checkpoint_metrics(run_dir, reported_checkpoint(run_dir))})
            done += 1
            say(f"study: [{done}/{total}] seed {seed} {LABELS[method]}: test loss "
                f"{per_seed[method][-1]['test_loss']:.4f}")
    pretrained = {"label": LABELS["pretrained"], **checkpoint_metrics(pre_dir, pre_dir / "final.pt")}
    task = "classification" if pretrained["test_acc"] is not None else "regression"
    study = summarize_study(per_seed, labels=LABELS, seeds=seeds, task=task, pretrained=pretrained,
                            extra={"data": spec.dataset.name, "model": spec.model.name, "epochs": spec.epochs,
                                   "tuned_rate": rate, "tuning": {f"{r:g}": loss for r, loss in tuning.items()},
                                   "protocol": "swa.study", "title": title, **dict(extra or {})})
    write_json(study, out / "study.json")
    write_text(f"# {title}\n\n{study_markdown(study)}", out / "study.md")
    return study


def _reuse_or_redo(compute):
    """Resume or reuse earlier results; recompute from scratch if they came from other inputs."""
    try:
        return compute(False)
    except StaleResultsError:
        return compute(True)


#: the study's sharpness is measured on a fixed random subset of this many training samples (unless ``samples``
#: asks for fewer): a mini-batch Hessian, as PyHessian's, at a third of the cost on digits' 1,347
SHARPNESS_SAMPLES = 512


def study_landscape(spec, seed: int, *, grid: int, settings: Optional[Settings] = None, line_points: int = 41,
                    rays: tuple[int, int, float] = (6, 11, 10.0), sharpness: bool = True,
                    curves: Optional[CurvePlan] = None) -> Path:
    """The landscape of seed ``seed``'s runs, each result resumed or reused; returns ``OUT/landscape``.

    The line from the pretrained model to each fine-tuned one past both ends (the MNIST fine-tuning
    study's Fig. 2); the plane through the first, middle and last points of the cyclical and of the
    constant SWA trajectory (the SWA paper's Fig. 1/3); the SGD → SWA line (Fig. 5) (lines from
    t = -0.5 to 1.5 at ``line_points`` points); ``rays = (directions, steps, distance)`` random rays
    from SGD and SWA (Fig. 4); random filter-normalized planes around SGD and
    SWA on the same directions (Li et al.); the PCA plane of the constant-rate trajectory; and,
    with ``sharpness``, the top Hessian eigenvalue, trace and adaptive sharpness of SGD and SWA (on
    :data:`SHARPNESS_SAMPLES` training samples); with ``curves``
    (a :class:`CurvePlan`), the mode-connecting curves of :func:`connect_solutions`.
    ``settings``: a :class:`~landscape.engine.settings.Settings` (its ``device``, ``seed``, ``progress``, which
    also says whether to print progress lines, and ``samples``: evaluate everything on a fixed random subset of
    that many training (and test) samples drawn from ``seed`` (``--samples``; a quick look), else on all of them).
    """
    settings = settings or Settings()
    say = print if settings.progress else (lambda _: None)
    runs = {m: Path(spec.out) / f"seed-{seed}" / m for m in METHODS}
    out = Path(spec.out) / "landscape"
    ctx = load_context(str(runs["swa-cyclic"]), None, None)
    ctx.use_samples(settings.samples, settings.seed, log=say)
    load = lambda path, label: load_checkpoints([str(path)], [label], ctx.model)[0]  # noqa: E731
    pre = load(Path(spec.out) / "pretrain" / "final.pt", LABELS["pretrained"])
    tuned = {m: load(reported_checkpoint(runs[m]), LABELS[m]) for m in METHODS}
    sgd, swa = tuned["sgd"], tuned["swa-cyclic"]
    t_axis = Axis(-0.5, 1.5, line_points)

    def again(compute):
        result = _reuse_or_redo(lambda overwrite: compute(replace(settings, overwrite=overwrite)))
        say(result.summary_line())
        return result

    def trajectory(run_ctx):
        return load_checkpoints([p["path"] for p in run_ctx.run.trajectory],
                                [f"epoch {p['epoch']}" for p in run_ctx.run.trajectory], ctx.model)

    for m in METHODS:  # the MNIST study's Fig. 2: pretrained -> fine-tuned, past both ends
        again(lambda s, m=m: compute_interp(ctx, pre, tuned[m], out / f"finetune-{m}", s, t_axis=t_axis,
                                                    log=say))
    for m in ("swa-cyclic", "swa-const"):  # the SWA paper's Fig. 1/3: the plane through each trajectory
        run_ctx = load_context(str(runs[m]), None, None)
        anchors = load_checkpoints(*map(list, zip(*run_ctx.run.plane_anchors())), ctx.model)
        ends = load_checkpoints(*map(list, zip(*run_ctx.run.end_points())), ctx.model)
        again(lambda s, a=anchors, t=trajectory(run_ctx), e=ends, m=m: compute_plane(
            ctx, a, out / f"plane-{m}", s, trajectory=t, marked=e, grid=Grid(grid), log=say))
    again(lambda s: compute_interp(ctx, sgd, swa, out / "sgd-to-swa", s, t_axis=t_axis, log=say))  # Fig. 5
    again(lambda s: compute_rays(ctx, [sgd, swa], out / "rays", s,
                                 Rays(directions=rays[0], steps=rays[1], max_distance=rays[2]), log=say))
    forward, data = Forward(task=ctx.data.task), ctx.eval_data()
    for name, center in (("random-sgd", sgd), ("random-swa", swa)):  # Li et al.: the same two directions
        shared = "random" if name == "random-sgd" else out / "random-sgd" / "directions.pt"
        again(lambda s, c=center, d=shared, n=name: evaluate_around(
            Job(ctx.model, data, forward, s, ctx.to_json(), log=say), c, directions=Directions(d), out=out / n,
            grid=Grid(grid)))
    traj = trajectory(load_context(str(runs["swa-const"]), None, None))
    again(lambda s: evaluate_around(Job(ctx.model, data, forward, s, ctx.to_json(), log=say), None,
                                    directions=Directions("pca"), trajectory=traj, marked=[tuned["swa-const"]],
                                    out=out / "pca", grid=Grid(grid)))
    if sharpness:  # BN recomputed at the point, as the study's planes and lines (and its earlier results) have it
        measured = replace(settings, bn="recompute", samples=settings.samples or SHARPNESS_SAMPLES)
        sharp = _reuse_or_redo(lambda overwrite: compute_sharpness(
            ctx, [sgd, swa], out / "sharpness", sharpness_settings(measured, top_k=1),
            evaluation=replace(measured, overwrite=overwrite),
            metrics=("hessian_top_eigenvalues", "hessian_trace", "adaptive_average")))
        if settings.progress:
            print(sharp.md_path.read_text().split("\n\nTraining loss")[0])
    if curves is not None:
        partner = Path(spec.out) / f"seed-{curves.partner_seed}" / "sgd"
        other = load(reported_checkpoint(partner), f"{LABELS['sgd']}, seed {curves.partner_seed}") \
            if curves.partner_seed is not None and partner.is_dir() else None
        sentence = connect_solutions(ctx, sgd, tuned["swa-const"], other, out, curves, settings, again)
        say(sentence)
    return out


@dataclass(frozen=True)
class CurvePlan:
    """The demo's curves (Garipov et al. 2018): ``epochs`` of curve training (its other settings the
    reference's), evaluated at ``points`` values of t, with the plane through the ends and the bend on a
    ``plane_grid``² grid (0: none); ``partner_seed``: the seed whose SGD solution the second curve reaches."""

    epochs: int = 6
    points: int = 21
    plane_grid: int = 0
    partner_seed: Optional[int] = None


def connect_solutions(ctx, sgd, swa, other, out: Path, plan: CurvePlan, settings: Settings,
                      again: Callable) -> str:
    """Curves from SGD (constant) to SWA (constant), and from SGD to the SGD solution of another seed
    (``other``, when there is one: the reference's classic case), each beside its straight line; returns the
    sentence that compares their barriers."""
    training = CurveConfig(epochs=plan.epochs, seed=settings.seed, device=settings.device)
    pairs = [("curve-sgd-swa", sgd, swa)] + ([("curve-sgd-seeds", sgd, other)] if other is not None else [])
    parts = []
    for name, a, b in pairs:
        res = again(lambda s, a=a, b=b, name=name: compute_curve(
            ctx, a, b, out / name, s, training, t=Axis(0.0, 1.0, plan.points), plane_grid=plan.plane_grid,
            log=lambda _: None))
        line, curve = res.barriers["line"]["train_loss"], res.barriers["curve"]["train_loss"]
        ends = float(np.mean(res["train_loss"][0][[0, -1]]))
        if max(line, curve) <= 1e-3 * abs(ends):  # nothing rises above the chord between the ends
            parts.append(f"{a.label} → {b.label}: no barrier on the straight line nor on the curve (one basin)")
        else:
            parts.append(f"{a.label} → {b.label}: barrier {line:.3g} on the straight line, {curve:.3g} on the "
                         "curve")
    return "Mode connectivity (training loss): " + "; ".join(parts) + "."
