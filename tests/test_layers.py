"""The layer primitives beyond the seed's: merges that multiply and concatenate, and the
layers of issue 8. Each is held to what Keras builds: the static shapes and parameters
equal the Keras model's, and the generated code computes what `to_keras` computes.
"""

from __future__ import annotations

from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.analysis.summary import summary
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError

MERGES = """
block gated(filters) {
  main {
    conv(filters, 3, padding=same) -> bn -> relu
  }
  shortcut {
    global_avgpool -> dense(filters) -> sigmoid
  }
  out = multiply(main, shortcut) -> relu
}

block gated_by_image(filters) {
  main {
    conv(filters, 3, padding=same) -> bn
  }
  out = multiply(shortcut, main)
}

block joined(filters) {
  main {
    conv(filters, 3, padding=same) -> relu
  }
  out = concat(main, shortcut)
}

block joined_three(filters) {
  pre { bn }
  main {
    conv(filters, 1)
  }
  shortcut from pre {}
  out = concat(shortcut, main, input) -> relu
}

network Merges(input = 8x8x4, classes = 3) {
  stem {
    conv1: conv(4, 3, padding=same)
  }
  stage s1: gated(4), gated_by_image(4), joined(4), joined_three(2)
  head {
    global_avgpool -> dense(classes)
  }
}
"""

LAYERS = """
block option_a(filters, stride = 2) {
  main {
    conv(filters, 3, stride=stride, padding=same, use_bias=false) -> bn -> relu
    conv(filters, 3, padding=same, use_bias=false) -> bn
  }
  shortcut {
    subsample(stride) -> zeropad(channels=[filters // 4, filters // 4])
  }
  out = add(main, shortcut) -> relu
}

block mixed(filters) {
  main {
    depthwise_conv(3, padding=same, depth_multiplier=2) -> gn(2) -> relu -> dropout(0.1)
    separable_conv(filters, 3, padding=same, use_bias=false) -> ln
  }
  shortcut {
    global_avgpool(keepdims=true) -> conv(filters, 1) -> sigmoid
  }
  out = multiply(main, shortcut)
}

network New(input = 16x16x3, classes = 5) {
  stem {
    conv1: conv(8, 3, padding=same) -> bn -> relu
    wide: zeropad(channels=[1, 3]) -> subsample([2, 1]) -> upsample([2, 1])
    depthwise_conv(3, stride=2, padding=same, use_bias=false) as "dw"
    narrow: separable_conv(8, 3, padding=same, depth_multiplier=2) -> gn(4, epsilon=1e-5) -> ln(epsilon=1e-4)
    r1: reshape([4, 4, 4, 8])
    r2: reshape([-1, 8])
    r3: reshape(8x8x8) -> dropout(0.2)
  }
  stage s1: option_a(16), mixed(16)
  head {
    up: upsample(2, interpolation=bilinear) -> subsample(4)
    gap: global_maxpool(keepdims=true) -> reshape([16]) -> dense(classes)
  }
}
"""

SPECS = {"merges": MERGES, "layers": LAYERS}
"""Small networks that use every new primitive, by name."""


# ------------------------------------------------------------------ static --


def test_multiply_broadcasts_a_channel_gate_over_the_image() -> None:
    network = resnet_dsl.loads(MERGES)
    gate = network.layer("s1_block1_0_sigmoid")
    assert gate.output_shape == (4,)
    merge = network.layer("s1_block1_multiply")
    assert merge.kind == "multiply"
    assert merge.inputs == ("s1_block1_1_relu", "s1_block1_0_sigmoid")
    assert merge.output_shape == (8, 8, 4)
    assert (merge.params.total, merge.macs) == (0, 0)
    assert network.layer("s1_block2_out").kind == "multiply"  # the merge is the block's last layer


