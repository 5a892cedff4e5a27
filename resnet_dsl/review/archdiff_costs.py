"""Both networks by section (stem, each stage, head): each section's layers, what it costs, what it reads from outside.

Parameters, MACs, activation bytes per sample and the receptive field of the section's last
feature map, old and new, as `CostRow`s.
"""

from __future__ import annotations

from collections.abc import Sequence

from resnet_dsl.analysis.memory import activation_bytes
from resnet_dsl.analysis.receptive import Field, fields, last_field
from resnet_dsl.network.model import Layer, Network, Shape
from resnet_dsl.review.archdiff_result import CostRow, Delta

OUTSIDE = "<in>"
"""The name a layer's input from another section gets when sections are compared."""


def section_layers(network: Network) -> dict[str, list[Layer]]:
    """Layers by section ("stem", "head", or the label of their stage), each layer's inputs
    from outside its section renamed `<in>`: conv5's first layer reading `conv4_block23_out`
    instead of `conv4_block6_out` is a consequence of conv4's depth, not a change of conv5."""
    groups: dict[str, list[Layer]] = {}
    for layer in network.layers:
        key = layer.origin.stage if layer.origin.section == "stage" else layer.origin.section
        groups.setdefault(key or "", []).append(layer)
    for key, layers in groups.items():
        local = {layer.name for layer in layers}
        groups[key] = [
            layer
            if all(name in local for name in layer.inputs)
            else layer.model_copy(update={"inputs": tuple(n if n in local else OUTSIDE for n in layer.inputs)})
            for layer in layers
        ]
    return groups


class Sides:
    """Both networks, their layers by section and their receptive fields."""

    def __init__(
        self, old: Network, new: Network, old_groups: dict[str, list[Layer]], new_groups: dict[str, list[Layer]]
    ) -> None:
        self.old, self.new = old, new
        self.old_groups, self.new_groups = old_groups, new_groups
        self.old_fields, self.new_fields = fields(old), fields(new)

    def layers(self, side: Network, section: str) -> Sequence[Layer]:
        if section == "total":
            return side.layers
        return (self.old_groups if side is self.old else self.new_groups).get(section, [])

    def cost(self, old_section: str, new_section: str) -> CostRow:
        old, new = self.layers(self.old, old_section), self.layers(self.new, new_section)
        old_field, new_field = last_field(old, self.old_fields), last_field(new, self.new_fields)
        return CostRow(
            section=new_section,
            params=Delta(old=sum(layer.params.total for layer in old), new=sum(layer.params.total for layer in new)),
            macs=Delta(old=sum(layer.macs for layer in old), new=sum(layer.macs for layer in new)),
            activations=Delta(old=activation_bytes(old), new=activation_bytes(new)),
            receptive_field=None
            if old_field is None and new_field is None
            else Delta(old=_pixels(old_field), new=_pixels(new_field)),
            old_section=old_section if old_section != new_section else None,
        )

    def input_shape(self, side: Network, section: str) -> Shape | None:
        """The shape the section reads from outside it (its first such input)."""
        source = self.input_source(side, section)
        return None if source is None else source.output_shape

    def input_source(self, side: Network, section: str) -> Layer | None:
        """The layer outside the section that it reads first."""
        layers = self.layers(side, section)
        for layer in layers:
            if OUTSIDE in layer.inputs:
                original = side.layer(layer.name)
                local = {item.name for item in layers}
                return side.layer(next(name for name in original.inputs if name not in local))
        return None


def section_of(layer: Layer | None) -> str | None:
    if layer is None:
        return None
    return layer.origin.stage if layer.origin.section == "stage" else layer.origin.section


def _pixels(field: Field | None) -> int | float:
    return 0 if field is None else max(field.sizes)
