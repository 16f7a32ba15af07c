"""Landscape half of swa-landscape: reads checkpoints and runs, evaluates loss and accuracy in weight
space (planes, lines, random rays), and writes resumable result files. The console script lives in
``landscape.cli``; the library never imports the trainer.
"""

import importlib

_EXPORTS = {
    "ParamSpace": "landscape.weights", "Plane": "landscape.geometry", "Line": "landscape.geometry",
    "Axis": "landscape.geometry", "parse_axis": "landscape.geometry", "random_directions": "landscape.directions",
    "orthogonalize": "landscape.directions", "NORMALIZATIONS": "landscape.directions",
    "AffineFamily": "landscape.evaluator", "Evaluator": "landscape.evaluator", "ResultStore": "landscape.store",
    "EvalSettings": "landscape.job", "load_context": "landscape.inputs", "load_checkpoints": "landscape.inputs",
    "compute_plane": "landscape.plane", "compute_interp": "landscape.interp", "compute_rays": "landscape.rays",
    "ray_width": "landscape.rays", "ModelObjective": "landscape.objective", "HessianOperator": "landscape.hessian",
    "DenseOperator": "landscape.hessian", "top_eigenvalues_lanczos": "landscape.spectrum",
    "top_eigenvalues_power": "landscape.spectrum", "trace_hutchinson": "landscape.spectrum",
    "trace_hutchpp": "landscape.spectrum", "spectral_density_slq": "landscape.spectrum",
    "eps_sharpness": "landscape.sharpness", "adaptive_sharpness_average": "landscape.sharpness",
    "adaptive_sharpness_worst": "landscape.sharpness", "pac_bayes_sigma": "landscape.sharpness",
    "ray_width_metric": "landscape.sharpness", "SharpnessSettings": "landscape.measure",
    "compute_sharpness": "landscape.measure",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
