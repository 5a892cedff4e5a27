"""Expanded network -> a Graphviz DOT picture of it, as text (no Graphviz needed to make it).

Two levels of detail, because a ResNet-152 drawn layer by layer is 500 boxes nobody reads:
by default each stage is one node (its block count, block types, output shape, cost), with
the block definitions beside it as notes that say where the residual connection goes;
`expand=True` draws every layer, clustered by stage and block, the shortcut edges drawn
apart. Edges carry the output shape of the tensor they carry. Every identifier and label is
quoted and escaped, and the text depends only on the network, so it can be diffed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from resnet_dsl.language.errors import printable
from resnet_dsl.language.ir import BlockDef
from resnet_dsl.network.model import (
    ActivationConfig,
    BlurConfig,
    ChannelPaddingConfig,
    Conv2DConfig,
    DenseConfig,
    DepthwiseConv2DConfig,
    DropoutConfig,
    DropPathConfig,
    GlobalPoolConfig,
    GroupNormConfig,
    InputConfig,
    Layer,
    LayerScaleConfig,
    Network,
    NormalizeConfig,
    PadConfig,
    PoolConfig,
    RescaleConfig,
    ReshapeConfig,
    SeparableConv2DConfig,
    Shape,
    SplitConfig,
    StageInstance,
    SubsampleConfig,
    UpSamplingConfig,
)
from resnet_dsl.network.ops import MERGE_KINDS
from resnet_dsl.review.formatter import expr_text, merge_text, out_text, params_text, unit_text

FONT = "Helvetica"
SHORTCUT_COLOR = "#1f77b4"


def quote(text: str) -> str:
    """A DOT double-quoted string: `"` and `\\` escaped, line breaks as DOT's `\\n`, control
    characters shown escaped (XML, and so the SVG Graphviz writes, allows none of them)."""
    lines = [
        printable(line).replace("\\", "\\\\").replace('"', '\\"') for line in text.replace("\r\n", "\n").split("\n")
    ]
    return '"' + "\\n".join(lines) + '"'


def left_justified(lines: Iterable[str]) -> str:
    """A quoted label whose lines are left-aligned (each ends in DOT's `\\l`)."""
    escaped = [printable(line).replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "".join(line + "\\l" for line in escaped) + '"'


def attributes(**values: str) -> str:
    """`[key="value", ...]` with every value quoted, in the order given."""
    return "[" + ", ".join(f"{key}={quote(value)}" for key, value in values.items()) + "]"


def shape_text(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _stride(strides: Shape) -> str:
    return str(strides[0]) if len(set(strides)) == 1 else shape_text(strides)


def to_dot(network: Network, expand: bool = False) -> str:
    """The network as a DOT digraph: one node per stage, or with `expand`, per layer."""
    total = network.total_params.total
    title = f"{network.name}\n{total:,} parameters, {network.macs / 1e9:.2f} GMACs per sample"
    lines = [
        f"digraph {quote(network.name)} {{",
        f"  graph {attributes(label=title, labelloc='t', fontname=FONT, rankdir='TB')};",
        f"  node {attributes(shape='box', style='rounded,filled', fillcolor='#f7f7f7', fontname=FONT)};",
        f"  edge {attributes(fontname=FONT, fontsize='10')};",
    ]
    body = _expanded(network) if expand else _collapsed(network)
    lines += ["  " + line for line in body]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ shared --
def node_count(network: Network, expand: bool = False) -> int:
    """How many nodes `to_dot` draws: what Graphviz's layout time grows with."""
    return len(network.layers) if expand else len(collapsed_nodes(network, _stage_id, str)[1])


def layer_label(layer: Layer) -> str:
    """`conv2d_1_conv` over `conv 3x3, 64, stride 2`: the name and what the layer does."""
    return f"{layer.name}\n{_what(layer)}"


def _what(layer: Layer) -> str:
    match layer.config:
        case InputConfig():
            return f"input {shape_text(layer.output_shape)}"
        case Conv2DConfig(kernel_size=kernel, filters=filters, strides=strides):
            return f"conv {shape_text(kernel)}, {filters}" + (
                f", stride {shape_text(strides)}" if strides != (1, 1) else ""
            )
        case DepthwiseConv2DConfig(kernel_size=kernel, depth_multiplier=multiplier, strides=strides):
            return f"depthwise conv {shape_text(kernel)}, x{multiplier}" + (
                f", stride {shape_text(strides)}" if strides != (1, 1) else ""
            )
        case SeparableConv2DConfig(kernel_size=kernel, filters=filters, strides=strides):
            return f"separable conv {shape_text(kernel)}, {filters}" + (
                f", stride {shape_text(strides)}" if strides != (1, 1) else ""
            )
        case PoolConfig(kind=kind, pool_size=size, strides=strides):
            return f"{kind} {shape_text(size)}, stride {_stride(strides)}"
        case SubsampleConfig(strides=strides):
            return f"subsample, stride {_stride(strides)}"
        case ChannelPaddingConfig(padding=(_, (low, high))):
            return f"zeropad channels +{low} +{high}"
        case UpSamplingConfig(size=size, interpolation=interpolation):
            return f"upsample {shape_text(size)}, {interpolation}"
        case GroupNormConfig(groups=groups):
            return f"groupnorm, {groups} groups"
        case GlobalPoolConfig(kind=kind, keepdims=True):
            return f"{kind}, keepdims"
        case ReshapeConfig(target_shape=target):
            return f"reshape to {shape_text(target)}"
        case DenseConfig(units=units, activation=activation):
            return f"dense {units}" + (f", {activation}" if activation != "linear" else "")
        case ActivationConfig(activation=activation):
            return activation
        case DropoutConfig(rate=rate):
            return f"dropout {rate}"
        case PadConfig(padding=((top, bottom), (left, right)), mode=mode):
            return f"pad {mode} {top} {bottom} {left} {right}"
        case BlurConfig(kernel_size=kernel, strides=strides):
            return f"blur {shape_text(kernel)}, stride {_stride(strides)}"
        case SplitConfig(groups=groups, index=index):
            return f"split: group {index + 1} of {groups}"
        case LayerScaleConfig(value=value):
            return f"layer scale, from {value:g}"
        case DropPathConfig(rate=rate):
            return f"drop path {rate}"
        case RescaleConfig(scale=scale, offset=offset):
            return f"rescale x {_values(scale)}" + (f" + {_values(offset)}" if offset != 0.0 else "")
        case NormalizeConfig(mean=mean, variance=variance):
            return f"normalize: - {_values(mean)}, / sqrt {_values(variance)}"
    return layer.kind


def _values(value: float | tuple[float, ...]) -> str:
    """`0.00392`, or `[0.485, 0.456, 0.406]`: one number or one per channel."""
    return f"[{', '.join(f'{v:.3g}' for v in value)}]" if isinstance(value, tuple) else f"{value:.3g}"


def _layer_node(layer: Layer) -> str:
    style = {"shape": "oval"} if layer.kind == "input" else {}
    return f"{quote(layer.name)} {attributes(label=layer_label(layer), **style)};"


def _edge(source: str, target: str, label: str, **style: str) -> str:
    return f"{quote(source)} -> {quote(target)} {attributes(label=label, **style)};"


# --------------------------------------------------------- collapsed --
def _stage_id(label: str) -> str:
    # Layer names never hold ':' (naming.VALID_NAME), so these cannot collide with them.
    return f"stage:{label}"


def _note_id(block: str) -> str:
    return f"block:{block}"


@dataclass(frozen=True)
class StageNode:
    """One stage drawn as one node: its id in the picture, the stage and its layers."""

    id: str
    stage: StageInstance
    layers: list[Layer]

    @property
    def label(self) -> str:
        """Its block count, block types, output shape and parameters, one per line."""
        params = sum(layer.params.total for layer in self.layers)
        count = len(self.stage.blocks)
        shape = shape_text(self.stage.blocks[-1].output_shape) if self.stage.blocks else "-"
        return "\n".join(
            [
                f"stage {self.stage.label}",
                f"{count} block{'s' * (count != 1)}: {self.stage.composition}",
                f"out {shape}",
                f"{params:,} params",
            ]
        )


def collapsed_nodes(
    network: Network, stage_id: Callable[[str], str], layer_id: Callable[[str], str]
) -> tuple[dict[str, str], list[Layer | StageNode]]:
    """The collapsed picture, shared by DOT and Mermaid: each layer's node id (its stage's
    where it belongs to one, its own otherwise), and the nodes in the order of their first layer
    (a stem or head `Layer` drawn alone, or a `StageNode`). Ids are asked for in layer order."""
    node_of: dict[str, str] = {}
    stage_layers: dict[str, list[Layer]] = {}
    for layer in network.layers:
        if layer.origin.section == "stage" and layer.origin.stage is not None:
            node_of[layer.name] = stage_id(layer.origin.stage)
            stage_layers.setdefault(layer.origin.stage, []).append(layer)
        else:
            node_of[layer.name] = layer_id(layer.name)
    stages = {stage.label: stage for stage in network.stages}
    nodes: list[Layer | StageNode] = []
    drawn: set[str] = set()
    for layer in network.layers:
        node = node_of[layer.name]
        if node in drawn:
            continue
        drawn.add(node)
        if layer.origin.section == "stage" and layer.origin.stage is not None:
            stage = stages[layer.origin.stage]
            nodes.append(StageNode(node, stage, stage_layers[stage.label]))
        else:
            nodes.append(layer)
    return node_of, nodes


def block_note(block: BlockDef) -> list[str]:
    """The paths of a block definition, one unit per line, and how they merge."""
    lines = [f"block {block.name}({params_text(block.params)})"]
    lines += [f"{let.name} = {expr_text(let.value)}" for let in block.lets]
    for path in block.paths:
        start = merge_text(path.source_merge) if path.source_merge is not None else path.source
        source = f" (from {start})" if start else ""
        condition = f" if {expr_text(path.condition)}" if path.condition is not None else ""
        units = [unit_text(unit) for unit in path.units] or ["identity"]
        lines += [f"{path.name}{source}{condition}: {units[0]}", *(f"  {unit}" for unit in units[1:])]
    if block.shortcut is None:
        lines.append("shortcut: identity")
    lines.append(f"out = {out_text(block)}")
    return lines


def _collapsed(network: Network) -> list[str]:
    """Stem and head layer by layer, each stage one node, block definitions as notes."""
    node_of, nodes = collapsed_nodes(network, _stage_id, str)
    lines = [
        f"{quote(node.id)} {attributes(label=node.label, fillcolor='#e8f0fa')};"
        if isinstance(node, StageNode)
        else _layer_node(node)
        for node in nodes
    ]
    lines += _edges_between(network, node_of)
    lines += _notes(network)
    return lines


def _edges_between(network: Network, node_of: dict[str, str]) -> list[str]:
    return [_edge(source, target, label=text) for source, target, text in edges_between(network, node_of)]


def edges_between(network: Network, node_of: dict[str, str]) -> list[tuple[str, str, str]]:
    """Every edge between two different nodes, once, with the shape it carries as text; shared
    by the DOT and Mermaid pictures, which differ only in how they write an edge."""
    shapes = {layer.name: layer.output_shape for layer in network.layers}
    seen: set[tuple[str, str]] = set()
    edges = []
    for layer in network.layers:
        for source in layer.inputs:
            pair = (node_of[source], node_of[layer.name])
            if pair[0] != pair[1] and pair not in seen:
                seen.add(pair)
                edges.append((*pair, shape_text(shapes[source])))
    return edges


def _notes(network: Network) -> list[str]:
    """One note per block definition: where its paths go and how the residual merges,
    placed beside the first stage that uses it (same rank).

    Not tied to the stages by edges: each stage node names its block types already, and
    a dozen dotted lines across the picture would hide the data flow."""
    first_use: dict[str, str] = {}
    for stage in network.stages:
        for instance in stage.blocks:
            first_use.setdefault(instance.block, stage.label)
    lines = []
    for block in network.blocks:
        style = attributes(shape="note", style="filled", fillcolor="#fffbe6")[1:-1]
        lines.append(f"{quote(_note_id(block.name))} [{style}, label={left_justified(block_note(block))}];")
        if block.name in first_use:
            stage = quote(_stage_id(first_use[block.name]))
            lines.append(f"{{ rank=same; {stage}; {quote(_note_id(block.name))}; }}")
    return lines


# ---------------------------------------------------------- expanded --
def _expanded(network: Network) -> list[str]:
    """Every layer; stages and blocks as clusters; shortcut edges drawn dashed and blue."""
    lines: list[str] = []
    for key, layers in _sections(network):
        if key is None:
            lines += [_layer_node(layer) for layer in layers]
            continue
        stage_label, blocks = key, _blocks(layers)
        lines.append(f"subgraph {quote('cluster_stage:' + stage_label)} {{")
        lines.append(f"  graph {attributes(label=f'stage {stage_label}', style='rounded', color='#999999')};")
        for block, block_layers in blocks:
            lines.append(f"  subgraph {quote('cluster_block:' + block)} {{")
            lines.append(f"    graph {attributes(label=block, style='dashed', color='#bbbbbb')};")
            lines += ["    " + _layer_node(layer) for layer in block_layers]
            lines.append("  }")
        lines.append("}")
    by_name = {layer.name: layer for layer in network.layers}
    for layer in network.layers:
        for source in layer.inputs:
            style = {}
            if is_shortcut(by_name[source], layer):
                style = {"style": "dashed", "color": SHORTCUT_COLOR, "fontcolor": SHORTCUT_COLOR}
            lines.append(_edge(source, layer.name, shape_text(by_name[source].output_shape), **style))
    return lines


def is_shortcut(source: Layer, target: Layer) -> bool:
    """Does the edge carry a connection beside the main path: into or along any other path
    of a block, or into a merge from anywhere but the main path (an identity shortcut, the
    block's input, a gate)?"""
    if target.origin.path not in (None, "main", "pre", "out"):
        return True
    return target.kind in MERGE_KINDS and not (
        source.origin.path in ("main", "out") and source.origin.block == target.origin.block
    )


def _sections(network: Network) -> Iterator[tuple[str | None, list[Layer]]]:
    """Runs of consecutive layers: (stage label, its layers), or (None, stem/head layers)."""
    current: tuple[str | None, list[Layer]] | None = None
    for layer in network.layers:
        key = layer.origin.stage if layer.origin.section == "stage" else None
        if current is None or current[0] != key:
            if current is not None:
                yield current
            current = (key, [])
        current[1].append(layer)
    if current is not None:
        yield current


def _blocks(layers: list[Layer]) -> list[tuple[str, list[Layer]]]:
    blocks: dict[str, list[Layer]] = {}
    for layer in layers:
        blocks.setdefault(layer.origin.block or "", []).append(layer)
    return list(blocks.items())
