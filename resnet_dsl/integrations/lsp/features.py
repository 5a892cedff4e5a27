"""What the cursor asks about: hover, go-to-definition and completion.

Hover gives a layer's, a block call's, a stage's or a network's shape, parameters and MACs, and
a block's signature and docs. Each reads one `Analysis`: a part of the document that is fine
answers even while another has errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.parser import grammar
from resnet_dsl.network import expand, ops
from resnet_dsl.network.evaluate import evaluate
from resnet_dsl.network.model import Layer, Network, StageInstance

from .analysis import Analysis
from .outline import items, signature, source_of, uri_of
from .positions import STRING, contains, lines_of, size, span_range, string_at, word_at


def _enclosing(analysis: Analysis, line: int) -> ir.Item | None:
    return next((item for item in items(analysis) if item.span.line <= line <= item.span.end_line), None)


def _blocks(analysis: Analysis) -> dict[str, Any]:
    return dict(analysis.scope.blocks) if analysis.scope else {}


def _networks(analysis: Analysis) -> dict[str, Any]:
    return dict(analysis.scope.networks) if analysis.scope else {}


# --------------------------------------------------------------- hover --


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def _cost(layers: list[Layer]) -> str:
    params = sum(layer.params.total for layer in layers)
    trainable = sum(layer.params.trainable for layer in layers)
    macs = sum(layer.macs for layer in layers)
    return f"params {params:,} (trainable {trainable:,}) · MACs {macs:,}"


def block_doc(block: Any) -> str:
    """A block's signature, its doc, one line per documented parameter, where it is defined."""
    text = f"```arch\n{signature(block)}\n```"
    if block.doc.text:
        text += "\n\n" + block.doc.text
    documented = [f"- `{p.name}`: {p.doc.text}" for p in getattr(block, "params", ()) if p.doc.text]
    if documented:
        text += "\n\n" + "\n".join(documented)
    where = "the prelude" if block.span.file == "<prelude>" else block.span.file
    return text + f"\n\n*defined in {where}*"


def hover(analysis: Analysis, line: int, column: int) -> str | None:
    """Markdown for what stands at (line, column): a layer, a block call, a stage, a block name."""
    word = word_at(analysis.text, line, column)
    for item in items(analysis):
        if isinstance(item, (ir.NetworkDef, ir.DerivedNetwork)) and contains(item.span, line, column):
            for stage in getattr(item, "stages", ()) or ():
                if not contains(stage.span, line, column):
                    continue
                for index, call in enumerate(stage.calls):
                    if contains(call.span, line, column) and word == call.block:
                        return _call_hover(analysis, item, stage, index)
                if word == stage.label:
                    return _stage_hover(analysis, item, stage)
    layers = _layers_at(analysis, line, column)
    if layers:
        return _layer_hover(layers, word)
    blocks = _blocks(analysis)
    if word in blocks:
        return block_doc(blocks[word])
    network = next((n for n in analysis.networks if n.name == word), None)
    return _network_hover(network, network.name in analysis.partial) if network is not None else None


def _network_hover(network: Network, partial: bool) -> str:
    """A network's totals, as the summary's footer gives them."""
    total = network.total_params
    stages = ", ".join(f"{stage.label} ({len(stage.blocks)})" for stage in network.stages) or "none"
    if partial:
        return (
            f"**network {network.name}** has errors; up to its last stage without one, {stage_word(network)}:"
            f" {len(network.layers)} layers, output {_shape(network.output_shape)}\n\n"
            f"params {total.total:,} (trainable {total.trainable:,}) · MACs {network.macs:,}\n\n"
            f"stages (blocks): {stages}"
        )
    return (
        f"**network {network.name}**: {len(network.layers)} layers\n\n"
        f"input {_shape(network.input_shape)} → output {_shape(network.output_shape)}\n\n"
        f"params {total.total:,} (trainable {total.trainable:,}) · MACs {network.macs:,}\n\n"
        f"stages (blocks): {stages}"
    )


