"""The residual family the specs ship: every figure held against /work/shared/reference.md's
(torchvision and timm counts as torch counts them, i.e. our trainable parameters; He et al.'s
CIFAR networks as the widely used PyTorch reproduction counts them), each network built with
`to_keras` and through its generated code (two blocks a stage where it takes `depths`:
tests/families.py), and SE checked as the real function."""

from __future__ import annotations

from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.review.archdiff import diff
from resnet_dsl.review.formatter import format_source
from tests.conftest import REPO
from tests.families import shallow, swept, zoo_name

SLOW = pytest.mark.slow

# (spec, network (None: the file's only one), trainable parameters, GMACs or None)
ZOO = [
    ("specs/torchvision/resnext50_32x4d.arch", None, 25_028_904, 4.23),
    ("specs/torchvision/resnext101_32x8d.arch", None, 88_791_336, 16.41),
    ("specs/torchvision/wide_resnet50_2.arch", None, 68_883_240, 11.40),
    ("specs/torchvision/wide_resnet101_2.arch", None, 126_886_696, None),
    ("specs/timm/resnet50d.arch", None, 25_576_264, None),
    ("specs/timm/seresnet50.arch", None, 28_088_024, None),
    ("specs/timm/seresnext50_32x4d.arch", None, 27_559_896, None),
    ("specs/timm/resnet50_gn.arch", None, 25_557_032, None),
    ("specs/timm/ecaresnet50d.arch", None, 25_576_350, None),
    ("specs/timm/resnetblur50.arch", None, 25_557_032, None),
    ("specs/timm/skresnet18.arch", None, 11_958_056, None),
    ("specs/timm/res2net50_26w_4s.arch", None, 25_699_120, None),
    ("specs/timm/resnetrs50.arch", None, 35_691_912, None),
    ("specs/timm/resnetv2_50.arch", None, 25_549_352, None),
    ("specs/timm/resnetv2_101.arch", None, 44_541_480, None),
    ("specs/papers/cifar_resnet.arch", "ResNet20", 269_722, None),
    ("specs/papers/cifar_resnet.arch", "ResNet32", 464_154, None),
    ("specs/papers/cifar_resnet.arch", "ResNet44", 658_586, None),
    ("specs/papers/cifar_resnet.arch", "ResNet56", 853_018, None),
    ("specs/papers/cifar_resnet.arch", "ResNet110", 1_727_962, None),
    ("specs/papers/cifar_resnet.arch", "ResNet1202", 19_421_274, None),
    ("specs/papers/preact_resnet18.arch", None, 11_171_146, None),
]
TORCH_ONLY = {"specs/timm/resnetv2_50.arch", "specs/timm/resnetv2_101.arch"}
"""timm's ResNetV2 stem pools with torch's padding=1 (-inf on each side), which Keras's pools lack."""
BUILT_QUICKLY = {("specs/papers/cifar_resnet.arch", "ResNet20"), ("specs/papers/preact_resnet18.arch", None)}
"""Small enough to build twice (to_keras and generated code) in the quick suite; the rest are slow."""


def ids(entry: tuple) -> str:
    return entry[1] or entry[0].removeprefix("specs/").removesuffix(".arch")


@pytest.mark.parametrize(("spec", "name", "trainable", "gmacs"), ZOO, ids=[ids(e) for e in ZOO])
def test_figures(spec: str, name: str | None, trainable: int, gmacs: float | None) -> None:
    network = resnet_dsl.load(spec, network=name)
    assert network.total_params.trainable == trainable
    if gmacs is not None:
        assert round(network.macs / 1e9, 2) == gmacs


@pytest.mark.parametrize("spec", sorted({entry[0] for entry in ZOO} | {"specs/seed/resnet50_dropout.arch"}))
def test_specs_are_formatted(spec: str) -> None:
    text = (REPO / spec).read_text()
    assert format_source(text) == text


