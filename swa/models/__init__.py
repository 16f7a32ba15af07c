"""Model registry and the built-in models.

``build_model(ModelSpec("preresnet20"), num_outputs=10, input_shape=(3, 32, 32))``
builds a registered model; ``list_models()`` lists them.
"""

from swa.models.registry import ModelSpec, build_model, list_models, parse_model_kwargs, register_model
from swa.models import small  # noqa: F401  (registers cnn_small, mlp)
from swa.models import preresnet  # noqa: F401  (registers preresnet20/56/110/164)
from swa.models import vgg  # noqa: F401  (registers vgg16_bn)
from swa.models import wideresnet  # noqa: F401  (registers wideresnet, wideresnet28_10)
from swa.models import torchvision_small  # noqa: F401  (registers resnet18, resnet50, resnet18_imagenet, resnet50_imagenet, mobilenet_v2)

__all__ = ["ModelSpec", "build_model", "list_models", "parse_model_kwargs", "register_model"]
