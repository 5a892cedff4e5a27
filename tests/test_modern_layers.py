"""The layers of the networks after ResNet (issue 19): stochastic depth (`drop_path`) and
ConvNeXt's learnable per-channel layer scale (`layer_scale`).

Each is held to Keras and to torch: the static shapes, parameters and MACs to what Keras
builds, `to_keras` to its generated code, `to_torch` to Keras given the same weights and to
its generated code, and the training-time behaviour to what the layer is meant to do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import resnet_dsl
from resnet_dsl.analysis.summary import summary
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError

DROP_PATH = """
block res(filters, rate = 0.2) {
  main {
    conv(filters, 3, padding=same) -> bn -> relu -> drop_path(rate)
  }
  out = add(main, shortcut)
}

network DropPath(input = 16x16x4, classes = 3) {
  stem {
    conv1: conv(4, 3, padding=same) -> drop_path(0.1)
  }
  stage s1: res(4), res(4, rate=0.5)
  head {
    global_avgpool -> dense(classes)
  }
}
"""

LAYER_SCALE = """
block scaled(filters) {
  main {
    depthwise_conv(3, padding=same) -> ln(epsilon=1e-6) -> dense(4 * filters) -> gelu -> dense(filters)
    layer_scale(0.5) -> drop_path(0.1)
  }
  out = add(main, shortcut)
}

