"""Network -> `resnet-dsl summary`: per stage (the default) or per layer, as text or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet_dsl.analysis.memory import DEFAULT_BATCH, activation_bytes, memory, size_text
from resnet_dsl.analysis.receptive import Field, fields, last_feature_map, last_field
from resnet_dsl.analysis.tables import framed
from resnet_dsl.network.model import Layer, Network, Shape


def keras_shape(shape: Shape) -> list[int | None]:
    """A per-sample shape with the batch axis in front, as Keras shows it."""
    return [None, *shape]


def summary(network: Network, batch: int = DEFAULT_BATCH) -> dict[str, Any]:
    """Shapes, parameters and multiply-accumulates of every layer and every stage, the
    receptive field and memory, and the totals."""
    total = network.total_params
    _, field = last_feature_map(network)
    return {
        "name": network.name,
        "source": network.source,
        "input_shape": keras_shape(network.input_shape),
        "output_shape": keras_shape(network.output_shape),
        "params": {"total": total.total, "trainable": total.trainable, "non_trainable": total.non_trainable},
        "macs": network.macs,
        "layers": [_layer(layer) for layer in network.layers],
        "stages": [section.json() for section in sections(network)],
        "receptive_field": field.json() if field else None,
        "memory": memory(network, batch).json(),
        "torch": torch_counts(network),
    }


def torch_counts(network: Network) -> dict[str, int]:
    """What torch counts for the same network: BatchNorm's running statistics are buffers, not
    parameters, and each BatchNorm adds one more buffer element, `num_batches_tracked`."""
    total = network.total_params
    norms = sum(1 for layer in network.layers if layer.kind == "batchnorm")
    return {"params": total.trainable, "buffers": total.non_trainable + norms}


def _layer(layer: Layer) -> dict[str, Any]:
    return {
        "name": layer.name,
        "kind": layer.kind,
        "output_shape": keras_shape(layer.output_shape),
        "params": layer.params.total,
        "macs": layer.macs,
    }


def _shape_text(shape: Shape) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def render_table(network: Network) -> str:
    """The summary as an aligned text table, one row per layer, totals below."""
    header = ("Layer", "Kind", "Output shape", "Params", "MACs")
    rows = [
        (layer.name, layer.kind, _shape_text(layer.output_shape), f"{layer.params.total:,}", f"{layer.macs:,}")
        for layer in network.layers
    ]
    total = network.total_params
    torch = torch_counts(network)
    return framed(
        f"{network.name} ({network.source})",
        header,
        rows,
        (0, 1, 2),
        [
            f"Layers: {len(network.layers)} (input included)",
            f"Params: {total.total:,} (trainable {total.trainable:,}, non-trainable {total.non_trainable:,})",
            f"Torch:  {torch['params']:,} parameters, {torch['buffers']:,} buffer elements "
            "(BatchNorm running statistics and num_batches_tracked)",
            f"MACs:   {network.macs:,} ({network.macs / 1e9:.2f} G per sample)",
            f"Input:  {_shape_text(network.input_shape)}  Output: {_shape_text(network.output_shape)}",
        ],
    )


# ------------------------------------------------------------ per stage --
@dataclass(frozen=True)
class Section:
    """The input, the stem, one stage or the head: what its layers add up to."""

    name: str
    kind: str
    """"input", "stem", "stage" or "head"."""
    blocks: int | None
    layers: tuple[Layer, ...]
    field: Field | None
    """The receptive field of the section's last feature map (None: it has none)."""

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape

    @property
    def params(self) -> int:
        return sum(layer.params.total for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def activations(self) -> int:
        return activation_bytes(self.layers)

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "section": self.kind,
            "blocks": self.blocks,
            "layers": len(self.layers),
            "output_shape": keras_shape(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": self.field.json() if self.field else None,
            "activation_bytes": self.activations,
        }


def sections(network: Network) -> list[Section]:
    """The input, stem, each stage and the head, in order; an empty stem or head is left out."""
    found = fields(network)
    groups: dict[str, list[Layer]] = {}
    for layer in network.layers:
        key = layer.origin.stage if layer.origin.section == "stage" else layer.origin.section
        groups.setdefault(key or layer.origin.section, []).append(layer)
    blocks = {stage.label: len(stage.blocks) for stage in network.stages}
    order = [("input", "input"), ("stem", "stem"), *((label, "stage") for label in blocks), ("head", "head")]
    return [
        Section(
            name=name,
            kind=kind,
            blocks=blocks.get(name) if kind == "stage" else None,
            layers=tuple(groups[name]),
            field=last_field(groups[name], found),
        )
        for name, kind in order
        if groups.get(name)
    ]


def _count(number: int) -> str:
    """`4.09 G`, `118.0 M`, `9.5 K`: a large count at a glance."""
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if number >= limit:
            return f"{number / limit:.{2 if unit == 'G' else 1}f} {unit}"
    return str(number)


def _dims(shape: Shape) -> str:
    return "x".join(map(str, shape))


def render_stages(network: Network, batch: int = DEFAULT_BATCH) -> str:
    """The summary per section (input, stem, each stage, head), totals, receptive field and memory."""
    header = ("Section", "Blocks", "Output", "Params", "MACs", "Receptive field", "Activations")
    rows = [
        (
            section.name,
            "" if section.blocks is None else str(section.blocks),
            _dims(section.output_shape),
            f"{section.params:,}",
            _count(section.macs),
            section.field.text() if section.field else "whole input",
            size_text(section.activations),
        )
        for section in sections(network)
    ]
    total = network.total_params
    where, field = last_feature_map(network)
    used = memory(network, batch)
    return framed(
        f"{network.name} ({network.source})",
        header,
        rows,
        (0, 2, 5),
        [
            f"Layers: {len(network.layers)} (input included); per layer: resnet-dsl summary --layers",
            f"Params: {total.total:,} (trainable {total.trainable:,}, non-trainable {total.non_trainable:,})",
            f"MACs:   {network.macs:,} ({network.macs / 1e9:.2f} G per sample)",
            f"Input:  {_shape_text(network.input_shape)}  Output: {_shape_text(network.output_shape)}",
            f"Receptive field: {f'{field.text()} ({where})' if field else 'none (no layer has height and width)'}",
            f"Memory (float32): parameters {size_text(used.params)}, "
            f"activations {size_text(used.activations)} per sample",
            f"  training step at batch {batch}: {size_text(used.training)} "
            f"({batch} x activations + parameters + gradients)",
        ],
    )
