"""The fixed input layers keras.applications' EfficientNet opens with: `rescale(scale, offset)`
(Keras's `Rescaling`) and `normalize(mean, variance)` (Keras's `Normalization`, its statistics
non-trainable weights: mean, variance and count).

Each is held to Keras's own layers: shapes and parameters to what Keras builds, outputs to
`keras.layers.Rescaling` and `keras.layers.Normalization` given the same statistics, `to_keras`
to its generated code, and `to_torch` (and its generated code) to Keras with the same weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError

SPEC = """
# scale: one per channel, a block's parameter, so generated code writes it symbolically
block rescaled(scale) {
  main {
    rescale(scale, -0.5) -> conv(3, 3, padding=same) -> normalize(variance=[0.5, 2.0, 4.0]) -> relu
  }
  out = add(main, shortcut)
}

network Preprocessed(input = 8x8x3, classes = 3) {
  stem {
    rescale(1 / 255) -> normalize(mean=[0.485, 0.456, 0.406], variance=[0.052, 0.05, 0.051])
    rescale([2.0, 3.0, 4.0]) as "rescaling_1"
  }
  stage s1: rescaled([1.5, 1.0, 0.5])
  head {
    global_avgpool -> dense(classes)
  }
}
"""

MEAN, VARIANCE, SCALES = [0.485, 0.456, 0.406], [0.052, 0.05, 0.051], [2.0, 3.0, 4.0]


def images(count: int = 4) -> np.ndarray:
    return (np.random.default_rng(0).random((count, 8, 8, 3)) * 255).astype(np.float32)


# ------------------------------------------------------------------ static --


def test_normalize_counts_mean_variance_and_count_and_neither_has_macs() -> None:
    network = resnet_dsl.loads(SPEC)
    rescale, normalize = network.layer("rescaling"), network.layer("normalization")
    assert (rescale.kind, rescale.config.scale, rescale.params.total, rescale.macs) == ("rescale", 1 / 255, 0, 0)
    assert (normalize.kind, normalize.params.trainable, normalize.params.non_trainable, normalize.macs) == (
        "normalize",
        0,
        2 * 3 + 1,
        0,
    )
    assert normalize.config.mean == tuple(MEAN) and normalize.output_shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("normalize(mean=[1.0, 2.0])", "normalize's mean gives 2 values for 3 channels"),
        ("normalize(variance=0.0)", "must lie in"),
        ("rescale()", "rescale"),
        ("rescale([])", "empty list"),
        ("rescale(sigmoid)", "expected a number"),
    ],
)
def test_bad_values_are_located_errors(layer: str, message: str) -> None:
    with pytest.raises(ArchError, match=message) as caught:
        resnet_dsl.loads(f"network N(input = 8x8x3) {{\n  stem {{\n    a: {layer}\n  }}\n}}\n")
    assert caught.value.span is not None and caught.value.span.line == 3


def test_fmt_keeps_them_and_graph_and_diff_name_them() -> None:
    from resnet_dsl.network.loader import parse_module
    from resnet_dsl.review.archdiff import diff
    from resnet_dsl.review.diffreport import render_text
    from resnet_dsl.review.formatter import format_source
    from resnet_dsl.review.graph import to_dot

    formatted = format_source(SPEC)
    assert parse_module(formatted) == parse_module(SPEC)
    assert "rescale(scale, -0.5)" in formatted and "normalize(variance=[0.5, 2.0, 4.0])" in formatted
    dot = to_dot(resnet_dsl.loads(SPEC), expand=True)
    assert "rescale x 0.00392" in dot and "normalize: - [0.485, 0.456, 0.406], / sqrt [0.052, 0.05, 0.051]" in dot
    changed = resnet_dsl.loads(SPEC.replace("mean=[0.485,", "mean=[0.5,"))
    assert "~ normalization: mean: [0.485, 0.456, 0.406] -> [0.5, 0.456, 0.406]" in render_text(
        diff(resnet_dsl.loads(SPEC), changed)
    )


# ------------------------------------------------------------------- Keras --


@pytest.fixture(scope="module")
def keras() -> Any:
    return pytest.importorskip("keras")


@pytest.mark.keras
def test_keras_layers_are_kerass_rescaling_and_normalization(keras: Any) -> None:
    """The stem's three layers compute what Keras's own Rescaling and Normalization do with the
    same statistics, and the normalization's weights are those Normalization holds, by name."""
    from resnet_dsl.backends.keras import to_keras
    from tests.test_layers import weight_count

    network = resnet_dsl.loads(SPEC)
    model = to_keras(network)
    for layer in network.layers:
        keras_layer = model.get_layer(layer.name)
        assert layer.output_shape == tuple(keras_layer.output.shape)[1:], layer.name
        assert layer.params.non_trainable == weight_count(keras_layer.non_trainable_weights), layer.name
    assert network.total_params.total == model.count_params()
    ours = model.get_layer("normalization")
    assert [w.path for w in ours.weights] == ["normalization/mean", "normalization/variance", "normalization/count"]
    np.testing.assert_allclose(np.asarray(ours.weights[0]), MEAN, rtol=1e-7)

    reference = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Normalization(mean=MEAN, variance=VARIANCE),
            keras.layers.Rescaling(SCALES),
        ]
    )
    probe = keras.Model(model.input, model.get_layer("rescaling_1").output)
    np.testing.assert_allclose(np.asarray(probe(images())), np.asarray(reference(images())), rtol=1e-6, atol=1e-6)