def test_resnext_and_wide_resnet_widen_only_the_grouped_convolution() -> None:
    resnext = resnet_dsl.load("specs/torchvision/resnext50_32x4d.arch")
    conv = resnext.layer("conv2_block1_2_conv").config
    assert (conv.filters, conv.groups) == (128, 32)  # int(64 * 4 / 64) * 32
    wide = resnet_dsl.load("specs/torchvision/wide_resnet50_2.arch")
    assert wide.layer("conv3_block2_1_conv").config.filters == 256  # int(128 * 128 / 64)
    assert wide.layer("conv3_block2_3_conv").config.filters == 512  # the expansion is unchanged


def test_resnet50d_downsamples_the_shortcut_with_average_pooling() -> None:
    network = resnet_dsl.load("specs/timm/resnet50d.arch")
    names = [layer.name for layer in network.layers if layer.origin.block == "conv3_block1"]
    shortcut = ["conv3_block1_0_pool", "conv3_block1_0_conv", "conv3_block1_0_bn"]
    assert names[names.index("conv3_block1_0_pool") :][:3] == shortcut
    pool = network.layer("conv3_block1_0_pool")
    assert (pool.kind, pool.config.padding, pool.output_shape) == ("avgpool", "same", (28, 28, 256))
    assert network.layer("conv3_block1_0_conv").config.strides == (1, 1)
    assert "conv2_block1_0_pool" not in [layer.name for layer in network.layers]  # stride 1: no pooling
    assert [layer.name for layer in network.section("stem")][:3] == ["conv1_pad", "conv1_conv", "conv1_bn"]


def test_cifar_option_a_shortcuts_have_no_parameters() -> None:
    network = resnet_dsl.load("specs/papers/cifar_resnet.arch", network="ResNet20")
    shortcut = [layer for layer in network.layers if layer.origin.path == "shortcut"]
    assert [layer.name for layer in shortcut] == ["conv3_block1_0_pool", "conv3_block1_0_pad",
                                                  "conv4_block1_0_pool", "conv4_block1_0_pad"]  # fmt: skip
    assert sum(layer.params.total for layer in shortcut) == 0
    assert network.layer("conv3_block1_0_pad").output_shape == (16, 16, 32)
    assert len([layer for layer in network.layers if layer.kind == "conv2d"]) + 1 == 20  # 6n + 2 weighted layers


def test_the_dropout_variant_is_the_seed_network_with_another_head() -> None:
    parent = resnet_dsl.load("specs/seed/resnet50.arch")
    child = resnet_dsl.load("specs/seed/resnet50_dropout.arch")
    change = diff(parent, child)
    assert [(c.name, c.new) for c in change.parameters] == [("name", "ResNet50Dropout"), ("classes", 10)]
    assert change.stem == () and change.stages == () and change.defaults == ()
    assert [(c.name, c.status) for c in change.head] == [("dropout", "added"), ("predictions", "changed")]
    assert child.output_shape == (10,)


# ------------------------------------------------------------------ Keras --


def build_both(spec: str, name: str | None) -> None:
    keras = pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras, with_depth
    from resnet_dsl.codegen import to_python
    from tests.test_codegen import assert_same_model, import_source

    keras.backend.clear_session()
    network = resnet_dsl.load(spec, network=name, overrides=shallow(zoo_name(spec, name)))  # tests/families.py
    model = to_keras(network)
    params = network.total_params
    assert (model.count_params(), sum(int(w.numpy().size) for w in model.trainable_weights)) == (
        params.total,
        params.trainable,
    )
    # The generated module is plain Keras: a network deeper than Python's recursion limit allows
    # (ResNet-1202) needs the caller to make room, as `to_keras` does for itself.
    generated = with_depth(len(network.layers), import_source(to_python(network)).build_model)
    assert_same_model(generated, model)


@pytest.mark.keras
@pytest.mark.parametrize(
    ("spec", "name"),
    [
        pytest.param(spec, name, marks=[] if (spec, name) in BUILT_QUICKLY else [SLOW], id=ids((spec, name)))
        for spec, name, _, _ in [*ZOO, ("specs/seed/resnet50_dropout.arch", None, 0, None)]
        if spec not in TORCH_ONLY and swept(spec, name)
    ],
)
def test_builds_with_keras_and_through_generated_code(spec: str, name: str | None) -> None:
    build_both(spec, name)