def stage_word(network: Network) -> str:
    return network.stages[-1].label if network.stages else "the stem"


def _network_of(analysis: Analysis, item: Any) -> Network | None:
    return next((n for n in analysis.networks if n.name == item.name), None)


def _stage_instance(network: Network, label: str) -> StageInstance | None:
    return next((s for s in network.stages if s.label == label), None)


def _stage_hover(analysis: Analysis, item: Any, stage: ir.Stage) -> str | None:
    network = _network_of(analysis, item)
    instance = _stage_instance(network, stage.label) if network else None
    if network is None or instance is None:
        return None
    layers = [layer for layer in network.layers if layer.origin.stage == stage.label]
    shape = _shape(instance.blocks[-1].output_shape) if instance.blocks else "unchanged"
    return (
        f"**stage {stage.label}** of {network.name}: {len(instance.blocks)} blocks, {len(layers)} layers\n\n"
        f"{instance.composition}\n\noutput {shape} · {_cost(layers)}"
    )


def _call_hover(analysis: Analysis, item: Any, stage: ir.Stage, index: int) -> str | None:
    network = _network_of(analysis, item)
    instance = _stage_instance(network, stage.label) if network else None
    if network is None or instance is None:
        return None
    env = dict(network.params)
    try:
        counts = [1 if call.repeat is None else int(evaluate(call.repeat, env)) for call in stage.calls]
    except (ArchError, ArithmeticError, TypeError, ValueError):
        return None
    start = sum(counts[:index])
    blocks = instance.blocks[start : start + counts[index]]
    if not blocks:
        return f"**{stage.calls[index].block}**: repeated 0 times in {network.name}"
    names = {name for block in blocks for name in block.layers}
    layers = [layer for layer in network.layers if layer.name in names]
    title = blocks[0].name if len(blocks) == 1 else f"{blocks[0].name} .. {blocks[-1].name} ({len(blocks)} blocks)"
    text = f"**{title}**: {blocks[0].block} in {network.name}\n\n"
    text += f"output {_shape(blocks[-1].output_shape)} · {_cost(layers)}"
    blocks_by_name = _blocks(analysis)
    if blocks[0].block in blocks_by_name:
        text += "\n\n---\n\n" + block_doc(blocks_by_name[blocks[0].block])
    return text


def _layers_at(analysis: Analysis, line: int, column: int) -> list[tuple[Network, Layer]]:
    """The expanded layers made by the layer call under the cursor (one per block instance)."""
    found = [
        (network, layer)
        for network in analysis.networks
        for layer in network.layers
        if layer.kind != "input" and layer.span.file == analysis.path and contains(layer.span, line, column)
    ]
    if not found:
        return []
    smallest = min(size(layer.span) for _, layer in found)
    return [(network, layer) for network, layer in found if size(layer.span) == smallest]


def _layer_hover(found: list[tuple[Network, Layer]], word: str | None) -> str:
    network, layer = found[0]
    text = (
        f"**{layer.name}** ({layer.kind}) in {network.name}\n\noutput {_shape(layer.output_shape)} · {_cost([layer])}"
    )
    if len(found) > 1:
        shapes = sorted({_shape(other.output_shape) for _, other in found})
        text += f"\n\nmade {len(found)} times (once per block): outputs " + ", ".join(shapes)
    return text


# ------------------------------------------------------------ definition --


def definition(analysis: Analysis, line: int, column: int) -> lsp.Location | None:
    """Where the name (or imported file) under the cursor is defined."""
    imported = string_at(analysis.text, line, column)
    if imported is not None:
        for item in items(analysis):
            if isinstance(item, ir.Import) and item.path == imported and contains(item.span, line, column):
                key = next((k for k, lead in analysis.leads.items() if lead is item), None)
                target = Path(key).resolve() if key else (Path(analysis.path).parent / item.path).resolve()
                uri = from_fs_path(str(target)) or target.as_uri()
                return lsp.Location(uri=uri, range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)))
        return None
    word = word_at(analysis.text, line, column)
    if word is None:
        return None
    enclosing = _enclosing(analysis, line)
    for param in getattr(enclosing, "params", ()) or ():
        if param.name == word and param.span.line:
            return _location(param.span, analysis)
    target = _blocks(analysis).get(word) or _networks(analysis).get(word)
    return _location(target.span, analysis) if target is not None and target.span.line else None


