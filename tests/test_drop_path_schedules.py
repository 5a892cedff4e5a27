"""Stochastic depth per block, as both zoos schedule it: each shipped spec's drop rates, block by
block, against the rate each zoo module holds (torchvision's `StochasticDepth.p`, Keras's
`Dropout.rate` / `StochasticDepth.drop_path_rate`), and the block position the rates read."""

from __future__ import annotations

from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError

POSITIONS = """
block res(filters, rate = 0.0) {
  main {
    conv(filters, 3, padding=same) -> drop_path(rate)
  }
  out = add(main, shortcut)
}

network Positions(input = 8x8x2, classes = 3, top = 0.5) {
  defaults {
    res(rate=top * index / blocks)
  }
  stage s1: res(2) * 2
  stage s2: res(2, rate=0.1 * stage_index + 0.01 * block_index + 0.001 * stage_blocks) * 3
  head {
    global_avgpool -> dense(classes)
  }
}
"""


def _rates(network: resnet_dsl.Network) -> dict[str, float]:
    return {layer.name: layer.config.rate for layer in network.layers if layer.kind == "drop_path"}


def test_block_arguments_and_block_defaults_read_the_blocks_position() -> None:
    rates = _rates(resnet_dsl.loads(POSITIONS))
    assert rates == pytest.approx(
        {
            "s1_block1_1_drop_path": 0.0,
            "s1_block2_1_drop_path": 0.5 * 1 / 5,
            "s2_block1_1_drop_path": 0.1 + 0.0 + 0.003,
            "s2_block2_1_drop_path": 0.1 + 0.01 + 0.003,
            "s2_block3_1_drop_path": 0.1 + 0.02 + 0.003,
        }
    )


def test_a_network_parameter_cannot_take_a_position_name() -> None:
    with pytest.raises(ArchError, match="cannot be called 'blocks'") as caught:
        resnet_dsl.loads(POSITIONS.replace("top = 0.5", "top = 0.5, blocks = 3"))
    assert caught.value.span.line == 9


# ------------------------------------------------------------- torchvision --

TORCHVISION = [
    ("specs/torchvision/efficientnet.arch", "EfficientNetB0", "efficientnet_b0"),
    ("specs/torchvision/efficientnet.arch", "EfficientNetB1", "efficientnet_b1"),
    ("specs/torchvision/convnext_tiny.arch", None, "convnext_tiny"),
    ("specs/torchvision/convnext_small.arch", None, "convnext_small"),
]


@pytest.mark.parametrize(("spec", "network", "name"), TORCHVISION)
def test_torchvision_rates_block_by_block(spec: str, network: str | None, name: str) -> None:
    """Every StochasticDepth module torchvision builds has our drop path at its path with its p;
    ours has none elsewhere (EfficientNet's blocks that change shape have no add, so no drop)."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    from torchvision.ops import StochasticDepth

    from resnet_dsl.backends.torch_modules import DropPath

    torch.set_num_threads(1)
    theirs = {
        path: module.p
        for path, module in getattr(torchvision.models, name)().named_modules()
        if isinstance(module, StochasticDepth)
    }
    ours = {
        path: module.p
        for path, module in resnet_dsl.to_torch(spec, network=network).named_modules()
        if isinstance(module, DropPath)
    }
    assert ours and set(ours) <= set(theirs)
    assert ours == pytest.approx({path: theirs[path] for path in ours}, rel=1e-12, abs=1e-15)
    assert len({round(p, 12) for p in ours.values()}) == len(ours)  # a rate per block, not one rate
    skipped = set(theirs) - set(ours)
    assert len(skipped) == (7 if name.startswith("efficientnet") else 0)  # each stage's first block


# ------------------------------------------------------------------- Keras --


def _keras_rates(model: Any) -> dict[str, float]:
    """Each drop layer's rate by name: EfficientNet's `Dropout(noise_shape=(None, 1, 1, 1))`
    (`block2b_drop`), ConvNeXt's `StochasticDepth` (`..._stochastic_depth`), or at rate 0 its
    linear activation (`..._identity`)."""
    rates = {}
    for layer in model.layers:
        if type(layer).__name__ == "StochasticDepth":
            rates[layer.name] = layer.drop_path_rate
        elif type(layer).__name__ == "Dropout" and layer.noise_shape is not None:
            rates[layer.name] = layer.rate
        elif layer.name.endswith("_identity"):
            rates[layer.name] = 0.0
    return rates


KERAS = [
    ("specs/keras/efficientnet.arch", "EfficientNetB0", "EfficientNetB0", {}),
    ("specs/keras/efficientnet.arch", "EfficientNetB1", "EfficientNetB1", {}),
    ("specs/keras/convnext_tiny.arch", None, "ConvNeXtTiny", {"drop_path_rate": 0.3}),
]


@pytest.mark.keras
@pytest.mark.parametrize(("spec", "network", "name", "overrides"), KERAS)
def test_keras_applications_rates_block_by_block(
    spec: str, network: str | None, name: str, overrides: dict[str, float]
) -> None:
    """Our network's drop layers, by their Keras names, against keras.applications' model."""
    keras = pytest.importorskip("keras")
    keras.utils.clear_session()  # no session number in ConvNeXt's names
    if name == "ConvNeXtTiny":  # its rate is an argument of the family's builder only
        from keras.src.applications.convnext import MODEL_CONFIGS, ConvNeXt

        tiny = MODEL_CONFIGS["tiny"]
        model = ConvNeXt(
            tiny["depths"], tiny["projection_dims"], name="convnext_tiny", input_shape=(64, 64, 3), **overrides
        )
    else:
        model = getattr(keras.applications, name)(weights=None, input_shape=(64, 64, 3))
    theirs = _keras_rates(model)
    ours = _rates(resnet_dsl.load(spec, network=network, overrides={"input": "64x64x3", **overrides}))
    assert ours and set(ours) == set(theirs)
    assert ours == pytest.approx(theirs, rel=1e-6)
    assert len(set(ours.values())) == len(ours)
