"""Model registry and the built-in models.

``build_model(ModelSpec("preresnet20"), num_outputs=10, input_shape=(3, 32, 32))``
builds a registered model; ``list_models()`` lists them.
"""

from swa.models.registry import ModelSpec, build_model, list_models, parse_model_kwargs, register_model
from swa.models import small  # noqa: F401  (registers cnn_small, mlp)

__all__ = ["ModelSpec", "build_model", "list_models", "parse_model_kwargs", "register_model"]
