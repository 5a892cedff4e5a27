"""The layer primitives beyond the seed's: merges that multiply and concatenate, and the
layers of issue 8. Each is held to what Keras builds: the static shapes and parameters
equal the Keras model's, and the generated code computes what `to_keras` computes.
"""

from __future__ import annotations

from typing import Any

import pytest

import resnet_dsl
from resnet_dsl import codegen
from resnet_dsl.errors import ArchError
from resnet_dsl.summary import summary

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

SPECS = {"merges": MERGES}
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
    from resnet_dsl.keras_backend import to_keras

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
    from resnet_dsl.keras_backend import to_keras
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

    network = resnet_dsl.loads(SPECS[name])
    reference = to_keras(network)
    generated = import_source(codegen.to_python(network)).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


@pytest.mark.keras
def test_merges_compute_a_product_and_a_concatenation(keras: Any) -> None:
    import numpy as np

    from resnet_dsl.keras_backend import to_keras

    model = to_keras(resnet_dsl.loads(MERGES))
    names = ["s1_block1_1_relu", "s1_block1_0_sigmoid", "s1_block1_multiply", "s1_block3_1_relu", "s1_block2_out",
             "s1_block3_out"]  # fmt: skip
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    images = np.random.default_rng(0).random((2, 8, 8, 4), dtype=np.float32)
    main, gate, product, joined_main, joined_input, joined = (np.asarray(t) for t in probe(images, training=False))
    np.testing.assert_allclose(product, main * gate[:, None, None, :], rtol=1e-6)
    np.testing.assert_array_equal(joined, np.concatenate([joined_main, joined_input], axis=-1))
