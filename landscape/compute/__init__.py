"""The computations of the toolkit: planes, lines and rays, each from checkpoints to a result store.

Layer 5: each module chooses its points with :mod:`landscape.geometry` (directions from
:mod:`landscape.curvature` where they are Hessian ones) and evaluates them with :mod:`landscape.engine`.
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "compute_plane": "landscape.compute.plane",
    "evaluate_plane": "landscape.compute.plane",
    "PlaneResult": "landscape.compute.plane",
    "compute_interp": "landscape.compute.line",
    "evaluate_line": "landscape.compute.line",
    "InterpResult": "landscape.compute.line",
    "compute_rays": "landscape.compute.rays",
    "evaluate_rays": "landscape.compute.rays",
    "RaysResult": "landscape.compute.rays",
    "evaluate_around": "landscape.compute.around_plane",
    "evaluate_around_line": "landscape.compute.around_line",
    "Grid": "landscape.compute.options",
    "Directions": "landscape.compute.options",
    "Rays": "landscape.compute.options",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
