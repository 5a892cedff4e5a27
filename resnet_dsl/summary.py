"""Network -> the per-layer table of `resnet-dsl summary`, as text or as a JSON object."""

from __future__ import annotations

from typing import Any

from resnet_dsl.network import Layer, Network, Shape


def keras_shape(shape: Shape) -> list[int | None]:
    """A per-sample shape with the batch axis in front, as Keras shows it."""
    return [None, *shape]


def summary(network: Network) -> dict[str, Any]:
    """Shapes, parameters and multiply-accumulates of every layer, and the totals."""
    total = network.total_params
    return {
        "name": network.name,
        "source": network.source,
        "input_shape": keras_shape(network.input_shape),
        "output_shape": keras_shape(network.output_shape),
        "params": {"total": total.total, "trainable": total.trainable, "non_trainable": total.non_trainable},
        "macs": network.macs,
        "layers": [_layer(layer) for layer in network.layers],
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
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=False)]
        right = [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=False)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    total = network.total_params
    torch = torch_counts(network)
    return "\n".join(
        [
            f"{network.name} ({network.source})",
            rule,
            line(header),
            rule,
            *(line(row) for row in rows),
            rule,
            f"Layers: {len(network.layers)} (input included)",
            f"Params: {total.total:,} (trainable {total.trainable:,}, non-trainable {total.non_trainable:,})",
            f"Torch:  {torch['params']:,} parameters, {torch['buffers']:,} buffer elements "
            "(BatchNorm running statistics and num_batches_tracked)",
            f"MACs:   {network.macs:,} ({network.macs / 1e9:.2f} G per sample)",
            f"Input:  {_shape_text(network.input_shape)}  Output: {_shape_text(network.output_shape)}",
        ]
    )
