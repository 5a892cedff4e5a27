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
    # spec, network, keras.applications model, its total parameters at 224x224x3
    ("specs/keras/mobilenet_v2.arch", "MobileNetV2", "MobileNetV2", 3_538_984),
    ("specs/keras/efficientnet.arch", "EfficientNetB0", "EfficientNetB0", 5_330_571),
]

PREPROCESSING = {"rescaling", "normalization"}
"""keras.applications' EfficientNet opens with these, unnamed (the Normalization layer holds 7
parameters: mean, variance and count of 3 channels); the spec names them as Keras does first."""

SMALL = (64, 64, 3)
"""Small enough to build both models in a few seconds; every stride-2 input stays even."""

SAME_CLASS = {"ReLU": "Activation", "Normalize": "Normalization"}
"""keras.applications writes ReLU6 as `layers.ReLU(6.0)`; a spec's `relu6` is an `Activation`
layer: the same function, no weights. A spec's `normalize` is Keras's Normalization with its
statistics as weights from the start (`backends.keras_layers.Normalize`)."""


def _reference(name: str, shape: tuple[int, ...] = SMALL) -> Any:
    """keras.applications' model, its unnamed layers named as in a fresh session (`rescaling`,
    `normalization`): Keras numbers them per session, and its weight files go by those names."""
    keras.utils.clear_session()
    return getattr(keras.applications, name)(weights=None, input_shape=shape)


def _randomise(model: Any, seed: int = 0) -> None:
    """Every weight away from its initial value, BatchNorm and Normalization statistics included
    (variances positive), so a wrong layer cannot hide behind ones and zeros."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        value = rng.normal(0.0, 0.1, weight.shape).astype("float32")
        if "variance" in weight.path:
            value = rng.uniform(0.5, 1.5, weight.shape).astype("float32")
        weight.assign(value)
    for layer in model.layers:
        if type(layer).__name__ == "Normalization":
            layer.finalize_state()  # Keras's Normalization caches its statistics until told


UNNAMED = re.compile(r"global_average_pooling2d(_[0-9]+)?\Z")
"""keras.applications leaves its global pooling unnamed, so Keras numbers it per session."""


def _name(layer: Any) -> str:
    return "global_average_pooling2d" if UNNAMED.match(layer.name) else layer.name


def _class(layer: Any) -> str:
    name = type(layer).__name__
    return SAME_CLASS.get(name, name)


@pytest.mark.parametrize(("spec", "network", "name", "total"), FAMILIES)
def test_parameter_count_is_keras_applications(spec: str, network: str, name: str, total: int) -> None:
    theirs = _reference(name, (224, 224, 3))
    assert theirs.count_params() == total
    params = resnet_dsl.summary(resnet_dsl.load(spec, network=network))["params"]
    assert params["total"] == total  # EfficientNet: its Normalization's 7 statistics included
    # the same network as torchvision's: trainable 3,504,872 (mobilenet_v2), 5,288,548 (efficientnet_b0)
    torchvision = pytest.importorskip("torchvision")
    reference = getattr(torchvision.models, TORCHVISION[name])()
    assert params["trainable"] == sum(p.numel() for p in reference.parameters())


TORCHVISION = {"MobileNetV2": "mobilenet_v2", "EfficientNetB0": "efficientnet_b0"}


def test_efficientnet_b1_is_one_line_and_counts_as_keras_and_torchvision() -> None:
    """B1 = B0(input = 240x240x3, depth = 1.1): keras.applications' EfficientNetB1 (7,856,239),
    and torchvision's efficientnet_b1 (7,794,184 trainable)."""
    from torchvision.models import efficientnet_b1

    params = resnet_dsl.summary(resnet_dsl.load("specs/keras/efficientnet.arch", network="EfficientNetB1"))["params"]
    theirs = _reference("EfficientNetB1", (240, 240, 3))
    assert params["total"] == theirs.count_params() == 7_856_239
    assert params["trainable"] == sum(p.numel() for p in efficientnet_b1().parameters()) == 7_794_184


@pytest.mark.parametrize(("spec", "network", "name", "total"), FAMILIES)
def test_layer_for_layer(spec: str, network: str, name: str, total: int) -> None:
    """Every layer with weights in keras.applications' order, names, classes and shapes (EfficientNet's
    Normalization first); MobileNetV2 layer for layer, and EfficientNet's preprocessing (its SE
    activations are layers here, and its pads `same` padding)."""
    ours = to_keras(spec, network=network, overrides={"input": "64x64x3"})
    theirs = _reference(name)
    mine = [layer for layer in ours.layers if layer.weights]
    reference = [layer for layer in theirs.layers if layer.weights]
    assert [layer.name for layer in mine] == [layer.name for layer in reference]
    for a, b in zip(mine, reference, strict=True):
        assert _class(a) == _class(b), a.name
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], a.name
        assert tuple(a.output.shape) == tuple(b.output.shape), a.name
    opening = [(layer.name, _class(layer)) for layer in theirs.layers[1:3]]
    if {name for name, _ in opening} == PREPROCESSING:
        assert [(layer.name, _class(layer)) for layer in ours.layers[1:3]] == opening
    else:
        assert [layer.name for layer in ours.layers[1:]] == [_name(layer) for layer in theirs.layers[1:]]
        assert [_class(layer) for layer in ours.layers] == [_class(layer) for layer in theirs.layers]
        for a, b in zip(ours.layers, theirs.layers, strict=True):
            assert tuple(a.output.shape) == tuple(b.output.shape), a.name


@pytest.mark.parametrize(("spec", "network", "name", "total"), FAMILIES)
@pytest.mark.parametrize("source", ["to_keras", "generated"])
def test_weights_load_by_name_and_give_the_same_outputs(
    spec: str, network: str, name: str, total: int, source: str, tmp_path: Path
) -> None:
    """keras.applications' weights, saved as its weight files are (legacy HDF5, one group per
    layer name), load into ours by name; with BatchNorm and Normalization statistics randomised,
    the outputs agree from the raw image."""
    from keras.src.legacy.saving import legacy_h5_format

    theirs = _reference(name)
    _randomise(theirs)
    with h5py.File(tmp_path / "weights.h5", "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, theirs)
    if source == "to_keras":
        ours = to_keras(spec, network=network, overrides={"input": "64x64x3"})
    else:
        ours = import_source(resnet_dsl.to_python(spec, network=network)).build_model(input_shape=SMALL)
    ours.load_weights(tmp_path / "weights.h5", by_name=True)
    weighted = {layer.name for layer in ours.layers if layer.weights}
    assert weighted == {x.name for x in theirs.layers if x.weights}
    for layer in ours.layers:
        if not layer.weights:
            continue
        for mine, reference in zip(layer.weights, theirs.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(reference))
    # the first convolution's output too: after dozens of randomised layers the head's output
    # hardly depends on the image, so a wrong preprocessing would pass on it alone
    first = next(layer.name for layer in theirs.layers if type(layer).__name__ == "Conv2D")
    probes = [
        keras.Model(
            m.input, [m.get_layer(first).output, m.layers[-3 if "top_dropout" in names(m) else -2].output, m.output]
        )
        for m in (ours, theirs)
    ]
    images = np.random.default_rng(1).random((2, *SMALL), dtype=np.float32) * 255
    for actual, expected in zip(probes[0](images), probes[1](images), strict=True):
        actual, expected = np.asarray(actual), np.asarray(expected)
        assert np.abs(actual - expected).max() <= 1e-5 * np.abs(expected).max()


def names(model: Any) -> set[str]:
    return {layer.name for layer in model.layers}
