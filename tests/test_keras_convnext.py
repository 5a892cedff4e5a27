"""keras.applications' ConvNeXtTiny from specs/keras/convnext_tiny.arch (issue 19): the same
count, every weighted layer of Keras's found by name in ours with its weights' values (a layer
scale's (C,) gamma is our 1x1 depthwise kernel's (1, 1, C, 1)), and the same outputs in
inference, every LayerNorm and layer scale moved off its initial value first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import resnet_dsl  # noqa: E402
from resnet_dsl.analysis.summary import summary  # noqa: E402

pytestmark = pytest.mark.keras

SPEC = "specs/keras/convnext_tiny.arch"


def flat_layers(model: Any) -> list[Any]:
    """The layers of a model, those of its nested Sequentials (Keras's stem, downsampling) inside."""
    found = []
    for layer in model.layers:
        found += flat_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def test_the_count_is_keras_applications() -> None:
    theirs = keras.applications.ConvNeXtTiny(weights=None)  # with its preprocessing: no weights
    assert summary(resnet_dsl.load(SPEC))["params"]["total"] == theirs.count_params() == 28_589_128


def test_keras_weights_load_by_name_and_give_its_outputs() -> None:
    keras.backend.clear_session()
    theirs = keras.applications.ConvNeXtTiny(weights=None, include_preprocessing=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(0)
    for layer in flat_layers(theirs):
        if type(layer).__name__ in ("LayerNormalization", "LayerScale"):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    ours = resnet_dsl.to_keras(resnet_dsl.load(SPEC, overrides={"input": "64x64x3"}))
    loaded = set()
    for layer in flat_layers(theirs):
        if not layer.weights:
            continue
        mine = ours.get_layer(layer.name)
        mine.set_weights([w.reshape(m.shape) for w, m in zip(layer.get_weights(), mine.get_weights(), strict=True)])
        loaded.add(layer.name)
    assert loaded == {layer.name for layer in ours.layers if layer.weights}
    images = rng.normal(size=(2, 64, 64, 3)).astype(np.float32)
    expected = np.asarray(theirs(images, training=False))
    difference = np.abs(np.asarray(ours(images, training=False)) - expected).max()
    assert difference <= 1e-5 * np.abs(expected).max(), difference