def _location(span: ir.Span, analysis: Analysis) -> lsp.Location:
    if span.file == analysis.path:
        return lsp.Location(uri=uri_of(analysis.path), range=span_range(span, analysis.text))
    return lsp.Location(uri=uri_of(span.file), range=span_range(span, source_of(span.file)))


# ------------------------------------------------------------ completion --


def _open_call(text: str, line: int, column: int) -> str | None:
    """The name of the innermost call whose parenthesis is open at (line, column), if any."""
    lines = lines_of(text)
    before = "\n".join([*lines[: line - 1], lines[line - 1][: column - 1] if line <= len(lines) else ""])
    before = STRING.sub('""', before)
    depth = 0
    for index in range(len(before) - 1, -1, -1):
        char = before[index]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth == 0:
                if char == "[":
                    return None
                match = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", before[:index])
                return match.group(1) if match else None
            depth -= 1
        elif char in "{}" and depth == 0:
            return None
    return None


def _names_in_scope(item: Any) -> list[tuple[str, str]]:
    """A network's or block's parameters; in a block also `in_channels` and its named values."""
    names = [(param.name, "parameter") for param in getattr(item, "params", ()) or ()]
    if isinstance(item, ir.BlockDef):
        implicit = getattr(expand, "IN_CHANNELS", None)
        if implicit:
            names.append((implicit, "the block's input channels"))
        names += [(value.name, "value") for value in item.lets]
    return names


def completion(
    analysis: Analysis, line: int, column: int, fallback: Analysis | None = None
) -> list[lsp.CompletionItem]:
    """Names that fit where the cursor stands: options of the open call, blocks, layers,
    parameters. `fallback`: an earlier analysis whose definitions all parsed, for the names of
    a definition being typed."""
    lines = lines_of(analysis.text)
    current = lines[line - 1][: column - 1] if line <= len(lines) else ""
    enclosing = _enclosing(analysis, line) or (_enclosing(fallback, line) if fallback else None)
    in_scope = [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Variable, detail=what)
        for name, what in _names_in_scope(enclosing)
    ]
    blocks = _blocks(analysis) or (_blocks(fallback) if fallback else {})
    block_items = [
        lsp.CompletionItem(
            label=name,
            kind=lsp.CompletionItemKind.Class,
            detail=signature(block),
            documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=block_doc(block)),
        )
        for name, block in sorted(blocks.items())
    ]
    call = _open_call(analysis.text, line, column)
    if call is not None:
        op = ops.lookup(call)
        options = [o.name for o in op.options] if op else [p.name for p in getattr(blocks.get(call), "params", ())]
        named = [
            lsp.CompletionItem(
                label=f"{name}=",
                insert_text=f"{name}=",
                kind=lsp.CompletionItemKind.Property,
                detail=f"option of {call}",
            )
            for name in options
        ]
        return named + in_scope
    if re.match(r"\s*stage\s+[A-Za-z_][A-Za-z0-9_]*\s*:", current):
        return block_items
    layer_items = [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail="layer")
        for name in ops.known_names()
    ]
    keyword_items = [lsp.CompletionItem(label=word, kind=lsp.CompletionItemKind.Keyword) for word in _keywords()]
    return layer_items + block_items + in_scope + keyword_items


def _keywords() -> list[str]:
    """The words the grammar spells out (`stage`, `block`, ...), read from the parser itself."""
    found = {t.pattern.value for t in grammar().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}
    return sorted(found)
