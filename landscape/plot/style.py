"""The look every figure shares: colours per method, markers, metrics, sizes, and saving.

Colours come from the Okabe–Ito palette (safe for the common colour-vision
deficiencies) and are fixed per method, so SGD, SWA and PSWA have the same colour
in every figure and page; maps are viridis. Matplotlib is used without pyplot
(``matplotlib.figure.Figure`` on an Agg canvas) inside :func:`style_context`, so
no backend is chosen and no global ``rcParams`` change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from swa.errors import UserError
from swa.io import FIGURE_METADATA, atomic_path, check_replaceable

__all__ = ["METHOD_COLORS", "OTHER_COLORS", "method_of", "SeriesStyle", "series_styles", "Metric", "PLOT_METRICS",
           "metric", "extra_metric", "available_metrics", "choose_metrics", "loss_name_of", "WIDTHS", "new_figure",
           "style_context", "save_figure", "FORMATS", "title_of", "CMAP", "halo"]

# Okabe & Ito (2008), "Color universal design".
METHOD_COLORS = {
    "SGD": "#0072B2",         # blue
    "SWA": "#D55E00",         # vermillion
    "PSWA": "#009E73",        # bluish green
    "pretrained": "#000000",  # black
}
OTHER_COLORS = ("#E69F00", "#56B4E9", "#CC79A7", "#999999", "#F0E442")
METHOD_MARKERS = {"SGD": "o", "SWA": "*", "PSWA": "D", "pretrained": "s"}
OTHER_MARKERS = ("^", "v", "P", "X", "h")
LINESTYLES = ("-", "--", ":", "-.")
HATCHES = ("", "////", "....", "xxxx")
CMAP = "viridis"

WIDTHS = {"single": 3.3, "double": 7.0}  # inches: one and two columns of a two-column paper
FORMATS = ("png", "pdf", "svg")
DPI = 200

_RC = {
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "legend.frameon": False, "axes.spines.top": False, "axes.spines.right": False,
    "axes.linewidth": 0.6, "lines.linewidth": 1.3, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "savefig.dpi": DPI, "figure.dpi": 100, "pdf.fonttype": 42, "svg.fonttype": "none",
}


_METHOD_PATTERNS = (("pswa", "PSWA"), ("swa", "SWA"), ("sgd", "SGD"),
                    (r"pretrain|\bpre\b|\binit\b|\bstart\b", "pretrained"))


def method_of(label: str) -> Optional[str]:
    """The method a label names first: ``PSWA``, ``SWA``, ``SGD``, ``pretrained`` or ``None``.

    ``"SGD final"`` → SGD, ``"SGD final (SWA run)"`` → SGD (the earliest name wins),
    ``"swa-cyclic"`` → SWA, ``"PSWA"`` → PSWA (not SWA), ``"pre"``/``"pretrained"``/``"init"``
    → pretrained.
    """
    low = label.lower()
    best: Optional[tuple[int, int, str]] = None
    for pattern, method in _METHOD_PATTERNS:
        m = re.search(pattern, low)
        if m and (best is None or (m.start(), -len(m.group())) < best[:2]):
            best = (m.start(), -len(m.group()), method)
    return best[2] if best else None


@dataclass(frozen=True)
class SeriesStyle:
    """Colour, line style, marker and bar hatch of one labelled series."""

    color: str
    linestyle: str
    marker: str
    hatch: str = ""


def series_styles(labels: Sequence[str], methods: Optional[Sequence[Optional[str]]] = None) -> list[SeriesStyle]:
    """A style per label: the method's colour and marker; series of one method differ in line style
    (and hatch, for bars).

    Labels that name no method take the other palette colours in order.

    Args:
        labels: series labels, in drawing order.
        methods: the method of each series, if known better than from its label (``None`` entries
            fall back to :func:`method_of`).
    """
    out, seen, other = [], {}, 0
    for i, label in enumerate(labels):
        method = (methods[i] if methods is not None else None) or method_of(label)
        if method in METHOD_COLORS:
            n = seen.get(method, 0)
            seen[method] = n + 1
            out.append(SeriesStyle(METHOD_COLORS[method], LINESTYLES[n % len(LINESTYLES)], METHOD_MARKERS[method],
                                   HATCHES[n % len(HATCHES)]))
        else:
            out.append(SeriesStyle(OTHER_COLORS[other % len(OTHER_COLORS)], "-",
                                   OTHER_MARKERS[other % len(OTHER_MARKERS)]))
            other += 1
    return out


@dataclass(frozen=True)
class Metric:
    """A quantity a figure can show, computed from a result's stored arrays.

    Attributes:
        name: ``train_loss``, ``test_err``, ...
        label: axis label.
        source: the stored array it is computed from.
        transform: stored value → shown value (error in % = 100·(1 − accuracy)).
        log: drawn on a log scale by default.
        kind: ``loss``, ``error`` (errors and accuracies share the twin axis of a line figure) or ``extra``
            (a ``forward_fn``'s own metric, :func:`extra_metric`).
    """

    name: str
    label: str
    source: str
    transform: Callable[[np.ndarray], np.ndarray]
    log: bool
    kind: str

    def of(self, values: dict[str, np.ndarray]) -> np.ndarray:
        return self.transform(np.asarray(values[self.source], dtype=np.float64))


def _ident(a: np.ndarray) -> np.ndarray:
    return a


def _err(a: np.ndarray) -> np.ndarray:
    return 100.0 * (1.0 - a)


def _pct(a: np.ndarray) -> np.ndarray:
    return 100.0 * a


PLOT_METRICS = {m.name: m for m in (  # what a figure can draw, from the stored METRICS
    Metric("train_loss", "train loss", "train_loss", _ident, True, "loss"),
    Metric("test_loss", "test loss", "test_loss", _ident, True, "loss"),
    Metric("train_err", "train error (%)", "train_acc", _err, True, "error"),
    Metric("test_err", "test error (%)", "test_acc", _err, True, "error"),
    Metric("train_acc", "train accuracy (%)", "train_acc", _pct, False, "error"),
    Metric("test_acc", "test accuracy (%)", "test_acc", _pct, False, "error"),
)}


_EXTRA = re.compile(r"(train|test)_([A-Za-z_]\w*)")  # a forward_fn's metric: train_<name>, test_<name>


def extra_metric(name: str) -> Metric:
    """A ``forward_fn``'s own metric ``train_<name>``/``test_<name>``, drawn as stored on a linear scale and
    labelled plainly (``train_ece`` → "train ece")."""
    split, rest = _EXTRA.fullmatch(name).groups()
    return Metric(name, f"{split} {rest}", name, _ident, False, "extra")


def metric(name: str, values: Optional[dict[str, np.ndarray]] = None) -> Metric:
    """The metric ``name``: a built-in one (:data:`PLOT_METRICS`) or, where ``values`` holds it (or, without
    ``values``, where the name has its form), a ``forward_fn``'s own ``train_<name>``/``test_<name>``.

    Raises:
        UserError: anything else, listing the valid names.
    """
    if name in PLOT_METRICS:
        return PLOT_METRICS[name]
    if _EXTRA.fullmatch(name) and (values is None or name in values):
        return extra_metric(name)
    extras = [k for k in (values or {}) if k not in PLOT_METRICS and _EXTRA.fullmatch(k)]
    raise UserError(f"`metrics`: unknown metric {name!r}; choose from {', '.join([*PLOT_METRICS, *extras])}")


def _named(m: Metric, loss_name: Optional[str]) -> Metric:
    """``m`` with a loss's label naming the loss ("train loss (smoothed_ce)") when it is not the default."""
    return dataclasses.replace(m, label=f"{m.label} ({loss_name})") if loss_name and m.kind == "loss" else m


def loss_name_of(sidecar: dict) -> Optional[str]:
    """The name of the loss a result was computed with (``inputs.loss.loss``; an older file's ``forward_fn``),
    or ``None`` for the built-in loss."""
    loss = (sidecar.get("inputs") or {}).get("loss")
    if not isinstance(loss, dict):
        return None
    name = loss.get("loss", loss.get("forward_fn"))
    return name if isinstance(name, str) and name and name != "default" else None


def available_metrics(names: Sequence[str], values: dict[str, np.ndarray],
                      loss_name: Optional[str] = None) -> list[Metric]:
    """The metrics of ``names`` that ``values`` can show: accuracy metrics of regression results
    (accuracy all NaN) are dropped, so that no panel is drawn empty. Loss labels name ``loss_name``."""
    out = []
    for name in names:
        m = metric(name, values)
        arr = values.get(m.source)
        if arr is None:
            continue
        if m.kind == "error" and not np.isfinite(np.asarray(arr, dtype=np.float64)).any():
            continue
        out.append(_named(m, loss_name))
    return out


def choose_metrics(names: Optional[Sequence[str]], values: dict[str, np.ndarray],
                   default: Sequence[str] = ("train_loss", "test_err"),
                   loss_name: Optional[str] = None) -> list[Metric]:
    """The metrics a figure draws: ``names`` if given (those the result can show), else ``default``
    with error panels that a regression result cannot show replaced by the test loss. Loss labels name
    ``loss_name`` (:func:`loss_name_of`; ``None``: the built-in loss, labels as they are).

    Raises:
        UserError: none of ``names`` can be shown.
    """
    if names:
        chosen = available_metrics(names, values, loss_name)
        if not chosen:
            raise UserError(f"this result has no {', '.join(names)} to draw (regression results have no accuracy)")
        return chosen
    chosen = available_metrics(default, values, loss_name)
    if len(chosen) < len(default) and "test_loss" not in default:
        chosen.append(_named(PLOT_METRICS["test_loss"], loss_name))
    return chosen


@contextlib.contextmanager
def style_context() -> Iterator[None]:
    """The project's matplotlib settings, for the duration of the block only."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        yield


def new_figure(width: str, height: float):
    """A pyplot-free figure ``WIDTHS[width]`` inches wide with constrained layout (on an Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if width not in WIDTHS:
        raise UserError(f"unknown `width={width!r}`; choose from {', '.join(WIDTHS)}")
    fig = Figure(figsize=(WIDTHS[width], height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, stem: Path, formats: Sequence[str] = ("png",), dpi: int = DPI, *,
                overwrite: bool = False) -> list[Path]:
    """Write ``stem.png`` (and ``.pdf``/``.svg``) atomically, marked as this toolkit's; return the paths written.

    A file already there is replaced only if it is our own figure of that format, or with ``overwrite``;
    every target is checked before any is written.

    Raises:
        UserError: an unknown format, or a target that is someone else's file or a symbolic link.
    """
    for fmt in formats:
        if fmt not in FORMATS:
            raise UserError(f"`formats`: unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    targets = [(fmt, Path(f"{stem}.{fmt}")) for fmt in formats]
    for fmt, path in targets:
        check_replaceable(path, fmt, overwrite)
    for fmt, path in targets:
        with atomic_path(path) as tmp, style_context():
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=FIGURE_METADATA[fmt])
    return [path for _, path in targets]


def _data_text(data: dict) -> Optional[str]:
    """The API's data description (``landscape.engine.data.EvalData.describe``) in words: "1,347 + 450 samples",
    "5 + 2 batches", "1,347 samples"."""
    sizes = []
    for split in (data.get("train"), data.get("test")):
        if not isinstance(split, dict):
            continue
        if isinstance(split.get("samples"), int):
            sizes.append((f"{split['samples']:,}", "samples"))
        elif isinstance(split.get("batches"), int):
            sizes.append((f"{split['batches']:,}", "batches"))
    if not sizes:
        return None
    if len({unit for _, unit in sizes}) == 1:
        return " + ".join(n for n, _ in sizes) + f" {sizes[0][1]}"
    return " + ".join(f"{n} {unit}" for n, unit in sizes)


def title_of(sidecar: dict) -> str:
    """``model · data · BN mode · loss`` from a result's sidecar (empty parts left out).

    The command line records the model and data by name (``inputs.model.name``, ``inputs.data.name``); the
    Python API by class (``inputs.model.class``, shown without its module) and by size (``inputs.data`` as
    ``EvalData.describe`` writes it: "1,347 + 450 samples"). The loss is named when it is not the built-in one.
    """
    inputs = sidecar.get("inputs") or {}
    parts = []
    model = inputs.get("model")
    if isinstance(model, dict) and model.get("name"):
        kwargs = model.get("kwargs") or {}
        parts.append(str(model["name"]) + (f"({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else ""))
    elif isinstance(model, dict) and isinstance(model.get("class"), str) and model["class"]:
        parts.append(model["class"].rsplit(".", 1)[-1])
    data = inputs.get("data")
    if isinstance(data, dict) and data.get("name"):
        parts.append(Path(str(data["name"])).name)
    elif isinstance(data, dict) and _data_text(data):
        parts.append(_data_text(data))
    bn = sidecar.get("bn_mode")
    # A resolved "fixed" that nobody asked for means the model has no BatchNorm: nothing to say.
    if bn and (bn != "fixed" or (sidecar.get("settings") or {}).get("bn") == "fixed"):
        parts.append(f"BN {bn}")
    loss = loss_name_of(sidecar)
    if loss:
        parts.append(f"loss {loss}")
    preset = sidecar.get("preset")
    if isinstance(preset, dict) and isinstance(preset.get("cite"), str):  # --like: the convention followed
        parts.append(f"as {preset['cite']}")
    return " · ".join(parts)


def halo(width: float = 2.0):
    """A white outline that keeps text readable over a filled contour."""
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width, foreground="white")]
