"""Receptive fields, statically: how many input pixels can reach each layer's output.

Computed over the flat layer graph (`Network.layers` and their `inputs`), never over a
block's named paths, so it holds for any block graph. Per spatial axis, with `size` the
receptive field and `jump` the distance in input pixels between neighbouring outputs
(the effective stride), a layer with a window of `k` (dilated: `d * (k - 1) + 1`) and a
stride `s` gives

    size = size_in + (k - 1) * jump_in        jump = jump_in * s

A layer with several inputs (a merge) takes the largest field and jump among them: the
largest receptive field is the one through the longest path. Padding adds no input pixels,
so it changes nothing. Global pooling, and whatever follows it alone (flatten, dense, a
squeeze-and-excitation gate), sees the whole input: it has no local receptive field
(None), and a merge with such a gate keeps the field of its other inputs, as the
receptive field of an SE-ResNet is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from resnet_dsl.network import Layer, Network

Pair = tuple[Fraction, Fraction]


@dataclass(frozen=True)
class Field:
    """The receptive field of one feature map, per axis (rows, columns), in input pixels."""

    size: Pair
    jump: Pair

    @staticmethod
    def _number(value: Fraction) -> int | float:
        return int(value) if value.denominator == 1 else float(value)

    @property
    def sizes(self) -> tuple[int | float, int | float]:
        return self._number(self.size[0]), self._number(self.size[1])

    @property
    def jumps(self) -> tuple[int | float, int | float]:
        return self._number(self.jump[0]), self._number(self.jump[1])

    def text(self) -> str:
        """`483 px, jump 32`, or `483x211 px, jump 32x16` where the axes differ."""

        def pair(values: tuple[int | float, int | float]) -> str:
            return f"{values[0]:g}" if values[0] == values[1] else f"{values[0]:g}x{values[1]:g}"

        return f"{pair(self.sizes)} px, jump {pair(self.jumps)}"

    def json(self) -> dict[str, list[int | float]]:
        return {"size": list(self.sizes), "jump": list(self.jumps)}


ONE = Fraction(1)
PIXEL = Field(size=(ONE, ONE), jump=(ONE, ONE))


def _pair(value: object, default: int = 1) -> tuple[int, int]:
    if value is None:
        return default, default
    if isinstance(value, int):
        return value, value
    first, second = tuple(value)  # type: ignore[arg-type]
    return int(first), int(second)


def _window(layer: Layer) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(window, stride, dilation) of a layer, read from whichever of Keras's names its
    config uses; a layer without a window (activation, padding, merges) is 1x1, stride 1."""
    config = layer.config
    window = _pair(getattr(config, "kernel_size", None) or getattr(config, "pool_size", None))
    stride = _pair(getattr(config, "strides", None))
    dilation = _pair(getattr(config, "dilation_rate", None))
    return window, stride, dilation


def _upsampling(layer: Layer) -> tuple[int, int] | None:
    """An upsampling layer's factor per axis: it divides the jump instead of multiplying it."""
    if "upsampl" not in layer.kind:
        return None
    return _pair(getattr(layer.config, "size", None))


def _global(layer: Layer) -> bool:
    """The output sees the whole input: no height and width, or global pooling (keepdims too)."""
    return len(layer.output_shape) != 3 or layer.kind.startswith("global")


def fields(network: Network) -> dict[str, Field | None]:
    """Every layer's receptive field by name; None for a layer that sees the whole input."""
    found: dict[str, Field | None] = {}
    for layer in network.layers:
        if not layer.inputs:  # the input layer
            found[layer.name] = PIXEL
            continue
        sources = [found.get(name) for name in layer.inputs]
        sources = [field for field in sources if field is not None]
        if _global(layer) or not sources:
            found[layer.name] = None
            continue
        size = tuple(max(field.size[axis] for field in sources) for axis in (0, 1))
        jump = tuple(max(field.jump[axis] for field in sources) for axis in (0, 1))
        factor = _upsampling(layer)
        if factor is not None:
            found[layer.name] = Field(size=size, jump=(jump[0] / factor[0], jump[1] / factor[1]))  # type: ignore[arg-type]
            continue
        window, stride, dilation = _window(layer)
        found[layer.name] = Field(
            size=tuple(size[a] + dilation[a] * (window[a] - 1) * jump[a] for a in (0, 1)),  # type: ignore[arg-type]
            jump=tuple(jump[a] * stride[a] for a in (0, 1)),  # type: ignore[arg-type]
        )
    return found


def last_field(layers: list[Layer] | tuple[Layer, ...], found: dict[str, Field | None]) -> Field | None:
    """The receptive field of the last feature map among `layers` (None if none is spatial)."""
    for layer in reversed(layers):
        field = found.get(layer.name)
        if field is not None:
            return field
    return None


def last_feature_map(network: Network) -> tuple[str | None, Field | None]:
    """The network's receptive field: that of its last feature map (the last layer that has
    height and width, e.g. the last stage's output before global pooling), and that layer."""
    found = fields(network)
    for layer in reversed(network.layers):
        field = found[layer.name]
        if field is not None:
            return layer.name, field
    return None, None
