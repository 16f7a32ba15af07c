"""Training curves (the MNIST fine-tuning study's Fig. 1 and 3), several runs overlaid.

Top: test accuracy (%) and loss per epoch of the SGD iterate (solid) and of the
BatchNorm-updated average (dashed; train loss of the iterate dotted), one colour per
run (its method's); regression runs have no accuracy panel. Bottom: the learning
rate per iteration, rebuilt from the run's schedule (``swa.schedules``), or the
recorded rate at each epoch's start when the schedule cannot be rebuilt. The
averaging window (epochs after ``swa_start``) is shaded in the run's colour and PSWA
period ends are dotted lines.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from landscape.plot._common import finish_labels, legend_below, panel_note, plural
from landscape.results.read import RunData
from landscape.plot.style import new_figure, series_styles, style_context, title_of
from swa.config import TrainConfig
from swa.errors import UserError
from swa.schedules import build_schedule

__all__ = ["curves_figure", "lr_curve", "averaging_window", "column"]


def column(run: RunData, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(epochs, values)`` of a per-epoch record field, epochs without a value left out."""
    pts = [(r["epoch"], r[key]) for r in run.records if isinstance(r.get(key), (int, float)) and "epoch" in r]
    if not pts:
        return np.zeros(0), np.zeros(0)
    e, v = zip(*pts)
    return np.asarray(e, dtype=np.float64), np.asarray(v, dtype=np.float64)


def lr_curve(run: RunData) -> tuple[np.ndarray, np.ndarray]:
    """``(epoch, lr)`` per iteration: iteration ``i`` (0-based) at epoch ``i / iters_per_epoch``."""
    ipe = run.manifest.get("iters_per_epoch")
    try:
        cfg = TrainConfig.from_json(run.config)
        if not isinstance(ipe, int) or ipe < 1:
            raise UserError("no iters_per_epoch")
        schedule = build_schedule(
            cfg.lr_schedule, lr=cfg.lr, lr_min=cfg.lr_min, swa_lr=cfg.swa_lr,
            horizon=cfg.swa_start if cfg.averaging else cfg.epochs, cycle=cfg.cycle, gamma=cfg.lr_gamma,
            milestones=cfg.lr_milestones, epochs=cfg.epochs, iters_per_epoch=ipe)
    except (UserError, KeyError, TypeError, ValueError):
        e, lr = column(run, "lr")  # the rate at the first iteration of epoch e, which starts at e − 1
        return e - 1, lr
    done = int(run.records[-1].get("epoch", cfg.epochs))
    steps = np.arange(done * ipe)
    return steps / ipe, np.array([schedule(int(s)) for s in steps])


def averaging_window(run: RunData) -> Optional[tuple[float, float, list[float]]]:
    """``(start, end, period_ends)`` of an SWA/PSWA run's averaging, in epochs; ``None`` for SGD."""
    cfg = run.config
    if cfg.get("method") not in ("swa", "pswa") or not isinstance(cfg.get("swa_start"), int):
        return None
    start, end = float(cfg["swa_start"]), float(cfg.get("epochs", run.records[-1]["epoch"]))
    period = cfg.get("pswa_period")
    ends = list(np.arange(start + period, end + 1e-9, period)) if cfg["method"] == "pswa" and period else []
    return start, end, ends


def _zoom_accuracy(ax, runs: Sequence[RunData]) -> None:
    """Let the accuracy axis start just below the worst accuracy after the first quarter of training,
    so that the differences at the end are visible; a note counts the early values left below the axis."""
    late, every = [], []
    for run in runs:
        for key in ("test_acc", "avg_test_acc"):
            e, v = column(run, key)
            if len(e):
                late.append(100 * v[(e >= 0.25 * e.max()) & np.isfinite(v)])
                every.append(100 * v[np.isfinite(v)])
    late = np.concatenate(late) if late else np.zeros(0)
    if late.size:
        lo, hi = float(late.min()), float(late.max())
        bottom = max(0.0, lo - 0.15 * max(hi - lo, 0.5))
        ax.set_ylim(bottom, min(100.0, hi + 0.1 * max(hi - lo, 0.5)))
        below = int((np.concatenate(every) < bottom).sum())
        if below:
            panel_note(ax, [f"{plural(below, 'early value')} below the axis"])


