"""keras.applications' mobile families from specs: MobileNetV2 (and EfficientNet), named as Keras
names them, so keras.applications' weights load by name and give its outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import resnet_dsl
from resnet_dsl import to_keras
from tests.test_codegen import import_source

keras = pytest.importorskip("keras")
h5py = pytest.importorskip("h5py")

pytestmark = pytest.mark.keras

FAMILIES = [
    # spec, keras.applications model, its total parameters at 224x224x3 (alpha / B0: 1.0)
    ("specs/keras/mobilenet_v2.arch", "MobileNetV2", 3_538_984),
]

SMALL = (64, 64, 3)
"""Small enough to build both models in a few seconds; every stride-2 input stays even."""

SAME_CLASS = {"ReLU": "Activation"}
"""keras.applications writes ReLU6 as `layers.ReLU(6.0)`; a spec's `relu6` is an `Activation`
layer: the same function, no weights."""


def _reference(name: str, shape: tuple[int, ...] = SMALL) -> Any:
    return getattr(keras.applications, name)(weights=None, input_shape=shape)


def _randomise(model: Any, seed: int = 0) -> None:
    """Every weight away from its initial value, BatchNorm statistics included (variances positive),
    so a wrong layer cannot hide behind ones and zeros."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = rng.normal(0.0, 0.1, weight.shape).astype("float32")
        if "variance" in weight.path:
            value = rng.uniform(0.5, 1.5, weight.shape).astype("float32")
        weight.assign(value)


UNNAMED = re.compile(r"global_average_pooling2d(_[0-9]+)?\Z")
"""keras.applications leaves its global pooling unnamed, so Keras numbers it per session."""


def _name(layer: Any) -> str:
    return "global_average_pooling2d" if UNNAMED.match(layer.name) else layer.name


def _class(layer: Any) -> str:
    name = type(layer).__name__
    return SAME_CLASS.get(name, name)


@pytest.mark.parametrize(("spec", "name", "total"), FAMILIES)
def test_parameter_count_is_keras_applications(spec: str, name: str, total: int) -> None:
    network = resnet_dsl.load(spec)
    assert resnet_dsl.summary(network)["params"]["total"] == total == _reference(name, (224, 224, 3)).count_params()


@pytest.mark.parametrize(("spec", "name", "total"), FAMILIES)
def test_layer_for_layer(spec: str, name: str, total: int) -> None:
    ours, theirs = to_keras(spec, overrides={"input": "64x64x3"}), _reference(name)
    assert [layer.name for layer in ours.layers[1:]] == [_name(layer) for layer in theirs.layers[1:]]
    assert [_class(layer) for layer in ours.layers] == [_class(layer) for layer in theirs.layers]
    for mine, reference in zip(ours.layers, theirs.layers, strict=True):
        assert [w.shape for w in mine.weights] == [w.shape for w in reference.weights], mine.name
        assert tuple(mine.output.shape) == tuple(reference.output.shape), mine.name


@pytest.mark.parametrize(("spec", "name", "total"), FAMILIES)
@pytest.mark.parametrize("source", ["to_keras", "generated"])
def test_weights_load_by_name_and_give_the_same_outputs(
    spec: str, name: str, total: int, source: str, tmp_path: Path
) -> None:
    """keras.applications' weights, saved as its weight files are (legacy HDF5, one group per
    layer name), load into ours by name; with BatchNorm statistics randomised, the outputs agree."""
    from keras.src.legacy.saving import legacy_h5_format

    theirs = _reference(name)
    _randomise(theirs)
    with h5py.File(tmp_path / "weights.h5", "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, theirs)
    if source == "to_keras":
        ours = to_keras(spec, overrides={"input": "64x64x3"})
    else:
        ours = import_source(resnet_dsl.to_python(spec)).build_model(input_shape=SMALL)
    ours.load_weights(tmp_path / "weights.h5", by_name=True)
    weighted = {layer.name for layer in ours.layers if layer.weights}
    assert weighted == {layer.name for layer in theirs.layers if layer.weights}  # every one was loaded
    for layer in ours.layers:
        if not layer.weights:
            continue
        for mine, reference in zip(layer.weights, theirs.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(reference))
    probes = [keras.Model(m.input, [m.layers[-2].output, m.output]) for m in (ours, theirs)]  # pooled, softmax
    images = np.random.default_rng(1).random((2, *SMALL), dtype=np.float32)
    for actual, expected in zip(probes[0](images), probes[1](images), strict=True):
        actual, expected = np.asarray(actual), np.asarray(expected)
        assert np.abs(actual - expected).max() <= 1e-5 * np.abs(expected).max()