def test_concat_adds_up_the_channels() -> None:
    network = resnet_dsl.loads(MERGES)
    assert network.layer("s1_block3_out").output_shape == (8, 8, 8)
    three = network.layer("s1_block4_concat")
    assert three.inputs == ("s1_block4_preact_bn", "s1_block4_1_conv", "s1_block3_out")
    assert three.output_shape == (8, 8, 8 + 2 + 8)


MERGE_ERROR = """
block b(f) {{
  main {{ {main} }}
  shortcut {{ {shortcut} }}
  out = {out}
}}
network N(input = 8x8x4) {{
  stage s: b(4)
}}
"""


@pytest.mark.parametrize(
    ("main", "shortcut", "out", "message", "hint"),
    [
        ("conv(4, 1)", "global_avgpool -> dense(3)", "multiply(main, shortcut)",
         "cannot multiply (None, 8, 8, 4) by (None, 3)", "gate's channels"),
        ("conv(4, 1)", "conv(4, 1, stride=2)", "multiply(main, shortcut)",
         "cannot multiply (None, 8, 8, 4) by (None, 4, 4, 4)", "gate's channels"),
        ("conv(4, 1)", "conv(4, 1, stride=2)", "concat(main, shortcut)",
         "cannot concatenate (None, 8, 8, 4) and (None, 4, 4, 4)", "subsample(2)"),
        ("conv(4, 1)", "global_avgpool", "concat(main, shortcut)",
         "cannot concatenate (None, 8, 8, 4) and (None, 4)", "one spatial size"),
        ("conv(4, 1)", "", "multiply(main)", "multiply needs at least two paths", None),
    ],
)  # fmt: skip
def test_merge_errors_are_located(main: str, shortcut: str, out: str, message: str, hint: str | None) -> None:
    text = MERGE_ERROR.format(main=main, shortcut=shortcut, out=out)
    with pytest.raises(ArchError) as raised:
        resnet_dsl.loads(text, path="t.arch")
    error = raised.value
    assert message in str(error)
    assert error.span.line == 5 and error.span.column == 9
    if hint is not None:
        assert hint in (error.hint or "")


def test_a_merge_outside_out_is_refused() -> None:
    with pytest.raises(ArchError, match="'concat' joins paths and belongs in a block's out"):
        resnet_dsl.loads("network N(input = 8x8x3) { stem { conv(4, 1) -> concat } }")


def test_fmt_keeps_the_meaning_and_is_stable() -> None:
    from resnet_dsl.network.loader import parse_module
    from resnet_dsl.review.formatter import format_source

    for text in SPECS.values():
        formatted = format_source(text)
        assert parse_module(formatted) == parse_module(text)
        assert format_source(formatted) == formatted


DIFF_OLD = "network N(input = 16x16x4) { stem { a: zeropad(channels=[1, 1]) -> gn(2) -> gap(keepdims=true) } }"
DIFF_NEW = "network N(input = 16x16x4) { stem { a: zeropad(channels=[2, 2]) -> ln -> gap(keepdims=false) } }"


def test_diff_names_what_changed_in_the_new_layers() -> None:
    from resnet_dsl.review.archdiff import diff
    from resnet_dsl.review.diffreport import render_text

    text = render_text(diff(resnet_dsl.loads(DIFF_OLD), resnet_dsl.loads(DIFF_NEW)))
    assert "~ a_pad: padding: [[0, 0], [1, 1]] -> [[0, 0], [2, 2]]; output_shape: 16x16x6 -> 16x16x8" in text
    assert "+ a_ln: layernorm()" in text
    assert "- a_gn: groupnorm(groups=2)" in text
    assert "~ a_avg_pool: keepdims: true -> false" in text
    assert "Parameters: 12 -> 16 (+4, +33.33%)" in text


# ------------------------------------------------------------------- Keras --


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