@pytest.mark.keras
def test_normalize_reads_weights_assigned_after_it_was_built(keras: Any) -> None:
    """Keras's Normalization caches its statistics when built; ours reads its weights at every call."""
    from resnet_dsl.backends.keras import to_keras

    model = to_keras(resnet_dsl.loads(SPEC))
    probe = keras.Model(model.input, model.get_layer("normalization").output)
    before = np.asarray(probe(images()))
    model.get_layer("normalization").weights[0].assign(np.zeros(3, np.float32))
    after = np.asarray(probe(images()))
    np.testing.assert_allclose(after - before, np.asarray(MEAN) / np.sqrt(VARIANCE) + 0 * before, rtol=1e-5)


@pytest.mark.keras
def test_generated_keras_code_is_to_keras(keras: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

    network = resnet_dsl.loads(SPEC)
    reference = to_keras(network)
    generated = import_source(to_python(network)).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


# ------------------------------------------------------------------- torch --


@pytest.mark.keras
def test_torch_computes_what_keras_computes_and_holds_the_statistics_as_buffers(keras: Any) -> None:
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch
    from tests.test_codegen import import_source
    from tests.test_torch_backend import assert_close, randomized, torch_output

    torch.set_num_threads(1)
    network = resnet_dsl.loads(SPEC)
    model = randomized(to_keras(network))
    expected = np.asarray(model(images(), training=False))
    for module in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        state = module.state_dict()
        assert {key for key in state if key.startswith("normalize1")} == {
            "normalize1.mean",
            "normalize1.variance",
            "normalize1.count",
        }
        assert not any("rescale" in key for key in state) and not list(module.normalize1.parameters())
        keras_weights_to_torch(network, model, module)
        assert_close(torch_output(module, images()), expected, 1e-5)


@pytest.mark.keras
def test_a_keras_file_reloads_with_normalize_as_a_custom_object(keras: Any, tmp_path: Any) -> None:
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.backends.keras_layers import Normalize

    model = to_keras(resnet_dsl.loads(SPEC))
    model.get_layer("normalization").weights[0].assign(np.asarray([0.1, 0.2, 0.3], np.float32))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", custom_objects={"Normalize": Normalize})
    np.testing.assert_allclose(np.asarray(loaded(images())), np.asarray(model(images())), rtol=1e-6)
    assert np.asarray(loaded.get_layer("normalization").weights[0]).tolist() == pytest.approx([0.1, 0.2, 0.3])
