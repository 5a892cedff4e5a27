"""Initializers the zoos use: `variance_scaling(scale, mode=..., distribution=...)` and
`constant(value)`, honoured by both back ends and both generators.

torchvision initialises every convolution with `kaiming_normal_(mode="fan_out",
nonlinearity="relu")`; a spec says so with `variance_scaling(2.0, mode=fan_out,
distribution=untruncated_normal)`. The statistics of each initialised convolution (mean and
standard deviation, per layer) are held to those of torchvision's own constructor, within
sampling error.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError
from tests.conftest import REPO, split_network
from tests.test_codegen import import_source

KAIMING = "variance_scaling(2.0, mode=fan_out, distribution=untruncated_normal)"


def resnet18_with(init: str) -> resnet_dsl.Network:
    """torchvision's resnet18 spec with its convolutions initialised by `init`."""
    text = (REPO / "specs/torchvision/resnet18.arch").read_text(encoding="utf-8")
    declared = f"conv(use_bias=false, init={KAIMING},"
    assert declared in text
    return resnet_dsl.loads(text.replace(declared, f"conv(use_bias=false, init={init},"))


def assert_same_statistics(ours: np.ndarray, theirs: np.ndarray, expected_std: float, key: str) -> None:
    """Two samples of one distribution: means within 6 standard errors of zero, deviations
    within 6 standard errors of each other and of `expected_std`, as many values beyond two
    deviations (so a truncated normal of the same deviation does not pass)."""
    n = ours.size
    assert abs(ours.mean()) < 6 * expected_std / math.sqrt(n), key
    assert abs(theirs.mean()) < 6 * expected_std / math.sqrt(n), key
    error = expected_std / math.sqrt(2 * n)  # the standard error of a sample's deviation
    assert abs(ours.std() - expected_std) < 6 * error, (key, ours.std(), expected_std)
    assert abs(ours.std() - theirs.std()) < 6 * math.sqrt(2) * error, (key, ours.std(), theirs.std())
    tail = 0.0455  # of a normal, beyond two deviations: a truncated one has none
    ours_tail, theirs_tail = (np.mean(np.abs(sample) > 2 * expected_std) for sample in (ours, theirs))
    assert abs(ours_tail - theirs_tail) < 6 * math.sqrt(2 * tail * (1 - tail) / n) + 1e-9, (key, ours_tail, theirs_tail)


def fan_out(weight: Any) -> int:
    return weight.shape[0] * math.prod(weight.shape[2:])


@pytest.mark.torch
@pytest.mark.parametrize("built_by", ["to_torch", "generated"])
def test_kaiming_fan_out_is_torchvisions(built_by: str) -> None:
    pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    network = resnet18_with(KAIMING)
    if built_by == "to_torch":
        module = resnet_dsl.to_torch(network)
    else:
        module = import_source(to_python(network, target="torch")).build_model()
    ours = module.state_dict()
    theirs = torchvision.models.resnet18().state_dict()
    convolutions = [key for key, value in theirs.items() if key.endswith("weight") and value.dim() == 4]
    assert len(convolutions) == 20
    for key in convolutions:
        expected = math.sqrt(2 / fan_out(theirs[key]))
        assert_same_statistics(ours[key].numpy(), theirs[key].numpy(), expected, key)


@pytest.mark.torch
def test_keras_default_is_not_torchvisions() -> None:
    """The test above can tell: Keras's glorot_uniform gives other deviations."""
    pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    ours = resnet_dsl.to_torch(resnet18_with("glorot_uniform")).state_dict()
    theirs = torchvision.models.resnet18().state_dict()
    key = "layer1.0.conv1.weight"
    with pytest.raises(AssertionError):
        assert_same_statistics(ours[key].numpy(), theirs[key].numpy(), math.sqrt(2 / fan_out(theirs[key])), key)