network Scaled(input = 8x8x4, classes = 3) {
  stem {
    conv1: conv(4, 2, stride=2) -> ln(epsilon=1e-6) -> layer_scale
  }
  stage s1: scaled(4) * 2
  head {
    global_avgpool(keepdims=true) -> ln(epsilon=1e-6) -> flatten -> dense(classes)
  }
}
"""

SPECS = {"drop_path": DROP_PATH, "layer_scale": LAYER_SCALE}


def images(network: resnet_dsl.Network, count: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((count, *network.input_shape)).astype(np.float32)


# ------------------------------------------------------------------ static --


def test_drop_path_has_no_parameters_no_macs_and_keeps_the_shape() -> None:
    network = resnet_dsl.loads(DROP_PATH)
    layer = network.layer("s1_block2_1_drop_path")
    assert (layer.kind, layer.config.rate, layer.params.total, layer.macs) == ("drop_path", 0.5, 0, 0)
    assert layer.output_shape == network.layer("s1_block2_1_relu").output_shape == (16, 16, 4)
    without = resnet_dsl.loads(DROP_PATH.replace(" -> drop_path(rate)", "").replace(" -> drop_path(0.1)", ""))
    assert summary(network)["params"] == summary(without)["params"]
    assert summary(network)["macs"] == summary(without)["macs"]


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("a: drop_path(1.0)", "must lie in [0, 1)"),
        ("a: drop_path()", "drop_path"),
        ("a: flatten -> drop_path(0.1)", "drop_path needs an image input"),
    ],
)
def test_drop_path_errors_are_located(stem: str, message: str) -> None:
    with pytest.raises(ArchError) as error:
        resnet_dsl.loads(f"network N(input = 8x8x2) {{ stem {{ {stem} }} }}")
    assert message in error.value.render()
    assert ":1:" in error.value.render()


def test_fmt_keeps_drop_path_and_graph_and_diff_name_it() -> None:
    from resnet_dsl.network.loader import parse_module
    from resnet_dsl.review.archdiff import diff
    from resnet_dsl.review.diffreport import render_text
    from resnet_dsl.review.formatter import format_source
    from resnet_dsl.review.graph import to_dot

    formatted = format_source(DROP_PATH)
    assert parse_module(formatted) == parse_module(DROP_PATH)
    assert "drop_path(rate)" in formatted
    assert "drop path 0.5" in to_dot(resnet_dsl.loads(DROP_PATH), expand=True)
    text = render_text(diff(resnet_dsl.loads(DROP_PATH), resnet_dsl.loads(DROP_PATH.replace("(0.1)", "(0.3)"))))
    assert "~ conv1_drop_path: rate: 0.1 -> 0.3" in text


def test_layer_scale_counts_one_parameter_per_channel_and_no_macs() -> None:
    from resnet_dsl.review.graph import to_dot

    network = resnet_dsl.loads(LAYER_SCALE)
    scale = network.layer("s1_block1_2_layer_scale")
    assert (scale.kind, scale.config.value, scale.params.trainable, scale.macs) == ("layer_scale", 0.5, 4, 0)
    assert network.layer("conv1_layer_scale").config.value == 1e-6
    # the pointwise dense layers act on each pixel's channels: 4 x 16 weights at 4 x 4 pixels
    dense = network.layer("s1_block1_1_dense")
    assert (dense.output_shape, dense.params.trainable, dense.macs) == ((4, 4, 16), 4 * 16 + 16, 16 * 4 * 16)
    assert "layer scale, from 0.5" in to_dot(network, expand=True)
    with pytest.raises(ArchError, match="layer_scale needs an image input"):
        resnet_dsl.loads("network N(input = 8x8x2) { stem { a: flatten -> layer_scale } }")


# ------------------------------------------------------------------- Keras --


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(SPECS))
def test_static_summary_is_what_keras_builds(name: str, keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from tests.test_layers import weight_count

    network = resnet_dsl.loads(SPECS[name])
    model = to_keras(network)
    for layer in network.layers:
        keras_layer = model.get_layer(layer.name)
        assert layer.output_shape == tuple(keras_layer.output.shape)[1:], layer.name
        assert layer.params.trainable == weight_count(keras_layer.trainable_weights), layer.name
        assert layer.params.non_trainable == weight_count(keras_layer.non_trainable_weights), layer.name
    assert network.total_params.total == model.count_params()


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(SPECS))
def test_generated_keras_code_is_to_keras(name: str, keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

    network = resnet_dsl.loads(SPECS[name])
    reference = to_keras(network)
    generated = import_source(to_python(network)).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


@pytest.mark.keras
def test_keras_drop_path_drops_whole_samples_in_training_only(keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras

    network = resnet_dsl.loads(DROP_PATH)
    model = to_keras(network)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("s1_block2_1_relu", "s1_block2_1_drop_path")])
    batch = np.abs(images(network, 64)) + 0.1
    before, after = (np.asarray(t) for t in probe(batch, training=False))
    np.testing.assert_array_equal(after, before)
    before, after = (np.asarray(t) for t in probe(batch, training=True))
    _assert_dropped_per_sample(before, after, rate=0.5)


def _assert_dropped_per_sample(before: np.ndarray, after: np.ndarray, rate: float) -> None:
    """Each sample is all zeros or all scaled by 1 / (1 - rate); some of each."""
    dropped = [bool(np.all(a == 0)) for a in after]
    for kept, a, b in zip(dropped, after, before, strict=True):
        if not kept:
            np.testing.assert_allclose(a, b / (1 - rate), rtol=1e-5, atol=1e-6)
    assert 0 < sum(dropped) < len(dropped)


# ------------------------------------------------------------------- torch --


@pytest.fixture(scope="module")
def torch() -> Any:
    module = pytest.importorskip("torch")
    module.set_num_threads(1)
    return module


@pytest.mark.keras
@pytest.mark.parametrize("name", sorted(SPECS))
def test_torch_computes_what_keras_computes(name: str, keras: Any, torch: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch
    from tests.test_codegen import import_source
    from tests.test_torch_backend import assert_close, randomized, torch_output

    network = resnet_dsl.loads(SPECS[name])
    model = randomized(to_keras(network))
    batch = images(network)
    expected = np.asarray(model(batch, training=False))
    for module in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        keras_weights_to_torch(network, model, module)
        assert_close(torch_output(module, batch), expected, 1e-5)


def test_torch_layer_scale_is_torchvisions_parameter(torch: Any) -> None:
    from resnet_dsl.backends.torch import to_torch
    from tests.test_codegen import import_source

    network = resnet_dsl.loads(LAYER_SCALE)
    for model in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        scale = model.layer1[0].layer_scale1
        assert scale.weight.shape == (4, 1, 1) and float(scale.weight.detach()[0, 0, 0]) == 0.5
        x = torch.randn(2, 4, 3, 3)
        torch.testing.assert_close(scale(x), x * 0.5)


def test_torch_drop_path_drops_whole_samples_in_training_only(torch: Any) -> None:
    from resnet_dsl.backends.torch import to_torch
    from tests.test_codegen import import_source

    network = resnet_dsl.loads(DROP_PATH)
    for model in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        block = model.layer1[1]
        assert not list(block.drop_path1.parameters()) and not list(block.drop_path1.buffers())
        x = torch.rand(64, 4, 8, 8) + 0.1
        block.drop_path1.eval()
        assert block.drop_path1(x) is x
        block.drop_path1.train()
        _assert_dropped_per_sample(x.numpy(), block.drop_path1(x).numpy(), rate=0.5)
