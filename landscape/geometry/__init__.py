"""Where the points are: lines and planes in weight space, grids on them, directions, presets.

Layer 3: pure functions of tensors and numbers; nothing here evaluates a model.
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "Axis": "landscape.geometry.grid",
    "Line": "landscape.geometry.grid",
    "Plane": "landscape.geometry.grid",
    "parse_axis": "landscape.geometry.grid",
    "random_directions": "landscape.geometry.directions",
    "orthogonalize": "landscape.geometry.directions",
    "NORMALIZATIONS": "landscape.geometry.directions",
    "PRESETS": "landscape.geometry.presets",
    "plane_preset": "landscape.geometry.presets",
    "ray_width": "landscape.geometry.rays",
    "width_summary": "landscape.geometry.rays",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
