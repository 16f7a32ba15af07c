"""Landscape half of swa-landscape: reads checkpoints and runs, evaluates loss and accuracy in weight
space (planes, lines, random rays), measures sharpness, and writes resumable result files.

The Python API is :func:`plane`, :func:`interpolate`, :func:`rays` and :func:`sharpness`
(``landscape.api``); the console script lives in ``landscape.cli``. The library never imports the
trainer.
"""

import importlib

_EXPORTS = {
    "plane": "landscape.api", "interpolate": "landscape.api", "rays": "landscape.api", "sharpness": "landscape.api",
    "as_eval_data": "landscape.data", "Forward": "landscape.forward", "BN_STRATEGIES": "landscape.bn_modes",
    "ParamSpace": "landscape.weights", "Plane": "landscape.geometry", "Line": "landscape.geometry",
    "Axis": "landscape.geometry", "parse_axis": "landscape.geometry", "random_directions": "landscape.directions",
    "orthogonalize": "landscape.directions", "NORMALIZATIONS": "landscape.directions",
    "AffineFamily": "landscape.evaluator", "Evaluator": "landscape.evaluator", "ResultStore": "landscape.store",
    "EvalSettings": "landscape.settings", "load_context": "landscape.inputs", "load_checkpoints": "landscape.inputs",
    "compute_plane": "landscape.affine_plane", "compute_interp": "landscape.interp", "compute_rays": "landscape.random_rays",
    "ray_width": "landscape.random_rays", "ModelObjective": "landscape.objective", "HessianOperator": "landscape.hessian",
    "DenseOperator": "landscape.hessian", "top_eigenvalues_lanczos": "landscape.spectrum",
    "top_eigenvalues_power": "landscape.spectrum", "trace_hutchinson": "landscape.spectrum",
    "trace_hutchpp": "landscape.spectrum", "spectral_density_slq": "landscape.spectrum",
    "eps_sharpness": "landscape.sharpness_measures", "adaptive_sharpness_average": "landscape.sharpness_measures",
    "adaptive_sharpness_worst": "landscape.sharpness_measures", "pac_bayes_sigma": "landscape.sharpness_measures",
    "ray_width_metric": "landscape.sharpness_measures", "SharpnessSettings": "landscape.measure",
    "compute_sharpness": "landscape.measure",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__():
    """The lazily imported exports as well as what the package module already holds (``dir(landscape)``)."""
    return sorted(set(globals()) | set(_EXPORTS))