def curves_figure(runs: Sequence[RunData], *, labels: Optional[Sequence[str]] = None, log: bool = True,
                  width: str = "double", math_labels: bool = False):
    """Training curves of ``runs`` overlaid (a matplotlib Figure); labels are plain text unless
    ``math_labels`` (see :func:`landscape.plot._common.finish_labels`)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch


    if labels and len(labels) != len(runs):
        raise UserError(f"`labels` gives {len(labels)} labels for {len(runs)} runs")
    names = list(labels) if labels else [r.label for r in runs]
    styles = series_styles(names, [r.method for r in runs])
    has_acc = any(len(column(r, "test_acc")[0]) and np.isfinite(column(r, "test_acc")[1]).any() for r in runs)
    with style_context():
        if width == "double":
            fig = new_figure(width, 3.6)
            grid = fig.add_gridspec(2, 2 if has_acc else 1, height_ratios=(2.2, 1))
            top = [fig.add_subplot(grid[0, i]) for i in range(2 if has_acc else 1)]
            lr_ax = fig.add_subplot(grid[1, :])
        else:
            n = 3 if has_acc else 2
            fig = new_figure(width, 1.9 * (n - 1) + 1.4 + 0.7)
            grid = fig.add_gridspec(n, 1, height_ratios=(2,) * (n - 1) + (1.2,))
            top = [fig.add_subplot(grid[i, 0]) for i in range(n - 1)]
            lr_ax = fig.add_subplot(grid[n - 1, 0], sharex=top[0])
        acc_ax = top[0] if has_acc else None
        loss_ax = top[-1]
        any_pswa = any_avg = False
        for run, st in zip(runs, styles):
            if acc_ax is not None:
                for key, ls in (("test_acc", "-"), ("avg_test_acc", "--")):
                    e, v = column(run, key)
                    acc_ax.plot(e, 100 * v, color=st.color, ls=ls, lw=1.1)
            for key, ls, lw in (("test_loss", "-", 1.1), ("avg_test_loss", "--", 1.1), ("train_loss", ":", 0.9)):
                e, v = column(run, key)
                loss_ax.plot(e, np.where(v > 0, v, np.nan) if log else v, color=st.color, ls=ls, lw=lw)
            any_avg |= bool(len(column(run, "avg_test_loss")[0]))
            x, lr = lr_curve(run)
            lr_ax.plot(x, lr, color=st.color, lw=0.9, ls=st.linestyle)
            window = averaging_window(run)
            if window is not None:
                start, end, ends = window
                for ax in (*top, lr_ax):
                    ax.axvspan(start, end, color=st.color, alpha=0.07, lw=0)
                    for e in ends[:-1]:
                        ax.axvline(e, color=st.color, ls=":", lw=0.7)
                any_pswa |= bool(ends)
        if acc_ax is not None:
            _zoom_accuracy(acc_ax, runs)
            acc_ax.set_ylabel("test accuracy (%)")
            acc_ax.set_title("test accuracy")
        loss_ax.set_ylabel("loss")
        loss_ax.set_title("loss")
        if log:
            loss_ax.set_yscale("log")
        lr_ax.set_ylabel("learning rate")
        lr_ax.set_xlabel("epoch")
        for ax in top:
            ax.set_xlabel("epoch" if width == "double" else "")
        handles = [Line2D([], [], color=st.color, ls=st.linestyle, lw=1.5) for st in styles]
        texts = list(names)
        handles += [Line2D([], [], color="0.2", ls="-", lw=1.1)]
        texts += ["SGD iterate (test)"]
        if any_avg:
            handles.append(Line2D([], [], color="0.2", ls="--", lw=1.1))
            texts.append("average (test)")
        handles.append(Line2D([], [], color="0.2", ls=":", lw=0.9))
        texts.append("train loss (iterate)")
        if any(averaging_window(r) for r in runs):
            handles.append(Patch(facecolor="0.5", alpha=0.25))
            texts.append("averaging window")
        if any_pswa:
            handles.append(Line2D([], [], color="0.3", ls=":", lw=0.7))
            texts.append("PSWA period end")
        titles = {title_of({"inputs": r.config}) for r in runs}
        if len(titles) == 1 and next(iter(titles)):
            fig.suptitle(next(iter(titles)), fontsize=8)
        legend_below(fig, handles, texts, ncols=4 if width == "double" else 2)
    return finish_labels(fig, math_labels)
