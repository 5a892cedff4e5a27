"""Language features, each through the whole static pipeline: text -> validated network."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.model import Network
from tests.conftest import REPO


def test_preactivation_resnet50v2_matches_keras_applications() -> None:
    network = resnet_dsl.load(REPO / "tests" / "specs" / "resnet50v2.arch")
    assert network.total_params.total == 25_613_800  # keras.applications.ResNet50V2(weights=None)
    block = [layer for layer in network.layers if layer.origin.block == "conv2_block1"]
    assert [layer.name for layer in block[:2]] == ["conv2_block1_preact_bn", "conv2_block1_preact_relu"]
    shortcut = network.layer("conv2_block1_0_conv")
    assert shortcut.inputs == ("conv2_block1_preact_relu",)  # `shortcut from pre`
    assert network.layer("conv2_block1_out").inputs == ("conv2_block1_0_conv", "conv2_block1_3_conv")
    downsample = network.layer("conv2_block3_0_pool")
    assert downsample.inputs == ("conv2_block2_out",)  # the shortcut starts from the block input
    assert downsample.output_shape == (28, 28, 256)


SMALL = """
network Small(input = 16x16x4, width = 8) {{
  defaults {{
    conv(use_bias=false)
  }}
  stem {{
    {stem}
  }}
}}
"""


def small(stem: str, **overrides: object) -> Network:
    return resnet_dsl.loads(SMALL.format(stem=stem), overrides=overrides or None)


def test_defaults_apply_and_explicit_options_win() -> None:
    network = small("a: conv(width, 3) -> bn\n    b: conv(width, 3, use_bias=true)")
    assert network.layer("a_conv").config.use_bias is False
    assert network.layer("b_conv").config.use_bias is True
    assert network.layer("a_conv").params.trainable == 3 * 3 * 4 * 8
    assert network.layer("b_conv").params.trainable == 3 * 3 * 8 * 8 + 8


@pytest.mark.parametrize(
    ("stem", "shape"),
    [
        ("conv(8, 3)", (14, 14, 8)),
        ("conv(8, 3, padding=same, stride=2)", (8, 8, 8)),
        ("conv(8, 3, stride=[2, 1])", (7, 14, 8)),
        ("conv(8, 3, dilation=2)", (12, 12, 8)),
        ("conv(8, [1, 3])", (16, 14, 8)),
        ("zeropad([[1, 2], [3, 4]])", (19, 23, 4)),
        ("zeropad([1, 2])", (18, 20, 4)),
        ("maxpool(3)", (5, 5, 4)),
        ("avgpool(3, stride=2, padding=same)", (8, 8, 4)),
        ("global_maxpool", (4,)),
        ("flatten -> dense(5) -> dropout(0.5)", (5,)),
        ("dense(5)", (16, 16, 5)),
        ("activation(gelu)", (16, 16, 4)),
    ],
)
def test_shapes(stem: str, shape: tuple[int, ...]) -> None:
    assert small(stem).output_shape == shape


def test_grouped_convolution_params_and_macs() -> None:
    network = small("g: conv(width, 3, groups=2, padding=same)")
    layer = network.layer("g_conv")
    assert layer.params.trainable == 3 * 3 * (4 // 2) * 8
    assert layer.macs == 16 * 16 * 3 * 3 * (4 // 2) * 8
    with pytest.raises(ArchError, match="groups=3 must divide"):
        small("conv(width, 3, groups=3)")


def test_parameters_are_overridable_from_the_api() -> None:
    network = small("conv(width * 2, 1)", width=3, input="8x8x1")
    assert network.output_shape == (8, 8, 6)
    assert dict(network.params)["width"] == 3


def test_activation_shorthand_and_names() -> None:
    network = small('act: conv(8, 1) -> sigmoid\n    activation(tanh) -> softmax as "probabilities"')
    assert [layer.name for layer in network.layers] == [
        "input_layer",
        "act_conv",
        "act_sigmoid",
        "tanh",
        "probabilities",
    ]
    assert network.layer("act_sigmoid").config.activation == "sigmoid"


def test_initializers_with_options() -> None:
    network = small("conv(8, 1, init=random_uniform(minval=-0.1, maxval=0.1, seed=3))")
    init = network.layers[1].config.kernel_initializer
    assert (init.name, init.seed, dict(init.args)) == ("random_uniform", 3, {"minval": -0.1, "maxval": 0.1})


BLOCKS = """
block squeeze(f) {
  main {
    reduce: conv(f // 2, 1) -> relu
    conv(f, 3, padding=same) as "expand"
  }
  out = add(main, shortcut) -> relu -> dropout(0.1)
}

network N(input = 8x8x16, depths = [2, 1]) {
  stage s: squeeze(16) * depths[0], squeeze(16) * depths[1]
}
"""


def test_block_labels_as_names_and_out_chain() -> None:
    network = resnet_dsl.loads(BLOCKS)
    names = [layer.name for layer in network.layers if layer.origin.block == "s_block1"]
    assert names == ["s_block1_reduce_conv", "s_block1_reduce_relu", "s_block1_expand", "s_block1_add",
                     "s_block1_relu", "s_block1_out"]  # fmt: skip
    assert [block.name for block in network.stages[0].blocks] == ["s_block1", "s_block2", "s_block3"]


def test_derived_networks_chain_and_override() -> None:
    text = BLOCKS + "network M = N(depths = [1, 0])\nnetwork L = M(input = 4x4x16)\n"
    network = resnet_dsl.loads(text, network="L")
    assert network.name == "L"
    assert network.input_shape == (4, 4, 16)
    assert len(network.stages[0].blocks) == 1


def test_the_spec_ir_ignores_layout() -> None:
    from resnet_dsl.network.loader import parse_module

    relaid = "\n\n".join(
        " " * (index % 5) + line.strip() + "  # note" for index, line in enumerate(BLOCKS.splitlines())
    )
    assert parse_module(relaid) == parse_module(BLOCKS)
    assert parse_module(BLOCKS) != parse_module(BLOCKS.replace("f // 2", "f // 4"))


@pytest.mark.parametrize("path", ["specs/seed/resnet50.arch", "specs/keras/resnet101.arch"])
def test_constructed_networks_satisfy_their_own_schema(path: str) -> None:
    network = resnet_dsl.load(path)
    assert Network.model_validate(network.model_dump()) == network
