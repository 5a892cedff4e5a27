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

from resnet_dsl.network.model import Layer, Network

Number = int | Fraction
"""Whole pixels, except after upsampling, which makes the jump a fraction (exact arithmetic)."""
Pair = tuple[Number, Number]


@dataclass(frozen=True)
class Field:
    """The receptive field of one feature map, per axis (rows, columns), in input pixels."""

    size: Pair
    jump: Pair

    @staticmethod
    def _number(value: Number) -> int | float:
        return int(value) if isinstance(value, int) or value.denominator == 1 else float(value)

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


PIXEL = Field(size=(1, 1), jump=(1, 1))


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
    fields = type(config).model_fields  # a config without a field is no window, and cheap to ask

    def value(*names: str) -> object:
        return next((getattr(config, name) for name in names if name in fields), None)

    return _pair(value("kernel_size", "pool_size")), _pair(value("strides")), _pair(value("dilation_rate"))


def _upsampling(layer: Layer) -> tuple[int, int] | None:
    """An upsampling layer's factor per axis: it divides the jump instead of multiplying it."""
    if "upsampl" not in layer.kind:
        return None
    return _pair(layer.config.size)  # type: ignore[union-attr]


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
        sources = [field for field in map(found.get, layer.inputs) if field is not None]
        if not sources or _global(layer):
            found[layer.name] = None
            continue
        if len(sources) == 1:
            (size_rows, size_cols), (jump_rows, jump_cols) = sources[0].size, sources[0].jump
        else:  # a merge: the longest path
            size_rows, size_cols = max(f.size[0] for f in sources), max(f.size[1] for f in sources)
            jump_rows, jump_cols = max(f.jump[0] for f in sources), max(f.jump[1] for f in sources)
        factor = _upsampling(layer)
        if factor is not None:
            jump = (Fraction(jump_rows, factor[0]), Fraction(jump_cols, factor[1]))
            found[layer.name] = Field(size=(size_rows, size_cols), jump=jump)
            continue
        window, stride, dilation = _window(layer)
        found[layer.name] = Field(
            size=(
                size_rows + dilation[0] * (window[0] - 1) * jump_rows,
                size_cols + dilation[1] * (window[1] - 1) * jump_cols,
            ),
            jump=(jump_rows * stride[0], jump_cols * stride[1]),
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
