"""Expanded network (or an architectural diff) -> a Mermaid flowchart, which GitHub renders
inside Markdown (fenced mermaid blocks, `.mmd` files) with no tool installed.

The same two levels of detail as the Graphviz picture (`graph.py`): one node per stage by
default, every layer with `expand=True` (stages and blocks as subgraphs, residual connections
dotted). Node ids are generated (`n0`, `n1`, ...), so no layer name can collide with Mermaid's
keywords; every label is quoted and its special characters written as Mermaid entity codes.
"""

from __future__ import annotations

import itertools

from resnet_dsl.language.errors import printable
from resnet_dsl.network.model import Network
from resnet_dsl.review.archdiff_result import ArchDiff, CostRow, StageDiff
from resnet_dsl.review.graph import StageNode, collapsed_nodes, edges_between, is_shortcut, layer_label, shape_text

_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "`": "#96;"}


def label(text: str) -> str:
    """A quoted Mermaid label: entity codes for what Mermaid would read, `<br>` between lines."""
    lines = [printable(line) for line in text.replace("\r\n", "\n").split("\n")]  # no control character survives
    return '"' + "<br>".join("".join(_ENTITIES.get(char, char) for char in line) for line in lines) + '"'


class _Ids:
    """Stable generated node ids, in order of first use."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, key: str) -> str:
        return self.ids.setdefault(key, f"n{len(self.ids)}")


def to_mermaid(network: Network, expand: bool = False) -> str:
    """The network as a Mermaid flowchart: one node per stage, or with `expand`, per layer."""
    total = network.total_params.total
    lines = [
        "---",
        f"title: {_title(network.name)} · {total:,} parameters · {network.macs / 1e9:.2f} GMACs",
        "---",
        "flowchart TB",
    ]
    body = _expanded(network) if expand else _collapsed(network)
    lines += ["  " + line for line in body]
    return "\n".join(lines) + "\n"


def _title(text: str) -> str:
    return "".join(char if char.isalnum() or char in " _-." else "_" for char in text)


def _node(node: str, text: str, rounded: bool = False) -> str:
    return f"{node}({label(text)})" if rounded else f"{node}[{label(text)}]"


def _edge(source: str, target: str, text: str, dotted: bool = False) -> str:
    arrow = "-.->" if dotted else "-->"
    return f"{source} {arrow}|{label(text)}| {target}"


def _collapsed(network: Network) -> list[str]:
    ids = _Ids()
    node_of, nodes = collapsed_nodes(network, lambda stage: ids(f"stage:{stage}"), lambda name: ids(f"layer:{name}"))
    lines: list[str] = []
    stage_nodes = []
    for node in nodes:
        if isinstance(node, StageNode):
            lines.append(_node(node.id, node.label))
            stage_nodes.append(node.id)
        else:
            lines.append(_node(node_of[node.name], layer_label(node), rounded=node.kind == "input"))
    lines += _edges_between(network, node_of)
    if stage_nodes:
        lines += ["classDef stage fill:#e8f0fa,stroke:#4a78b0", f"class {','.join(stage_nodes)} stage"]
    return lines


def _edges_between(network: Network, node_of: dict[str, str]) -> list[str]:
    return [_edge(source, target, text) for source, target, text in edges_between(network, node_of)]


def _expanded(network: Network) -> list[str]:
    ids = _Ids()
    lines: list[str] = []
    current_stage: str | None = None
    current_block: str | None = None

    def close_block() -> None:
        nonlocal current_block
        if current_block is not None:
            lines.append("  end")
            current_block = None

    def close_stage() -> None:
        nonlocal current_stage
        close_block()
        if current_stage is not None:
            lines.append("end")
            current_stage = None

    for layer in network.layers:
        stage = layer.origin.stage if layer.origin.section == "stage" else None
        if stage != current_stage:
            close_stage()
            if stage is not None:
                lines.append(f"subgraph {ids('stage:' + stage)}[{label('stage ' + stage)}]")
                current_stage = stage
        block = layer.origin.block if stage is not None else None
        if block != current_block:
            close_block()
            if block is not None:
                lines.append(f"  subgraph {ids('block:' + block)}[{label(block)}]")
                current_block = block
        indent = "    " if current_block is not None else "  " if current_stage is not None else ""
        lines.append(indent + _node(ids(f"layer:{layer.name}"), layer_label(layer), rounded=layer.kind == "input"))
    close_stage()
    by_name = {layer.name: layer for layer in network.layers}
    for layer in network.layers:
        for source in layer.inputs:
            dotted = is_shortcut(by_name[source], layer)
            text = shape_text(by_name[source].output_shape)
            lines.append(_edge(ids(f"layer:{source}"), ids(f"layer:{layer.name}"), text, dotted=dotted))
    return lines


# -------------------------------------------------------------- diffs --


def diff_picture(result: ArchDiff) -> str:
    """The sections of both networks in order, left to right; changed, added and removed
    stages coloured and labelled with what changed, the others shown as unchanged."""
    ids = _Ids()
    changed = {stage.label: stage for stage in result.stages}
    lines = ["flowchart LR"]
    kinds: dict[str, list[str]] = {"changed": [], "added": [], "removed": [], "same": []}
    nodes = []
    for row in result.costs[:-1]:
        node = ids(row.section)
        status, text = _section(row, changed.get(row.section), result)
        lines.append("  " + _node(node, text))
        kinds[status].append(node)
        nodes.append(node)
    lines += [f"  {a} --> {b}" for a, b in itertools.pairwise(nodes)]
    lines += [
        "  classDef changed fill:#fff3cd,stroke:#b58900",
        "  classDef added fill:#e6ffed,stroke:#28a745",
        "  classDef removed fill:#ffeef0,stroke:#d73a49,stroke-dasharray:4 3",
        "  classDef same fill:#f6f8fa,stroke:#d0d7de,color:#57606a",
    ]
    lines += [f"  class {','.join(members)} {kind}" for kind, members in kinds.items() if members]
    return "\n".join(lines) + "\n"


def _section(row: CostRow, stage: StageDiff | None, result: ArchDiff) -> tuple[str, str]:
    params = _delta_text(row.params.old, row.params.new)
    if row.section in ("stem", "head"):
        moved = bool(result.stem if row.section == "stem" else result.head) or row.params.old != row.params.new
        return ("changed", f"{row.section}\nchanged\nparams {params}") if moved else ("same", row.section)
    if stage is None:
        return "same", f"{row.section}\nunchanged"
    if stage.status == "added":
        return "added", f"{row.section} (added)\n{stage.composition_new}\nparams {row.params.new:,}"
    if stage.status == "removed":
        return "removed", f"{row.section} (removed)\n{stage.composition_old}\nparams {row.params.old:,}"
    if stage.status == "renamed":
        return "changed", f"{stage.old_label} → {row.section} (renamed)\n{stage.composition_new}\nparams {params}"
    lines = [row.section, f"{stage.blocks.old} → {stage.blocks.new} blocks"]
    if stage.composition_old != stage.composition_new:
        lines.append(f"{stage.composition_old} → {stage.composition_new}")
    if stage.output_shape_old != stage.output_shape_new and stage.output_shape_old and stage.output_shape_new:
        lines.append(f"out {shape_text(stage.output_shape_old)} → {shape_text(stage.output_shape_new)}")
    lines.append(f"params {params}")
    return "changed", "\n".join(lines)


def _delta_text(old: int, new: int) -> str:
    return f"{old:,}" if old == new else f"{old:,} → {new:,}"


def fenced(chart: str) -> str:
    """A chart as a Markdown code block GitHub draws."""
    return "```mermaid\n" + chart + "```"