def weight_count(weights: list[Any]) -> int:
    import numpy as np

    return sum(int(np.prod(weight.shape)) for weight in weights)


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(SPECS))
def test_static_summary_is_what_keras_builds(name: str, keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras

    network = resnet_dsl.loads(SPECS[name])
    model = to_keras(network)
    rows = summary(network)["layers"]
    assert sorted(row["name"] for row in rows) == sorted(layer.name for layer in model.layers)
    for row, layer in zip(rows, network.layers, strict=True):
        keras_layer = model.get_layer(layer.name)
        assert tuple(row["output_shape"][1:]) == tuple(keras_layer.output.shape)[1:], layer.name
        assert layer.params.trainable == weight_count(keras_layer.trainable_weights), layer.name
        assert layer.params.non_trainable == weight_count(keras_layer.non_trainable_weights), layer.name
    assert network.total_params.total == model.count_params()


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(SPECS))
def test_generated_code_computes_what_to_keras_computes(name: str, keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

    network = resnet_dsl.loads(SPECS[name])
    reference = to_keras(network)
    generated = import_source(to_python(network)).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


@pytest.mark.keras
def test_merges_compute_a_product_and_a_concatenation(keras: Any) -> None:
    import numpy as np

    from resnet_dsl.backends.keras import to_keras

    model = to_keras(resnet_dsl.loads(MERGES))
    names = ["s1_block1_1_relu", "s1_block1_0_sigmoid", "s1_block1_multiply", "s1_block3_1_relu", "s1_block2_out",
             "s1_block3_out"]  # fmt: skip
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    images = np.random.default_rng(0).random((2, 8, 8, 4), dtype=np.float32)
    main, gate, product, joined_main, joined_input, joined = (np.asarray(t) for t in probe(images, training=False))
    np.testing.assert_allclose(product, main * gate[:, None, None, :], rtol=1e-6)
    np.testing.assert_array_equal(joined, np.concatenate([joined_main, joined_input], axis=-1))


# ------------------------------------------------------------- new layers --

STEM = "network N(input = 16x16x4) {{ stem {{ {stem} }} }}"


@pytest.mark.parametrize(
    ("stem", "shape", "trainable", "macs"),
    [
        ("depthwise_conv(3, depth_multiplier=2)", (14, 14, 8), 3 * 3 * 8 + 8, 14 * 14 * 3 * 3 * 8),
        ("depthwise_conv(3, stride=2, padding=same, use_bias=false)", (8, 8, 4), 3 * 3 * 4, 8 * 8 * 3 * 3 * 4),
        ("separable_conv(6, 3, padding=same, use_bias=false)", (16, 16, 6), 9 * 4 + 4 * 6, 16 * 16 * (9 * 4 + 4 * 6)),
        ("separable_conv(6, 3, depth_multiplier=2)", (14, 14, 6), 9 * 8 + 8 * 6 + 6, 14 * 14 * (9 * 8 + 8 * 6)),
        ("gn(2)", (16, 16, 4), 8, 0),
        ("ln(epsilon=1e-5)", (16, 16, 4), 8, 0),
        ("zeropad(channels=[1, 2])", (16, 16, 7), 0, 0),
        ("subsample(3)", (6, 6, 4), 0, 0),
        ("subsample([2, 1])", (8, 16, 4), 0, 0),
        ("upsample([2, 3])", (32, 48, 4), 0, 0),
        ("global_avgpool(keepdims=true)", (1, 1, 4), 0, 0),
        ("global_maxpool(keepdims=false)", (4,), 0, 0),
        ("reshape([-1, 4])", (256, 4), 0, 0),
        ("flatten -> reshape(2x512)", (2, 512), 0, 0),
        ("global_avgpool -> reshape([1, 1, 4]) -> ln", (1, 1, 4), 8, 0),
    ],
)  # fmt: skip
def test_shapes_parameters_and_macs(stem: str, shape: tuple[int, ...], trainable: int, macs: int) -> None:
    network = resnet_dsl.loads(STEM.format(stem=stem))
    assert network.output_shape == shape
    assert network.total_params.trainable == trainable
    assert network.total_params.non_trainable == 0
    assert network.macs == macs


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("zeropad(1, channels=[1, 1])", "zeropad pads height and width or the channels, not both in one layer"),
        ("zeropad", "zeropad needs 'padding' (height and width) or 'channels'"),
        ("zeropad(channels=2)", "zeropad channels: expected [low, high], got 2"),
        ("zeropad(channels=[1, -1])", "padding cannot be negative"),
        ("gn(3)", "groupnorm groups=3 must divide the 4 channels"),
        ("ln(axis=4)", "layernorm axis 4 does not exist in (None, 16, 16, 4)"),
        ("reshape([3, 3])", "cannot reshape (None, 16, 16, 4) (1,024 values) to (None, 3, 3)"),
        ("reshape([-1, -1])", "at most one -1"),
        ("reshape(4)", "expected a shape such as [1, 1, 64], got 4"),
        ("upsample(2, interpolation=cubic)", "expected one of nearest, bilinear"),
        ("global_avgpool -> subsample(2)", "subsample needs an image input"),
        ("depthwise_conv(17)", "depthwise_conv shrinks its 16x16 input to nothing"),
    ],
)
def test_layer_errors_are_located(stem: str, message: str) -> None:
    with pytest.raises(ArchError) as raised:
        resnet_dsl.loads(STEM.format(stem=stem), path="t.arch")
    assert message in str(raised.value)
    assert raised.value.span.line == 1 and raised.value.span.column > 30