def test_keras_says_where_a_torch_only_pool_padding_stands() -> None:
    """Generating Keras code for resnetv2_50 is a located error at its stem pool, not a traceback."""
    from resnet_dsl.codegen import to_python
    from resnet_dsl.language.errors import ArchError

    with pytest.raises(ArchError) as caught:
        to_python("specs/timm/resnetv2_50.arch")
    error = caught.value
    assert "Keras's pools pad valid or same" in error.message
    assert (error.span.file, error.span.line) == ("specs/timm/resnetv2_50.arch", 37)
    assert error.hint is not None and "--target torch" in error.hint


SE_NET = """
import "specs/timm/seresnet50.arch"

network OneBlock(input = 8x8x64) {
  defaults {
    conv(use_bias=false)
    bn(epsilon=1e-5, momentum=0.9)
  }
  stage s: se_bottleneck(16)
}
"""


def hand_written_se_block(keras: Any) -> Any:
    """timm's SE bottleneck (identity shortcut) written directly with Keras layers."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 64))
    x = layers.Conv2D(16, 1, use_bias=False, name="c1")(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization(epsilon=1e-5, name="b1")(x))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="c2")(x)
    x = layers.Activation("relu")(layers.BatchNormalization(epsilon=1e-5, name="b2")(x))
    x = layers.Conv2D(64, 1, use_bias=False, name="c3")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name="b3")(x)
    gate = layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = layers.Conv2D(4, 1, activation="relu", name="fc1")(gate)
    gate = layers.Conv2D(64, 1, activation="sigmoid", name="fc2")(gate)
    return keras.Model(inputs, layers.Activation("relu")(x * gate + inputs))


@pytest.mark.keras
def test_squeeze_and_excitation_is_the_real_function() -> None:
    keras = pytest.importorskip("keras")
    import numpy as np

    from resnet_dsl.backends.keras import to_keras

    network = resnet_dsl.loads(SE_NET)
    model = to_keras(network)
    reference = hand_written_se_block(keras)
    pairs = {
        "c1": "s_block1_1_conv", "b1": "s_block1_1_bn", "c2": "s_block1_2_conv", "b2": "s_block1_2_bn",
        "c3": "s_block1_3_conv", "b3": "s_block1_3_bn", "fc1": "s_block1_se_1_conv", "fc2": "s_block1_se_2_conv",
    }  # fmt: skip
    rng = np.random.default_rng(0)
    for mine, theirs in pairs.items():
        weights = [rng.normal(size=w.shape).astype("float32") for w in model.get_layer(theirs).get_weights()]
        if "bn" in theirs:
            weights[3] = np.abs(weights[3]) + 0.5  # a moving variance is positive
        model.get_layer(theirs).set_weights(weights)
        reference.get_layer(mine).set_weights(weights)
    images = rng.normal(size=(2, 8, 8, 64)).astype("float32")
    expected = np.asarray(reference(images, training=False))
    np.testing.assert_allclose(np.asarray(model(images, training=False)), expected, rtol=1e-5, atol=1e-5)
    assert network.layer("s_block1_multiply_1").inputs == ("s_block1_3_bn", "s_block1_se_2_sigmoid")


def test_graph_draws_the_se_path_and_its_merges() -> None:
    from resnet_dsl.review.graph import to_dot

    network = resnet_dsl.load("specs/timm/seresnet50.arch")
    expanded = to_dot(network, expand=True).splitlines()
    gate = next(line for line in expanded if '"conv2_block1_se_2_sigmoid" -> "conv2_block1_multiply_1"' in line)
    assert "dashed" in gate
    main = next(line for line in expanded if '"conv2_block1_3_bn" -> "conv2_block1_multiply_1"' in line)
    assert "dashed" not in main
    assert any('"conv2_block1_multiply_1" -> "conv2_block1_add"' in line for line in expanded)
    assert "se (from main): global_avgpool(keepdims=true)" in to_dot(network)
