"""From result files to figure files: what ``swa-landscape plot`` and the landscape commands call.

Results are grouped by kind. Each plane gets its own figure (planes do not share
coordinates); the lines, the rays, the sharpness reports and the runs of a call are
each overlaid on one figure, so that pretrained → SGD, → SWA and → PSWA read off
one set of axes. File names are fixed (``plane``, ``interp``, ``rays``,
``sharpness``, ``spectrum``, ``curves``); several planes are told apart by their
folder's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from swa.errors import UserError
from landscape.plot.style import metric, save_figure, title_of
from landscape.plot import connectivity, curves, html, line, pages, plane, rays, sharpness, surface
from landscape.plot._common import clean_text
from landscape.results.read import find_results

__all__ = ["PlotOptions", "draw", "draw_paths", "parse_vmax"]


@dataclass(frozen=True)
class PlotOptions:
    """How figures are drawn and saved.

    Args:
        formats: static formats (``png``, ``pdf``, ``svg``).
        html: also write the interactive pages (plane, line, rays).
        vmax: per metric name, where colours saturate on a plane (key ``"*"``: every metric).
        log: log scale for losses (log-spaced contour levels on a plane).
        metrics: the metrics to draw (default per figure kind).
        labels: series labels, in order (one kind of result only).
        width: ``double`` (7 in) or ``single`` (3.3 in) column width.
        band: the rays' band, ``minmax`` or ``std``.
        dpi: resolution of PNGs.
        overwrite: replace files in ``out`` that this toolkit did not write (by default only our own
            figures and pages are replaced; :func:`swa.io.check_replaceable`).
        math_labels: draw ``$...$`` in labels as mathtext; by default every label, name and title from a
            file or the user is plain text (a label that is not valid math is plain text either way).
    """

    formats: tuple[str, ...] = ("png",)
    html: bool = False
    vmax: Mapping[str, float] = field(default_factory=dict)
    log: bool = True
    metrics: Optional[tuple[str, ...]] = None
    labels: Optional[tuple[str, ...]] = None
    width: str = "double"
    band: str = "minmax"
    dpi: int = 200
    overwrite: bool = False
    math_labels: bool = False

    def vmax_for(self, names: Sequence[str]) -> dict[str, float]:
        return {n: self.vmax.get(n, self.vmax.get("*")) for n in names if n in self.vmax or "*" in self.vmax}


def parse_vmax(items: Optional[Sequence[str]]) -> dict[str, float]:
    """``["5"]`` → every metric at 5; ``["train_loss=5", "test_err=40"]`` → per metric."""
    out: dict[str, float] = {}
    for item in items or []:
        name, _, text = item.rpartition("=")
        try:
            value = float(text)
        except ValueError:
            raise UserError(f"`vmax` takes V or METRIC=V, got {item!r}") from None
        if not math.isfinite(value):
            raise UserError(f"`vmax` must be finite, got {item!r}")
        if name:
            metric(name)  # an unknown name lists the valid ones
        out[name or "*"] = value
    return out


def _stems(items: Sequence[Any], base: str) -> list[str]:
    """``base`` for one item; ``base-<folder>`` (made unique) for several."""
    if len(items) == 1:
        return [base]
    stems, used = [], set()
    for d in items:
        stem = f"{base}-{d.path.parent.name or 'result'}"
        k, unique = 2, stem
        while unique in used:
            unique, k = f"{stem}-{k}", k + 1
        used.add(unique)
        stems.append(unique)
    return stems


def draw(results: Mapping[str, Sequence[Any]], out: str | Path, options: PlotOptions = PlotOptions()) -> list[Path]:
    """Draw every figure ``results`` (kind → data, as :func:`~landscape.results.read.find_results` returns)
    calls for into ``out``; return the files written, in order."""
    out = Path(out)
    kinds = [k for k, v in results.items() if v]
    if options.labels and len(kinds) > 1:
        raise UserError(f"`labels` needs results of one kind; got {', '.join(kinds)}")
    written: list[Path] = []
    metrics, labels, width, math = options.metrics, options.labels, options.width, options.math_labels

    def static(fig, stem: str) -> None:
        written.extend(save_figure(fig, out / stem, options.formats, dpi=options.dpi, overwrite=options.overwrite))

    def page(fig, stem: str, title: str) -> None:
        written.append(html.write_page(fig, out / f"{stem}.html", clean_text(title), overwrite=options.overwrite))

    planes = results.get("plane", [])
    for data, stem in zip(planes, _stems(planes, "plane")):
        names = metrics or ("train_loss", "test_loss", "test_err")
        static(plane.plane_figure(data, metrics=metrics, vmax=options.vmax_for(names), log=options.log,
                                  width=width, math_labels=math), stem)
        if options.html:
            page(surface.plane_page(data, metrics=metrics, vmax=options.vmax_for(names), log=options.log), stem,
                 f"Plane — {title_of(data.sidecar) or data.path}")
    if results.get("interp"):
        lines = results["interp"]
        if labels and len(labels) != len(lines):
            raise UserError(f"`labels` gives {len(labels)} labels for {len(lines)} lines")
        static(line.line_figure(lines, metrics=metrics, log=options.log, labels=labels, width=width,
                                math_labels=math), "interp")
        if options.html:
            page(pages.line_page(lines, metrics=metrics, log=options.log, labels=labels), "interp",
                 f"Line — {title_of(lines[0].sidecar) or lines[0].path}")
    if results.get("rays"):
        ray_sets = results["rays"]
        static(rays.rays_figure(ray_sets, metrics=metrics, log=options.log, band=options.band, labels=labels,
                                width=width, math_labels=math), "rays")
        if options.html:
            page(pages.rays_page(ray_sets, metrics=metrics, log=options.log, band=options.band, labels=labels),
                 "rays", f"Rays — {title_of(ray_sets[0].sidecar) or ray_sets[0].path}")
    connecting = results.get("curve", [])
    for data, stem in zip(connecting, _stems(connecting, "curve")):
        static(connectivity.connectivity_figure(data, width=width, math_labels=math), stem)
    if results.get("sharpness"):
        docs = results["sharpness"]
        entries = sharpness.merge_sharpness(docs, labels)
        if sharpness.sharpness_rows(entries):
            static(sharpness.sharpness_figure(docs, labels=labels, width=width, math_labels=math), "sharpness")
        spectrum = sharpness.spectrum_figure(docs, labels=labels, width=width, math_labels=math)
        if spectrum is not None:
            static(spectrum, "spectrum")
    if results.get("run"):
        static(curves.curves_figure(results["run"], labels=labels, log=options.log, width=width,
                                    math_labels=math), "curves")
    return written


def draw_paths(paths: Sequence[str | Path], out: str | Path, options: PlotOptions = PlotOptions()) -> list[Path]:
    """:func:`draw` of everything :func:`~landscape.results.read.find_results` finds under ``paths``."""
    return draw(find_results(paths), out, options)
