"""The PyTorch back end: torchvision's weights load into its models, and, given the same
weights, its models compute what the Keras models compute.

torchvision and timm are in the test extra; large models are marked slow.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO, SHIPPED_SPECS
from tests.families import swept
from tests.test_codegen import import_source

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import resnet_dsl  # noqa: E402
from resnet_dsl.backends import torch_layout  # noqa: E402
from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch, torch_weights_to_keras  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402
from resnet_dsl.network import naming  # noqa: E402

pytestmark = pytest.mark.torch

SMALL_INPUT = {"input": "64x64x3"}
"""Where a spec is 224x224, the equivalence tests run it at 64x64: the same layers, less work."""

TORCHVISION = [
    pytest.param("specs/torchvision/resnet18.arch", None, "resnet18", id="resnet18"),
    pytest.param("specs/torchvision/resnet34.arch", None, "resnet34", id="resnet34", marks=pytest.mark.slow),
    pytest.param("specs/torchvision/resnet50.arch", None, "resnet50", id="resnet50", marks=pytest.mark.slow),
    pytest.param("specs/torchvision/resnet101.arch", None, "resnet101", id="resnet101", marks=pytest.mark.slow),
    pytest.param("specs/torchvision/resnet152.arch", None, "resnet152", id="resnet152", marks=pytest.mark.slow),
]
"""(spec, overrides, torchvision model). torchvision's resnet50 is our ResNet-101 with its depths."""


# ---------------------------------------------------------------- helpers --


