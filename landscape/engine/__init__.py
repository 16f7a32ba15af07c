"""The evaluation engine: loss and accuracy of one model at many points of weight space.

Layer 2. It holds the functional copy of the model (:mod:`~landscape.engine.forward`), the parameter space
(:mod:`~landscape.engine.weights`), data placement (:mod:`~landscape.engine.data`), what a command starts
from (:mod:`~landscape.engine.inputs`), the BatchNorm strategies (:mod:`~landscape.engine.bn`), precision,
the batch-size probe (:mod:`~landscape.engine.probe`), the memory budget, sharding under torchrun, the
evaluation settings (:mod:`~landscape.engine.settings`), the batched evaluator, the loop over pending points
(:mod:`~landscape.engine.loop`) and the running of a task into a result store (:mod:`~landscape.engine.task`).
"""

from landscape._exports import lazy_exports

_EXPORTS = {
    "Settings": "landscape.engine.settings",
    "Session": "landscape.engine.session",
    "Loss": "landscape.engine.settings",
    "Evaluator": "landscape.engine.evaluator",
    "AffineFamily": "landscape.engine.evaluator",
    "Forward": "landscape.engine.forward",
    "EvalData": "landscape.engine.data",
    "as_eval_data": "landscape.engine.data",
    "ParamSpace": "landscape.engine.weights",
    "ParamSelector": "landscape.engine.weights",
    "Checkpoint": "landscape.engine.inputs",
    "Context": "landscape.engine.inputs",
    "load_context": "landscape.engine.inputs",
    "load_checkpoints": "landscape.engine.inputs",
    "Task": "landscape.engine.task",
    "run_task": "landscape.engine.task",
    "BN_STRATEGIES": "landscape.engine.bn",
    "precision_scope": "landscape.engine.precision",
    "PRECISIONS": "landscape.engine.precision",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
