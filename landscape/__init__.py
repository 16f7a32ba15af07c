"""Landscape half of swa-landscape: reads checkpoints and runs, evaluates loss and accuracy in weight
space (planes, lines, random rays), measures sharpness, and writes resumable result files.

The Python API is :func:`plane`, :func:`interpolate`, :func:`rays` and :func:`sharpness`
(``landscape.api``), with what they take grouped in :class:`Settings` (how points are evaluated),
:class:`Loss`, :class:`Grid` and :class:`Directions`; the console script lives in ``landscape.cli``. Below
``landscape.study`` the library never reaches the trainer. The layers, bottom to top: ``results``, ``engine``,
``geometry``, ``curvature``, ``compute``, ``plot``, ``api``, ``study``, ``report``, ``cli``
(``tests/test_architecture.py``).
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "plane": "landscape.api", "interpolate": "landscape.api", "rays": "landscape.api", "sharpness": "landscape.api",
    "as_eval_data": "landscape.engine.data", "Forward": "landscape.engine.forward", "BN_STRATEGIES": "landscape.engine.bn",
    "ParamSpace": "landscape.engine.weights", "Plane": "landscape.geometry.grid", "Line": "landscape.geometry.grid",
    "Axis": "landscape.geometry.grid", "parse_axis": "landscape.geometry.grid", "random_directions": "landscape.geometry.directions",
    "orthogonalize": "landscape.geometry.directions", "NORMALIZATIONS": "landscape.geometry.directions",
    "AffineFamily": "landscape.engine.evaluator", "Evaluator": "landscape.engine.evaluator", "ResultStore": "landscape.results.store",
    "Settings": "landscape.engine.settings", "Params": "landscape.engine.weights", "Loss": "landscape.engine.settings", "Grid": "landscape.compute.options",
    "Directions": "landscape.compute.options", "Rays": "landscape.compute.options", "CurveConfig": "swa.curves", "curve": "landscape.api", "load_context": "landscape.engine.inputs",
    "load_checkpoints": "landscape.engine.inputs",
    "compute_plane": "landscape.compute.plane", "compute_interp": "landscape.compute.line", "compute_rays": "landscape.compute.rays",
    "ray_width": "landscape.geometry.rays", "ModelObjective": "landscape.curvature.objective", "HessianOperator": "landscape.curvature.hessian",
    "DenseOperator": "landscape.curvature.hessian", "top_eigenvalues_lanczos": "landscape.curvature.spectrum",
    "top_eigenvalues_power": "landscape.curvature.spectrum", "trace_hutchinson": "landscape.curvature.spectrum",
    "trace_hutchpp": "landscape.curvature.spectrum", "spectral_density_slq": "landscape.curvature.spectrum",
    "eps_sharpness": "landscape.curvature.measures", "adaptive_sharpness_average": "landscape.curvature.measures",
    "adaptive_sharpness_worst": "landscape.curvature.measures", "pac_bayes_sigma": "landscape.curvature.measures",
    "ray_width_metric": "landscape.curvature.measures", "SharpnessSettings": "landscape.curvature.sharpness",
    "compute_sharpness": "landscape.curvature.sharpness",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