@pytest.mark.torch
@pytest.mark.parametrize(
    ("init", "std"),
    [
        ("variance_scaling(1.0, mode=fan_in, distribution=uniform)", lambda i, o: math.sqrt(1 / i)),
        (
            "variance_scaling(scale=3.0, mode=fan_avg, distribution=untruncated_normal)",
            lambda i, o: math.sqrt(6 / (i + o)),
        ),
        ("variance_scaling(2.0, mode=fan_out)", lambda i, o: math.sqrt(2 / o)),  # truncated at 2 deviations
    ],
)
def test_every_mode_and_distribution(init: str, std: Any) -> None:
    pytest.importorskip("torch")
    state = resnet_dsl.to_torch(resnet18_with(init)).state_dict()
    weight = state["layer4.0.conv2.weight"].numpy()
    fan_in = weight.shape[1] * 9
    expected = std(fan_in, fan_out(weight))
    assert abs(weight.std() - expected) < 6 * expected / math.sqrt(2 * weight.size)
    if "uniform" in init:
        assert np.abs(weight).max() <= expected * math.sqrt(3) + 1e-6
    elif "untruncated" not in init:
        assert np.abs(weight).max() <= 2 * expected / 0.87962566103423978 + 1e-6


@pytest.mark.torch
def test_constant() -> None:
    pytest.importorskip("torch")
    network = resnet18_with("constant(0.25)")
    for module in (resnet_dsl.to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        assert (module.state_dict()["layer1.0.conv1.weight"] == 0.25).all()


@pytest.mark.keras
def test_keras_honours_them_too() -> None:
    network = resnet18_with("variance_scaling(2.0, mode=fan_out, distribution=untruncated_normal, seed=1)")
    model = resnet_dsl.to_keras(network)
    convolutions = [layer for layer in network.layers if layer.kind == "conv2d"]
    wide = next(
        layer.name for layer in convolutions if layer.config.kernel_size == (3, 3) and layer.config.filters == 512
    )
    kernel = model.get_layer(wide).get_weights()[0]  # (3, 3, in, out)
    expected = math.sqrt(2 / (9 * kernel.shape[3]))
    assert abs(kernel.std() - expected) < 6 * expected / math.sqrt(2 * kernel.size)
    source = to_python(network)
    assert "keras.initializers.VarianceScaling(" in source and 'mode="fan_out"' in source
    constant = resnet_dsl.to_keras(resnet18_with("constant(0.25)"))
    assert (constant.get_layer(convolutions[0].name).get_weights()[0] == 0.25).all()


@pytest.mark.parametrize(
    ("init", "message"),
    [
        ("variance_scaling(2.0, mode=fan_up)", "mode must be one of fan_avg, fan_in, fan_out, got 'fan_up'"),
        ("variance_scaling(2.0, distribution=normal)", "distribution must be one of"),
        ("constant(1.0, 2.0)", "constant takes keyword arguments only"),
        ("variance_scaling(2.0, gain=1)", "variance_scaling has no option 'gain'"),
    ],
)
def test_bad_options_are_located_errors(init: str, message: str) -> None:
    with pytest.raises(ArchError, match=message) as caught:
        resnet18_with(init)
    assert caught.value.span is not None and caught.value.span.line > 0


def zoo_statistics_match(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    """Per weight of the reference: convolutions and the classifier drawn alike (mean,
    deviation, tails), BatchNorm scales and shifts equal. Returns the keys compared."""
    compared = []
    for key, value in theirs.items():
        if not key.endswith("weight") and not (key.endswith("bias") and value.dim() == 1 and key in ours):
            continue
        mine = ours[key]
        if value.dim() == 4 or (value.dim() == 2 and key.endswith("weight")):
            fan = value.shape[0] * math.prod(value.shape[2:]) if value.dim() == 4 else value.shape[1]
            expected = math.sqrt(2 / fan) if value.dim() == 4 else math.sqrt(1 / (3 * fan))
            assert_same_statistics(mine.numpy(), value.numpy(), expected, key)
        elif value.dim() == 1 and ("bn" in key or "downsample.1" in key):
            assert mine.tolist() == value.tolist(), key
        else:
            continue
        compared.append(key)
    return compared


@pytest.mark.torch
def test_torchvision_specs_initialise_as_torchvision() -> None:
    """specs/torchvision/resnet50.arch declares torchvision's scheme: each convolution and the
    classifier's weight drawn as torchvision draws them, every BatchNorm ones and zeros."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    theirs = torchvision.models.resnet50().state_dict()
    for module in (
        resnet_dsl.to_torch("specs/torchvision/resnet50.arch"),
        import_source(to_python("specs/torchvision/resnet50.arch", target="torch")).build_model(),
    ):
        compared = zoo_statistics_match(module.state_dict(), theirs)
        assert sum(key.endswith("conv1.weight") for key in compared) == 17 and "fc.weight" in compared


@pytest.mark.torch
def test_timm_specs_zero_the_last_batchnorm_as_timm() -> None:
    """specs/timm/seresnet50.arch: timm's kaiming fan-out convolutions (SE's included) and its
    zeroed last BatchNorm of each block (`bn(gamma_init=zeros)`)."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    theirs = timm.create_model("seresnet50").state_dict()
    for module in (
        resnet_dsl.to_torch("specs/timm/seresnet50.arch"),
        import_source(to_python("specs/timm/seresnet50.arch", target="torch")).build_model(),
    ):
        ours = module.state_dict()
        compared = zoo_statistics_match(ours, theirs)
        assert "layer1.0.bn3.weight" in compared and (ours["layer1.0.bn3.weight"] == 0).all()
        assert "layer4.2.se.fc1.weight" in compared


# ----------------------------------------------- the generated init_weights --


def assert_drawn_alike(ours: np.ndarray, theirs: np.ndarray, key: str) -> None:
    """Two draws of one initializer, whatever it is: equal where it is a constant, else mean and
    deviation within 6 standard errors, and as many values beyond one and two deviations (a
    uniform, a normal and a truncated normal of one deviation differ there)."""
    assert ours.shape == theirs.shape, key
    std = float(theirs.std())
    if std == 0:
        assert (ours == theirs).all(), (key, ours.ravel()[:4], theirs.ravel()[:4])
        return
    n = ours.size
    assert abs(ours.mean() - theirs.mean()) < 6 * std * math.sqrt(2 / n), (key, ours.mean(), theirs.mean())
    assert abs(ours.std() - std) < 6 * std / math.sqrt(n), (key, ours.std(), std)
    for width in (1, 2):
        mine, reference = (float(np.mean(np.abs(sample - sample.mean()) > width * std)) for sample in (ours, theirs))
        spread = math.sqrt(2 * max(reference, 1 / n) * (1 - reference) / n)
        assert abs(mine - reference) < 6 * spread + 1e-9, (key, width, mine, reference)


def drawn_tensors(ours: dict[str, Any], theirs: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """Every weight and bias both state_dicts hold (running statistics aside), drawn alike."""
    compared = []
    for key, value in theirs.items():
        if key.endswith(("weight", "bias")) and not key.startswith(skip):
            assert_drawn_alike(ours[key].numpy(), value.numpy(), key)
            compared.append(key)
    return compared


def generated_model(spec: str) -> Any:
    return import_source(to_python(spec, target="torch")).build_model()


@pytest.mark.torch
@pytest.mark.parametrize("built_by", ["to_torch", "generated"])
def test_init_weights_is_timms_for_every_tensor(built_by: str) -> None:
    """seresnet50's one init_weights pass (generated, and to_torch's) against timm's own
    constructor: every weight and bias drawn alike (kaiming fan-out convolutions, BatchNorm ones
    and zeros but each block's last scale zero), and the biases timm leaves to torch's own draw
    (SE's convolutions, the classifier's) uniform within 1 / sqrt(fan_in) of their layer, as
    the spec's `bias_init=variance_scaling(1 / 3, mode=fan_in, distribution=uniform)` says."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    theirs = timm.create_model("seresnet50").state_dict()
    spec = "specs/timm/seresnet50.arch"
    ours = (resnet_dsl.to_torch(spec) if built_by == "to_torch" else generated_model(spec)).state_dict()
    compared = drawn_tensors(ours, theirs)
    assert len(compared) == len([key for key in theirs if key.endswith(("weight", "bias"))])
    biases = [key for key in compared if key.endswith("bias") and ("se." in key or key == "fc.bias")]
    assert len(biases) == 33 and all(ours[key].abs().max() > 0 for key in biases)
    fan_in = theirs["layer4.2.se.fc2.weight"][0].numel()  # 128 channels in, a 1x1 kernel
    assert ours["layer4.2.se.fc2.bias"].abs().max() <= 1 / math.sqrt(fan_in)
    assert {"layer2.0.bn3.weight", "layer3.1.se.fc2.weight", "layer4.0.downsample.1.weight", "fc.weight"} <= set(
        compared
    )


@pytest.mark.torch
@pytest.mark.parametrize("spec", ["specs/torchvision/resnet18.arch", "specs/torchvision/resnext50_32x4d.arch"])
def test_generated_init_weights_is_torchvisions_for_every_tensor(spec: str) -> None:
    """Generated torchvision specs against torchvision's constructors, every tensor (grouped
    convolutions included; the classifier's bias nn.Linear's own draw, as `bias_init=` says)."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    name = spec.rpartition("/")[2].removesuffix(".arch")
    theirs = getattr(torchvision.models, name)().state_dict()
    compared = drawn_tensors(generated_model(spec).state_dict(), theirs)
    assert {"fc.weight", "fc.bias", "layer1.0.bn1.bias"} <= set(compared)
    assert sum(value.dim() == 4 for key, value in theirs.items() if key in compared) >= 20


@pytest.mark.keras
@pytest.mark.torch
@pytest.mark.parametrize(
    ("spec", "application"),
    [("specs/keras/resnet50.arch", "ResNet50"), ("specs/keras/efficientnet.arch:EfficientNetB0", "EfficientNetB0")],
)
def test_generated_init_weights_is_keras_for_every_tensor(spec: str, application: str) -> None:
    """Keras specs keep Keras's scheme, against keras.applications' own freshly built model, every
    tensor: ResNet50's glorot_uniform kernels and zero biases; EfficientNet's truncated He normal
    fan-out (the deviation divided by 0.8796), on depthwise kernels too, whose fans Keras counts
    per input channel and multiplier, and its fan-out uniform classifier."""
    pytest.importorskip("torch")
    keras = pytest.importorskip("keras")
    from resnet_dsl.backends.torch import keras_weights_to_torch

    path, network = split_network(spec)
    reference = getattr(keras.applications, application)(weights=None)
    source = to_python(path, target="torch", **network)
    theirs = import_source(source).build_model()
    keras_weights_to_torch(resnet_dsl.load(path, **network), reference, theirs)
    theirs_state = theirs.state_dict()
    compared = drawn_tensors(import_source(source).build_model().state_dict(), theirs_state)
    assert len(compared) == len([key for key in theirs_state if key.endswith(("weight", "bias"))])
    depthwise = [key for key in compared if theirs_state[key].dim() == 4 and theirs_state[key].shape[1] == 1]
    assert len(depthwise) == (16 if application == "EfficientNetB0" else 0)


PER_INSTANCE = """
block b(filters, k = glorot_uniform(seed=1)) {
  main {
    conv(filters, 3, padding=same, init=k) -> bn(gamma_init=k)
  }
  out = add(main, input) -> relu
}
network N(input = 16x16x8, classes = 4) {
  stem { conv(8, 3, padding=same, init=he_normal(seed=2)) -> relu }
  stage s1: b(8), b(8, k=he_uniform(seed=3)), b(8, k=variance_scaling(2.0, mode=fan_out, seed=4)), b(8, k=zeros)
  head { global_avgpool -> dense(classes, init=glorot_uniform(seed=5)) }
}
"""


@pytest.mark.torch
def test_initializers_a_block_parameter_chooses_per_instance() -> None:
    """Instances of one block class initialised differently (a parameter chooses), a BatchNorm's
    scale by a fan-scaled initializer (Keras counts a vector's fans as its length): the generated
    init_weights draws, seed for seed, what to_torch draws."""
    torch = pytest.importorskip("torch")
    network = resnet_dsl.loads(PER_INSTANCE)
    source = to_python(network, target="torch")
    assert source.count("class B(") == 1
    ours = import_source(source).build_model().state_dict()
    theirs = resnet_dsl.to_torch(network).state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        if key.endswith(("weight", "bias")):
            torch.testing.assert_close(ours[key], value, rtol=1e-5, atol=1e-6, msg=key)
    assert (ours["layer1.3.bn1.weight"] == 0).all() and ours["layer1.1.bn1.weight"].std() > 0


# ------------------------------------------------------------------ biases --


@pytest.mark.keras
@pytest.mark.torch
@pytest.mark.parametrize("built_by", ["to_keras", "generated"])
def test_keras_draws_a_bias_with_its_kernels_fans(built_by: str) -> None:
    """Keras would count a bias's fans as its length; `bias_init=` counts its layer kernel's,
    as torch does: timm's SE biases and classifier bias, built by to_keras and by the generated
    Keras code, drawn as timm's own constructor draws them (uniform within 1 / sqrt(fan_in))."""
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    theirs = timm.create_model("seresnet50").state_dict()
    network = resnet_dsl.load("specs/timm/seresnet50.arch", overrides={"input": "32x32x3"})
    model = resnet_dsl.to_keras(network) if built_by == "to_keras" else import_source(to_python(network)).build_model()
    se = [layer.name for layer in network.layers if layer.kind == "conv2d" and layer.config.use_bias]
    assert len(se) == 32
    for ours, key in [(se[-1], "layer4.2.se.fc2.bias"), (se[-2], "layer4.2.se.fc1.bias"), ("fc", "fc.bias")]:
        bias = model.get_layer(ours).get_weights()[1]
        assert_drawn_alike(bias, theirs[key].numpy(), key)
        assert np.abs(bias).max() <= 1 / math.sqrt(theirs[key.replace("bias", "weight")][0].numel()), key


BIASED = """
block b(filters) {
  main {
    conv(filters, 3, padding=same, bias_init=he_normal(seed=1)) -> relu
  }
  out = add(main, input)
}
network Biased(input = 16x16x8, classes = 4) {
  stem {
    depthwise_conv(3, padding=same, bias_init=variance_scaling(1 / 3, mode=fan_in, distribution=uniform, seed=2))
    -> depthwise_conv(3, padding=same, depth_multiplier=2, bias_init=variance_scaling(2.0, mode=fan_avg, seed=3))
    -> separable_conv(8, 3, padding=same, bias_init=glorot_uniform(seed=4))
  }
  stage s1: b(8)
  head {
    global_avgpool -> dense(classes, bias_init=variance_scaling(mode=fan_out, distribution=untruncated_normal, seed=5))
  }
}
"""

BIAS_LIMITS = {  # by hand: Keras's fans of each kernel (a depthwise one's per input channel and multiplier)
    "depthwise_conv2d": [math.sqrt(3 / 3 / (9 * 8)), 2 * math.sqrt(2.0 / ((9 * 8 + 9 * 2) / 2)) / 0.87962566103423978],
    "separable_conv2d": [math.sqrt(3 / ((16 + 8) / 2))],
    "conv2d": [2 * math.sqrt(2.0 / (9 * 8)) / 0.87962566103423978],
}


@pytest.mark.torch
@pytest.mark.keras
def test_every_biased_layer_draws_its_bias_with_its_kernels_fans() -> None:
    """`bias_init=` on each layer that has a bias (a depthwise convolution of multiplier 1 and 2,
    a separable one, a convolution in a block, the classifier), in every mode and distribution:
    the generated init_weights draws, seed for seed, what to_torch draws, and to_keras keeps
    each bias within the bound its kernel's fans give."""
    torch = pytest.importorskip("torch")
    network = resnet_dsl.loads(BIASED)
    ours = import_source(to_python(network, target="torch")).build_model().state_dict()
    theirs = resnet_dsl.to_torch(network).state_dict()
    biases = [key for key in theirs if key.endswith("bias")]
    assert len(biases) == 5 and all(theirs[key].abs().max() > 0 for key in biases)
    for key in biases:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-6, atol=1e-7, msg=key)
    model = resnet_dsl.to_keras(network)
    for kind, limits in BIAS_LIMITS.items():
        layers = [layer.name for layer in network.layers if layer.kind == kind]
        for name, limit in zip(layers, limits, strict=True):
            bias = model.get_layer(name).get_weights()[-1]
            assert np.abs(bias).max() <= limit + 1e-7 and np.abs(bias).max() > limit / 10, (name, limit)


@pytest.mark.keras
def test_generated_keras_defines_kernel_fan_bias_where_a_parameter_gives_bias_init() -> None:
    """A block parameter that is zeros in every instance still reaches `bias_init=` through
    `kernel_fan_bias` in the generated function, so the module defines it and builds."""
    network = resnet_dsl.loads(
        "block b(filters, bi = zeros) {\n  main {\n    conv(filters, 3, padding=same, bias_init=bi) -> relu\n  }\n"
        "  out = add(main, input)\n}\nnetwork P(input = 16x16x8, classes = 4) {\n  stem { conv(8, 3, padding=same) }\n"
        "  stage s1: b(8)\n  head { global_avgpool -> dense(classes) }\n}\n"
    )
    model = import_source(to_python(network)).build_model()
    assert model.count_params() == network.total_params.total
