"""Figures and pages drawn from the toolkit's result files.

Static figures use matplotlib (Agg canvas, no pyplot, no global rcParams change),
interactive pages plotly (one self-contained, offline HTML file each). One module
per figure kind: :mod:`~landscape.plot.plane`, :mod:`~landscape.plot.line`,
:mod:`~landscape.plot.rays`, :mod:`~landscape.plot.sharpness`,
:mod:`~landscape.plot.curves` (static); :mod:`~landscape.plot.surface` (the 3D
plane) and :mod:`~landscape.plot.pages` (line and rays) (interactive).
:func:`draw_paths` is what ``swa-landscape plot`` runs.
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "PlotOptions": "landscape.plot.draw", "draw": "landscape.plot.draw", "draw_paths": "landscape.plot.draw",
    "find_results": "landscape.results.read", "read_result": "landscape.results.read",
    "plane_figure": "landscape.plot.plane", "line_figure": "landscape.plot.line",
    "rays_figure": "landscape.plot.rays", "sharpness_figure": "landscape.plot.sharpness",
    "spectrum_figure": "landscape.plot.sharpness", "curves_figure": "landscape.plot.curves",
    "plane_page": "landscape.plot.surface", "line_page": "landscape.plot.pages", "rays_page": "landscape.plot.pages",
    "save_figure": "landscape.plot.style", "write_page": "landscape.plot.html",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
