"""Curvature of the training loss: the Hessian operator, its spectrum, and sharpness measures.

Layer 4. :mod:`~landscape.curvature.objective` is the training loss as a function of the flat parameter
vector, :mod:`~landscape.curvature.hessian` its Hessian seen through products, :mod:`~landscape.curvature.spectrum`
the estimators, :mod:`~landscape.curvature.measures` the flatness measures and
:mod:`~landscape.curvature.sharpness` their computation over checkpoints (``sharpness.json``).
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "ModelObjective": "landscape.curvature.objective",
    "HessianOperator": "landscape.curvature.hessian",
    "DenseOperator": "landscape.curvature.hessian",
    "SharpnessSettings": "landscape.curvature.sharpness",
    "SharpnessResult": "landscape.curvature.sharpness",
    "compute_sharpness": "landscape.curvature.sharpness",
    "measure_sharpness": "landscape.curvature.sharpness",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
