"""Tests for the model registry and the CIFAR model families (swa/models/)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from swa.errors import ModelError
from swa.models import ModelSpec, build_model, list_models, parse_model_kwargs
from swa.models import preresnet, torchvision_small, vgg, wideresnet

CIFAR = (3, 32, 32)
MNIST = (1, 28, 28)

# Trainable parameters of the CIFAR-10 form (input 3×32×32, 10 classes), derived by hand:
PARAMS_CIFAR10 = {
    # PreResNet (timgaripov/swa models/preresnet.py; He et al. 2016, "Identity Mappings").
    # Basic blocks, n = (depth-2)/6 per stage: stem 3·16·9 = 432, final BN 128, fc 64·10+10 = 650;
    # the first blocks of the stages have 4,672 (16→16, no shortcut) + 14,432 (16→32, 1×1 shortcut)
    # + 57,536 (32→64, 1×1 shortcut); every further block in each stage adds 4,672 + 18,560 + 73,984
    # = 97,216. Total 77,850 + 97,216·(n-1); n = 3 gives 272,282 (He et al. 2015, Table 6: 0.27M
    # for ResNet-20).
    "preresnet20": 272_282,
    # Bottleneck blocks (depth >= 44), n = (depth-2)/9 per stage: stem 432, final BN 2·256 = 512,
    # fc 256·10+10 = 2,570; the first blocks of the stages have 4,704 + 23,808 + 94,720 (each with a
    # 1×1 shortcut), every further block in each stage adds 4,544 + 17,792 + 70,400 = 92,736.
    # Total 126,746 + 92,736·(n-1).
    "preresnet56": 590_426,  # n = 6
    # n = 12. The reference's depth rule (>= 44 → bottleneck) makes its PreResNet-110 a bottleneck
    # network of 1.15M, not the 1.7M basic-block ResNet-110 of He et al.
    "preresnet110": 1_146_842,
    "preresnet164": 1_703_258,  # n = 18; He et al. 2016 (Identity Mappings, Table 3): 1.7M.
    # VGG16-BN, SWA form (timgaripov/swa models/vgg.py): the 13 biased convolutions are torchvision
    # vgg16's 138,357,544 minus its classifier (25088·4096+4096 + 4096·4096+4096 + 4096·1000+1000
    # = 123,642,856) = 14,714,688; BN 2·(2·64 + 2·128 + 3·256 + 6·512) = 8,448; classifier
    # 2·(512·512+512) + 512·10+10 = 530,442. About 15.25M.
    "vgg16_bn": 15_253_578,
    # WRN-28-10 (timgaripov/swa models/wide_resnet.py): the bias-free WRN-28-10 has 36,479,194
    # (Zagoruyko & Komodakis 2016: 36.5M); the reference's convolutions have biases: stem 16,
    # 4 blocks × 2 convs × width + one shortcut per stage: 1,440 + 2,880 + 5,760 → +10,096.
    "wideresnet28_10": 36_489_290,
    "wideresnet": 36_489_290,  # defaults: depth 28, widen_factor 10
    # torchvision resnet18 (11,689,512) - 7·7·3·64 stem + 3·3·3·64 stem - (512·1000+1000) + (512·10+10);
    # equals kuangliu/pytorch-cifar's ResNet18.
    "resnet18": 11_173_962,
    # torchvision resnet50 (25,557,032) - 9,408 + 1,728 - (2048·1000+1000) + (2048·10+10);
    # equals kuangliu/pytorch-cifar's ResNet50.
    "resnet50": 23_520_842,
    # torchvision mobilenet_v2 (3,504,872) - (1280·1000+1000) + (1280·10+10); strides change no
    # parameter. (kuangliu's MobileNetV2 is a little larger: it adds 1×1-conv shortcuts.)
    "mobilenet_v2": 2_236_682,
    # torchvision resnet50 unchanged but its head: 25,557,032 - (2048·1000+1000) + (2048·10+10).
    "resnet50_imagenet": 23_528_522,
    # torchvision resnet18 unchanged but its head: 11,689,512 - (512·1000+1000) + (512·10+10).
    "resnet18_imagenet": 11_181_642,
}

# Width of the last linear layer's input: 100 classes add 90·(width + 1) parameters.
CLASSIFIER_WIDTH = {
    "preresnet20": 64, "preresnet56": 256, "preresnet110": 256, "preresnet164": 256,
    "vgg16_bn": 512, "wideresnet28_10": 640, "wideresnet": 640,
    "resnet18": 512, "resnet50": 2048, "mobilenet_v2": 1280, "resnet50_imagenet": 2048, "resnet18_imagenet": 512,
}

# Cheap enough for a CPU forward pass at batch 2 (the deep and the wide ones only have their
# parameters counted): (name, kwargs, num_outputs, input_shape). vgg16_bn needs 32×32 or more.
FORWARD_CASES = [
    (name, kwargs, num_outputs, shape)
    for name, kwargs in [
        ("preresnet20", {}),
        ("preresnet56", {}),
        ("vgg16_bn", {}),
        ("wideresnet", {"depth": 10, "widen_factor": 2}),
        ("resnet18", {}),
        ("mobilenet_v2", {}),
        ("cnn_small", {}),
    ]
    for num_outputs, shape in [(10, CIFAR), (100, MNIST)]
    if not (name == "vgg16_bn" and shape == MNIST)
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Batch-2 forward passes gain nothing from intra-op threads, and on a busy 2-core machine
    # OpenMP's spinning workers make them several times slower; restore the setting afterwards.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _build(name: str, num_outputs: int, input_shape: tuple[int, ...], **kwargs) -> nn.Module:
    return build_model(ModelSpec(name, kwargs), num_outputs=num_outputs, input_shape=input_shape)


def _count_on_meta(name: str, num_outputs: int) -> int:
    # Parameters on the meta device have shapes but no storage, so even WRN-28-10 builds instantly.
    with torch.device("meta"):
        return _count(_build(name, num_outputs, CIFAR))


def test_new_models_are_registered():
    assert set(PARAMS_CIFAR10) <= set(list_models())


def test_list_models_wildcard():
    assert list_models("preresnet*") == ["preresnet110", "preresnet164", "preresnet20", "preresnet56"]
    assert list_models("wideresnet*") == ["wideresnet", "wideresnet28_10"]


@pytest.mark.slow  # over 1 s: not in make test-fast
@pytest.mark.parametrize("name", sorted(PARAMS_CIFAR10))
def test_parameter_counts(name):
    assert _count_on_meta(name, 10) == PARAMS_CIFAR10[name]
    width = CLASSIFIER_WIDTH[name]
    assert _count_on_meta(name, 100) == PARAMS_CIFAR10[name] + 90 * (width + 1)


@pytest.mark.parametrize("name, kwargs, num_outputs, input_shape", FORWARD_CASES,
                         ids=[f"{c[0]}-{c[2]}-{'x'.join(map(str, c[3]))}" for c in FORWARD_CASES])
def test_forward_shape(name, kwargs, num_outputs, input_shape):
    torch.manual_seed(0)
    model = _build(name, num_outputs, input_shape, **kwargs)
    with torch.no_grad():
        out = model(torch.randn(2, *input_shape))
    assert out.shape == (2, num_outputs)
    assert torch.isfinite(out).all()


def test_mlp_forward_on_vectors():
    model = _build("mlp", 3, (5,))
    assert model(torch.randn(2, 5)).shape == (2, 3)


@pytest.mark.parametrize("name, depth, block, blocks", [
    ("preresnet20", 20, preresnet.BasicBlock, 3),
    ("preresnet56", 56, preresnet.Bottleneck, 6),
    ("preresnet110", 110, preresnet.Bottleneck, 12),
    ("preresnet164", 164, preresnet.Bottleneck, 18),
])
def test_preresnet_block_choice(name, depth, block, blocks):
    with torch.device("meta"):
        model = _build(name, 10, CIFAR)
    for stage in (model.layer1, model.layer2, model.layer3):
        assert len(stage) == blocks and all(type(b) is block for b in stage)
    shortcut_convs = {m for b in model.modules() if getattr(b, "shortcut", None) is not None
                      for m in b.shortcut.modules()}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m not in shortcut_convs]
    assert len(convs) + 1 == depth  # weighted layers: convolutions off the shortcuts, plus fc


def test_small_image_adaptations():
    net = _build("resnet18", 10, MNIST)
    assert net.conv1.in_channels == 1 and net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity)
    mobile = _build("mobilenet_v2", 10, CIFAR)
    with torch.no_grad():
        assert mobile.features(torch.randn(1, *CIFAR)).shape == (1, 1280, 4, 4)  # strides 1,1,2,2,2
    assert _build("preresnet20", 10, MNIST).conv1.in_channels == 1


@pytest.mark.parametrize("name, text, blocks, width", [
    ("wideresnet", '{"depth": 10, "widen_factor": 1, "dropout": 0.3}', 1, 64),
    ("wideresnet28_10", '{"dropout": 0.3}', 4, 640),
])
def test_wideresnet_kwargs(name, text, blocks, width):
    spec = ModelSpec(name, parse_model_kwargs(text))
    with torch.device("meta"):
        model = build_model(spec, num_outputs=10, input_shape=CIFAR)
    assert {m.p for m in model.modules() if isinstance(m, nn.Dropout)} == {0.3}
    assert len(model.layer1) == blocks and model.linear.in_features == width
    with torch.device("meta"):
        default = _build(name, 10, CIFAR)
    assert {m.p for m in default.modules() if isinstance(m, nn.Dropout)} == {0.0}


def test_reference_init():
    # timgaripov/swa: conv weights ~ N(0, 2 / (k·k·out_channels)), BN as identity, VGG conv biases 0.
    torch.manual_seed(0)
    model = _build("preresnet20", 10, CIFAR)
    weight = model.layer3[1].conv2.weight.detach().double()  # 64·64·9 = 36,864 draws
    assert weight.mean().abs().item() < 0.003
    assert weight.std().item() == pytest.approx((2.0 / (9 * 64)) ** 0.5, rel=0.02)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
               for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    net = _build("vgg16_bn", 10, CIFAR)
    assert all(not m.bias.any() for m in net.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("name, kwargs, input_shape, match", [
    ("preresnet20", {}, (784,), r"input_shape=\(C, H, W\).*\(784,\)"),
    ("resnet18", {}, (3, 32), r"input_shape=\(C, H, W\)"),
    ("vgg16_bn", {}, MNIST, r"at least 32×32.*\(1, 28, 28\)"),
    ("wideresnet", {"depth": 27}, CIFAR, r"depth must be 6n\+4.*27"),
    ("wideresnet", {"widen_factor": 0}, CIFAR, r"widen_factor must be a positive integer, got 0"),
    ("wideresnet28_10", {"dropout": 1.5}, CIFAR, r"dropout must be a probability in \[0, 1\), got 1.5"),
])
def test_bad_arguments_raise_model_error(name, kwargs, input_shape, match):
    with pytest.raises(ModelError, match=match):
        _build(name, 10, input_shape, **kwargs)


def test_builders_raise_value_error_directly():
    with pytest.raises(ValueError, match=r"num_outputs must be a positive integer, got 0"):
        preresnet.preresnet20(num_outputs=0, input_shape=CIFAR)
    with pytest.raises(ValueError, match=r"mobilenet_v2 needs image inputs"):
        torchvision_small.mobilenet_v2(num_outputs=10, input_shape=(3, 0, 32))
    with pytest.raises(ValueError, match=r"depth must be 9n\+2.*50"):
        preresnet.PreResNet(10, depth=50)
    with pytest.raises(ValueError, match=r"depth must be 6n\+2.*21"):
        preresnet.PreResNet(10, depth=21)
    with pytest.raises(ValueError, match=r"at least 32×32"):
        vgg.vgg16_bn(num_outputs=10, input_shape=(3, 16, 16))
    with pytest.raises(ValueError, match=r"depth must be 6n\+4"):
        wideresnet.WideResNet(10, depth=4)


def test_unknown_kwarg_raises_model_error():
    with pytest.raises(ModelError, match=r"'preresnet20' rejected its arguments.*'width'"):
        _build("preresnet20", 10, CIFAR, width=2)


def test_unknown_name_lists_valid_models():
    with pytest.raises(ModelError, match=r"unknown model 'preresnet21'") as info:
        _build("preresnet21", 10, CIFAR)
    for name in list_models():
        assert name in str(info.value)


USER_MODULE = '''
import math
import torch.nn as nn

def build(num_outputs, input_shape, hidden=4):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(),
                         nn.Linear(hidden, num_outputs))

def fixed():
    return nn.Linear(6, 2)

def not_a_model(num_outputs):
    return num_outputs
'''


@pytest.fixture
def user_file(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "user_model.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    return "models/user_model.py"


def test_user_file_spec_with_kwargs(user_file):
    spec = ModelSpec(f"{user_file}:build", parse_model_kwargs('{"hidden": 7}'))
    model = build_model(spec, num_outputs=3, input_shape=(2, 3))
    assert model[1].out_features == 7
    assert model(torch.randn(2, 2, 3)).shape == (2, 3)
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_user_function_without_shape_arguments(user_file):
    model = build_model(ModelSpec(f"{user_file}:fixed"), num_outputs=2, input_shape=(6,))
    assert isinstance(model, nn.Linear)


def test_user_spec_errors(user_file):
    with pytest.raises(ModelError, match=r"rejected its arguments.*'depth'"):
        build_model(ModelSpec(f"{user_file}:build", {"depth": 3}), num_outputs=3, input_shape=(4,))
    with pytest.raises(ModelError, match=r"returned int, not an nn.Module"):
        build_model(ModelSpec(f"{user_file}:not_a_model"), num_outputs=3, input_shape=(4,))
    with pytest.raises(ModelError, match=r"has no callable 'missing'"):
        build_model(ModelSpec(f"{user_file}:missing"), num_outputs=3, input_shape=(4,))
    with pytest.raises(ModelError, match=r"does not exist"):
        build_model(ModelSpec("models/nope.py:build"), num_outputs=3, input_shape=(4,))
    with pytest.raises(ModelError, match=r"must be a JSON object"):
        parse_model_kwargs("[1, 2]")


def test_hand_derived_counts_add_up():
    # Guard the hand-derived formulas above against an arithmetic slip.
    def preresnet_basic(n):
        return 77_850 + 97_216 * (n - 1)

    def preresnet_bottleneck(n):
        return 126_746 + 92_736 * (n - 1)

    assert preresnet_basic(3) == PARAMS_CIFAR10["preresnet20"]
    assert [preresnet_bottleneck(n) for n in (6, 12, 18)] == [
        PARAMS_CIFAR10[k] for k in ("preresnet56", "preresnet110", "preresnet164")]
    assert 14_714_688 + 8_448 + 2 * (512 * 512 + 512) + 5_130 == PARAMS_CIFAR10["vgg16_bn"]
    wrn_biases = 16 + 4 * 2 * (160 + 320 + 640) + 160 + 320 + 640
    assert 36_479_194 + wrn_biases == PARAMS_CIFAR10["wideresnet28_10"]
    assert 11_689_512 - 9_408 + 1_728 - 513_000 + 5_130 == PARAMS_CIFAR10["resnet18"]
    assert 25_557_032 - 9_408 + 1_728 - 2_049_000 + 20_490 == PARAMS_CIFAR10["resnet50"]
    assert 3_504_872 - 1_281_000 + 12_810 == PARAMS_CIFAR10["mobilenet_v2"]
    assert 25_557_032 - 2_049_000 + 20_490 == PARAMS_CIFAR10["resnet50_imagenet"]
    assert 11_689_512 - 513_000 + 5_130 == PARAMS_CIFAR10["resnet18_imagenet"]


def test_vgg_width_scales_every_layer():
    """width w: convolutions 64·w/512 ... 512·w/512 and a w-w-classes classifier, counted by hand."""
    w = 64
    convs = [c * w // 512 for c in (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)]
    chans = [3] + convs
    expected = sum(9 * a * b + b + 2 * b for a, b in zip(chans, chans[1:]))  # conv weight, bias, BN
    expected += 2 * (w * w + w) + w * 10 + 10
    model = build_model(ModelSpec("vgg16_bn", {"width": w}), num_outputs=10, input_shape=CIFAR)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(2, *CIFAR)).shape == (2, 10)
    with pytest.raises(ModelError, match="multiple of 8"):
        build_model(ModelSpec("vgg16_bn", {"width": 60}), num_outputs=10, input_shape=CIFAR)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_imagenet_resnets_take_torchvision_weights_and_gray_images(arch):
    """Every tensor of torchvision's ResNet-50 but the head loads by name; a gray image gives what
    torchvision's own network gives on the image repeated to RGB."""
    import torchvision

    torch.manual_seed(0)
    ref = getattr(torchvision.models, arch)(weights=None, num_classes=10).eval()
    model = build_model(ModelSpec(f"{arch}_imagenet"), num_outputs=10, input_shape=MNIST).eval()
    model.load_state_dict(ref.state_dict())
    x = torch.randn(2, *MNIST)
    torch.testing.assert_close(model(x), ref(x.repeat(1, 3, 1, 1)))
    with pytest.raises(ModelError, match="1- or 3-channel"):
        build_model(ModelSpec("resnet50_imagenet"), num_outputs=10, input_shape=(2, 28, 28))