def test_option_a_shortcut_names_and_shapes() -> None:
    network = resnet_dsl.loads(LAYERS)
    pool, pad = network.layer("s1_block1_0_pool"), network.layer("s1_block1_0_pad")
    assert (pool.kind, pool.output_shape) == ("subsample", (4, 4, 8))
    assert (pad.kind, pad.output_shape, pad.inputs) == ("channelpad", (4, 4, 16), ("s1_block1_0_pool",))
    assert network.layer("s1_block1_add").inputs == ("s1_block1_2_bn", "s1_block1_0_pad")


def test_dropout_anywhere_in_a_block() -> None:
    network = resnet_dsl.loads(LAYERS)
    dropout = network.layer("s1_block2_1_dropout")
    assert (dropout.kind, dropout.origin.path, dropout.config.rate) == ("dropout", "main", 0.1)


def test_graph_says_what_the_new_layers_do() -> None:
    from resnet_dsl.review.graph import to_dot

    dot = to_dot(resnet_dsl.loads(LAYERS), expand=True)
    for label in [
        "subsample, stride 2",
        "zeropad channels +4 +4",
        "depthwise conv 3x3, x2",
        "separable conv 3x3, 16",
        "groupnorm, 2 groups",
        "global_avgpool, keepdims",
        "upsample 2x1, nearest",
        "upsample 2x2, bilinear",
        "reshape to 4x4x4x8",
    ]:
        assert label in dot, label


@pytest.mark.keras
def test_option_a_computes_subsampling_and_channel_zeros(keras: Any) -> None:
    import numpy as np

    from resnet_dsl.backends.keras import to_keras

    model = to_keras(resnet_dsl.loads(STEM.format(stem="a: subsample(2) -> zeropad(channels=[1, 3])")))
    images = np.random.default_rng(0).random((2, 16, 16, 4), dtype=np.float32)
    expected = np.pad(images[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (1, 3)))
    np.testing.assert_array_equal(np.asarray(model(images)), expected)


@pytest.mark.keras
def test_saved_model_with_the_new_layers_reloads(keras: Any, tmp_path: Any) -> None:
    import numpy as np

    from resnet_dsl.backends.keras import to_keras

    model = to_keras(resnet_dsl.loads(LAYERS))
    model.save(tmp_path / "layers.keras")
    reloaded = keras.models.load_model(tmp_path / "layers.keras")  # safe mode: built-in layers only
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]
    images = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(reloaded(images)), np.asarray(model(images)))
