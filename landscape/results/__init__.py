"""What the toolkit writes and reads back: result types, the result store and every file reader.

Layer 1, the lowest of ``landscape``: it imports nothing else of the package. ``plot``, ``report`` and the
command line read result files only through :mod:`landscape.results.read`.

* :mod:`~landscape.results.store` — ``NAME.npz`` plus its ``NAME.json`` sidecar, filled in as points finish;
  resume keys compared here.
* :mod:`~landscape.results.result` — the in-memory result every computation returns.
* :mod:`~landscape.results.read` — the validating readers of planes, lines, rays, sharpness, studies, runs.
* :mod:`~landscape.results.export` — a plane in the formats of the reference projects and ParaView.
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "ResultStore": "landscape.results.store",
    "StaleResultsError": "landscape.results.store",
    "Result": "landscape.results.result",
    "read_result": "landscape.results.read",
    "find_results": "landscape.results.read",
    "read_plane": "landscape.results.read",
    "PlaneData": "landscape.results.read",
    "LineData": "landscape.results.read",
    "RaysData": "landscape.results.read",
    "SharpnessData": "landscape.results.read",
    "export_plane": "landscape.results.export",
    "FORMATS": "landscape.results.export",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