def randomized(model: Any, seed: int = 0) -> Any:
    """A Keras model with every weight moved off its initial value, BatchNorm statistics
    included, so that no layer is an identity by accident; returned for chaining."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = (w.shape for w in weights)
            weights = [
                rng.uniform(0.5, 1.5, gamma),
                rng.normal(0, 0.1, beta),
                rng.normal(0, 0.1, mean),
                rng.uniform(0.5, 1.5, variance),
            ]
        else:
            weights = [w + rng.normal(0, 0.01, w.shape) for w in weights]
        layer.set_weights([w.astype(np.float32) for w in weights])
    return model


def nchw(images: np.ndarray) -> Any:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def nhwc(output: Any) -> np.ndarray:
    array = output.detach().numpy()
    return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def assert_close(actual: np.ndarray, expected: np.ndarray, tolerance: float = 1e-4) -> None:
    """Within `tolerance`, relative to the magnitude of the values where that exceeds 1."""
    scale = max(float(np.abs(expected).max()), 1.0)
    difference = float(np.abs(actual - expected).max())
    assert difference <= tolerance * scale, f"max abs difference {difference:.3g} (values up to {scale:.3g})"


def torch_output(model: Any, images: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return nhwc(model(nchw(images)))


def small(spec: str) -> resnet_dsl.Network:
    network = resnet_dsl.load(spec)
    if network.input_shape[0] > 64:
        network = resnet_dsl.load(spec, overrides=SMALL_INPUT)
    return network


# ------------------------------------------------------------ torchvision --


ZOO = [
    pytest.param(
        "specs/torchvision/resnext50_32x4d.arch", None, "resnext50_32x4d", id="resnext50_32x4d", marks=pytest.mark.slow
    ),
    pytest.param(
        "specs/torchvision/wide_resnet50_2.arch", None, "wide_resnet50_2", id="wide_resnet50_2", marks=pytest.mark.slow
    ),
    pytest.param(
        "specs/torchvision/resnext101_32x8d.arch",
        None,
        "resnext101_32x8d",
        id="resnext101_32x8d",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "specs/torchvision/wide_resnet101_2.arch",
        None,
        "wide_resnet101_2",
        id="wide_resnet101_2",
        marks=pytest.mark.slow,
    ),
    pytest.param("specs/timm/resnet50d.arch", None, "timm:resnet50d", id="timm-resnet50d", marks=pytest.mark.slow),
    pytest.param("specs/timm/seresnet50.arch", None, "timm:seresnet50", id="timm-seresnet50", marks=pytest.mark.slow),
]


def zoo_model(name: str) -> Any:
    if name.startswith("timm:"):
        timm = pytest.importorskip("timm")
        return timm.create_model(name.removeprefix("timm:"), pretrained=False)
    return getattr(torchvision.models, name)()


@pytest.mark.parametrize(("spec", "overrides", "name"), TORCHVISION + ZOO)
def test_torchvision_weights_load_and_give_its_outputs(spec: str, overrides: dict | None, name: str) -> None:
    torch.manual_seed(0)
    model = to_torch(spec, overrides=overrides).eval()
    reference = zoo_model(name).eval()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs)  # the same keys, num_batches_tracked included
    if not name.startswith("timm:"):  # in torchvision's order too (timm registers `se` after `downsample`)
        assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    model.load_state_dict(theirs, strict=True)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        difference = (model(images) - reference(images)).abs().max().item()
    assert difference < 1e-4


def test_torchvision_names_come_from_the_naming_table() -> None:
    paths = torch_layout.layout(resnet_dsl.load("specs/torchvision/resnet18.arch")).module_paths()
    assert paths["conv1_conv"] == "conv1"
    assert paths["conv1_bn"] == "bn1"
    assert paths["conv3_block1_1_conv"] == f"{naming.torch_stage(2)}.0.conv1"
    assert paths["conv3_block1_0_conv"] == "layer2.0.downsample.0"
    assert paths["conv3_block1_0_bn"] == "layer2.0.downsample.1"
    assert paths["conv5_block2_2_bn"] == "layer4.1.bn2"
    assert paths["fc"] == "fc"
    assert "conv1_pad" not in paths, "a zero padding before a convolution is its padding"


def test_reserved_names_are_the_modules_own() -> None:
    """Every attribute of a module, public or private, class or instance (`_modules`, `__class__`)."""
    own = set(dir(torch.nn.Module)) | set(vars(torch.nn.Module()))
    assert {name for name in own if not naming.reserved_by_torch(name)} == set()
    assert not naming.reserved_by_torch("_1_x") and not naming.reserved_by_torch("conv1")


def test_paths_named_after_module_internals_build() -> None:
    """`_modules`, `__class__`, `_parameters` as path names were a KeyError traceback."""
    network = resnet_dsl.loads(
        "block b(f) {\n  main { relu }\n  _modules from main { conv(f, 1) }\n  __class__ from main { relu }\n"
        "  _parameters from main { bn }\n  out = add(_modules, __class__, _parameters, shortcut)\n}\n"
        "network N(input = 8x8x4) {\n  stage s: b(4)\n}\n"
    )
    model = to_torch(network)
    children = {name for name, _ in model.layer1[0].named_children()}
    assert not children & set(dir(torch.nn.Module)), children
    assert sum(p.numel() for p in model.parameters()) == resnet_dsl.summary(network)["torch"]["params"]


def test_hostile_layer_names_stay_attributes() -> None:
    network = resnet_dsl.loads(
        'block b(f) {\n  main { conv(f, 1) as "forward" -> bn as "class" -> relu as "1.x" }\n'
        "  out = add(main, shortcut)\n}\n"
        'network N(input = 8x8x4) {\n  stage s: b(4)\n  head { global_avgpool -> dense(2) as "training" }\n}\n'
    )
    model = to_torch(network)
    assert {name for name, _ in model.named_children()} >= {"layer1", "training_"}
    assert {name for name, _ in model.layer1[0].named_children()} == {"forward_", "class_", "_1_x"}
    model.eval()(torch.zeros(1, 4, 8, 8))


# ----------------------------------------------------- Keras equivalence --

FAST_SPECS = {"specs/seed/resnet50.arch", "specs/torchvision/resnet18.arch"}
SPEC_PARAMS = [
    pytest.param(spec, id=spec, marks=[] if spec in FAST_SPECS else [pytest.mark.slow])
    for spec in SHIPPED_SPECS
    if swept(spec)
]


@pytest.mark.keras
@pytest.mark.parametrize("spec", SPEC_PARAMS)
def test_keras_and_torch_models_agree_given_the_same_weights(spec: str) -> None:
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    network = small(spec)
    keras_model = randomized(resnet_dsl.to_keras(network))
    torch_model = to_torch(network)
    keras_weights_to_torch(network, keras_model, torch_model)
    images = np.random.default_rng(2).normal(size=(2, *network.input_shape)).astype(np.float32)
    expected = np.asarray(keras_model(images, training=False))
    assert_close(torch_output(torch_model, images), expected)


@pytest.mark.keras
def test_weights_go_back_to_keras_unchanged() -> None:
    keras = pytest.importorskip("keras")
    network = resnet_dsl.load("specs/torchvision/resnet18.arch", overrides=SMALL_INPUT)
    source = randomized(resnet_dsl.to_keras(network))
    torch_model = to_torch(network)
    keras_weights_to_torch(network, source, torch_model)
    target = resnet_dsl.to_keras(network)
    torch_weights_to_keras(network, torch_model, target)
    for first, second in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(first, second)
    del keras


@pytest.mark.keras
@pytest.mark.parametrize(
    "layers",
    [
        "conv(5, 3, stride=2, padding=same) -> maxpool(3, stride=2, padding=same)",
        "conv(5, 4, padding=same, use_bias=true) -> avgpool(3, stride=2, padding=same)",
        "conv(6, [3, 1], stride=[2, 1], padding=same, dilation=1, groups=2) -> activation(leaky_relu)",
        "zeropad([[1, 2], [0, 3]]) -> conv(4, 3, dilation=2) -> activation(hard_sigmoid) -> flatten -> dense(3)",
        "conv(4, 2, stride=2) -> bn(momentum=0.8, epsilon=0.01) -> activation(gelu) -> flatten "
        "-> dense(5, activation=log_softmax)",
        "conv(4, 1) -> dense(3, activation=softsign) -> global_maxpool -> bn -> activation(selu)",
        "depthwise_conv(3, stride=2, padding=same, depth_multiplier=2, use_bias=true) -> gn(2) -> ln -> upsample(2)",
        "separable_conv(6, 3, padding=same, depth_multiplier=2) -> zeropad(channels=[1, 2]) -> subsample(2) "
        "-> upsample(2, interpolation=bilinear) -> global_avgpool(keepdims=true) -> reshape([3, 3]) -> flatten",
        "depthwise_conv(2, padding=same) -> separable_conv(4, 3, stride=2) -> reshape([-1, 4]) -> ln",
    ],
)
def test_keras_padding_and_layer_options_agree(layers: str) -> None:
    """Odd sizes, asymmetric `same` padding, channel-last flattening, dense on images."""
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    network = resnet_dsl.loads(f"network N(input = 11x9x2) {{\n  stem {{\n    {layers}\n  }}\n}}\n")
    keras_model = randomized(resnet_dsl.to_keras(network))
    torch_model = to_torch(network)
    keras_weights_to_torch(network, keras_model, torch_model)
    images = np.random.default_rng(3).normal(size=(3, *network.input_shape)).astype(np.float32)
    assert_close(torch_output(torch_model, images), np.asarray(keras_model(images, training=False)))
    generated = import_source(to_python(network, target="torch")).build_model()
    generated.load_state_dict(torch_model.state_dict(), strict=True)
    np.testing.assert_allclose(torch_output(generated, images), torch_output(torch_model, images), rtol=1e-5, atol=1e-6)


def test_batchnorm_momentum_and_epsilon_convert() -> None:
    model = to_torch("specs/seed/resnet50.arch")
    assert model.bn1.momentum == pytest.approx(0.01) and model.bn1.eps == pytest.approx(1e-3)
    torchvision_like = to_torch("specs/torchvision/resnet18.arch")
    assert torchvision_like.bn1.momentum == pytest.approx(0.1) and torchvision_like.bn1.eps == pytest.approx(1e-5)


def test_seeded_initializers_repeat_and_follow_keras_scales() -> None:
    first, second = to_torch("specs/seed/resnet50.arch"), to_torch("specs/seed/resnet50.arch")
    assert torch.equal(first.conv1.weight, second.conv1.weight), "glorot_uniform(seed=0) draws the same weights"
    weight = first.conv1.weight  # glorot_uniform: limit sqrt(6 / (fan_in + fan_out))
    limit = (6 / (3 * 49 + 64 * 49)) ** 0.5
    assert weight.abs().max().item() <= limit and weight.abs().max().item() > 0.9 * limit
    assert torch.count_nonzero(first.conv1.bias) == 0


def test_without_torch_it_says_how_to_get_it() -> None:
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "import resnet_dsl\n"
        "resnet_dsl.to_torch('specs/torchvision/resnet18.arch')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert 'pip install "resnet-dsl[torch]"' in result.stderr
    command = code.replace(
        "import resnet_dsl\nresnet_dsl.to_torch('specs/torchvision/resnet18.arch')\n",
        "import runpy\nsys.argv = ['resnet-dsl', 'build', 'specs/torchvision/resnet18.arch', '--target', 'torch']\n"
        "runpy.run_module('resnet_dsl', run_name='__main__', alter_sys=True)\n",
    )
    result = subprocess.run([sys.executable, "-c", command], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "PyTorch is required for 'build --target torch': pip install \"resnet-dsl[torch]\"\n"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("spec", ["specs/seed/resnet50.arch", "specs/torchvision/resnet18.arch"])
def test_static_summary_counts_what_torch_counts(spec: str) -> None:
    from resnet_dsl.analysis.summary import summary

    counts = summary(resnet_dsl.load(spec))["torch"]
    model = to_torch(spec)
    assert counts["params"] == sum(p.numel() for p in model.parameters())
    assert counts["buffers"] == sum(b.numel() for b in model.buffers())
    if spec == "specs/torchvision/resnet18.arch":
        reference = torchvision.models.resnet18()
        assert counts["params"] == sum(p.numel() for p in reference.parameters()) == 11_689_512
        assert counts["buffers"] == sum(b.numel() for b in reference.buffers())


# ------------------------------------------------------------------ timm --


@pytest.mark.slow
def test_timm_resnet50d_weights_load_into_a_deep_stem_spec() -> None:
    """A labelled stem unit of several convolutions is timm's `conv1` nn.Sequential; the
    shortcut's average pool is `downsample.0`, an identity pool where the stride is 1."""
    timm = pytest.importorskip("timm")
    spec = "tests/specs/resnet50d_timm.arch"
    model = to_torch(spec).eval()
    reference = timm.create_model("resnet50d", pretrained=False).eval()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs) and all(ours[k].shape == theirs[k].shape for k in theirs)
    assert {"conv1.0.weight", "conv1.6.weight", "bn1.weight", "layer2.0.downsample.1.weight"} <= set(ours)
    assert sum(p.numel() for p in model.parameters()) == 25_576_264
    model.load_state_dict(theirs, strict=True)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert (model(images) - reference(images)).abs().max().item() < 1e-4
    generated = import_source(to_python(spec, target="torch")).build_model().eval()
    generated.load_state_dict(theirs, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(generated(images), model(images), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_timm_seresnet50_weights_load_into_an_se_spec() -> None:
    """A named `se` path is timm's SEModule: `se.fc1`, `se.fc2`, biased, after the last BN."""
    timm = pytest.importorskip("timm")
    spec = "tests/specs/seresnet50_timm.arch"
    model = to_torch(spec).eval()
    reference = timm.create_model("seresnet50", pretrained=False).eval()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs) and all(ours[k].shape == theirs[k].shape for k in theirs)
    assert "layer1.0.se.fc1.bias" in ours and "layer1.0.downsample.0.weight" in ours
    assert "layer1.1.downsample.0.weight" not in ours, "the shortcut's condition leaves it out"
    assert sum(p.numel() for p in model.parameters()) == 28_088_024
    model.load_state_dict(theirs, strict=True)
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model(images) - reference(images)).abs().max().item() < 1e-4
    generated = import_source(to_python(spec, target="torch")).build_model().eval()
    generated.load_state_dict(theirs, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(generated(images), model(images), rtol=1e-5, atol=1e-6)
