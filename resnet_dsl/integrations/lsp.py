"""`resnet-dsl lsp`: the language server editors talk to over stdio (pygls, the `lsp` extra).

Every answer comes from the same loader, expander and formatter the CLI uses: diagnostics are
`check`'s located errors, hover reads the expanded networks' shapes, parameters and MACs,
formatting is `fmt`. Positions are converted once, at the boundary: the IR's spans are 1-based
lines and character columns, LSP's are 0-based lines and UTF-16 columns.

Each open document is analysed on every change (a ResNet-152 takes a few tens of milliseconds,
see bench/bench_lsp.py); the last analysis that parsed is kept for completion and symbols, so
they keep working while the text is half typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from resnet_dsl import __version__
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.parser import grammar
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network import expand, ops
from resnet_dsl.network.evaluate import evaluate
from resnet_dsl.network.loader import Program, loads_program
from resnet_dsl.network.model import Layer, Network, StageInstance
from resnet_dsl.review.formatter import expr_text, format_source, item_text, params_text

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


# ------------------------------------------------------------ analysis --


@dataclass
class Analysis:
    """One version of a document: what parsed, what expanded, and the first error."""

    path: str
    text: str
    program: Program | None = None
    networks: list[Network] = field(default_factory=list)
    error: ArchError | None = None


def analyze(path: str, text: str) -> Analysis:
    """Parse, follow imports and expand every network, as `resnet-dsl check` does."""
    analysis = Analysis(path=path, text=text)
    try:
        analysis.program = loads_program(text, path, Path(path).parent)
        analysis.networks = analysis.program.check()
    except ArchError as error:
        analysis.error = error
    except RecursionError:
        analysis.error = ArchError("the spec nests too deeply", ir.Span(file=path))
    except Exception as error:  # a bug of ours must not silence the editor's diagnostics
        analysis.error = ArchError(
            f"internal error: {type(error).__name__}: {error}",
            ir.Span(file=path),
            "please report it with the spec; `resnet-dsl check` shows the same",
        )
    return analysis


def _utf16(line: str, column: int) -> int:
    """A 0-based character column as LSP counts it, in UTF-16 code units."""
    return len(line[:column].encode("utf-16-le")) // 2


def _from_utf16(line: str, units: int) -> int:
    counted = 0
    for index, char in enumerate(line):
        if counted >= units:
            return index
        counted += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def span_range(span: ir.Span, text: str) -> lsp.Range:
    """A span (1-based, characters) as an LSP range (0-based, UTF-16) in `text`."""
    lines = _lines(text)

    def position(line: int, column: int) -> lsp.Position:
        index = min(max(line - 1, 0), len(lines) - 1)
        return lsp.Position(line=index, character=_utf16(lines[index], max(column - 1, 0)))

    start = position(span.line, span.column)
    end = position(span.end_line, span.end_column) if span.end_line else start
    return lsp.Range(start=start, end=end)


def offset(text: str, position: lsp.Position) -> tuple[int, int]:
    """An LSP position as a 1-based (line, column) of the IR's spans."""
    lines = _lines(text)
    line = lines[position.line] if position.line < len(lines) else ""
    return position.line + 1, _from_utf16(line, position.character) + 1


def _contains(span: ir.Span, line: int, column: int) -> bool:
    if not span.line or not span.end_line:
        return False
    return (span.line, span.column) <= (line, column) < (span.end_line, span.end_column) or (
        (span.end_line, span.end_column) == (line, column)
    )


def _size(span: ir.Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_column - span.column)


def diagnostics(analysis: Analysis) -> list[lsp.Diagnostic]:
    """The analysis's error as `check` words it: message, notes and hint, at its place."""
    error = analysis.error
    if error is None:
        return []
    message = "\n".join([error.message, *(f"note: {note}" for note in error.notes)])
    if error.hint:
        message += f"\nhint: {error.hint}"
    related = None
    if error.span.file == analysis.path and error.span.line:
        where = span_range(error.span, analysis.text)
    else:
        where = _import_range(analysis, error.span.file) or lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
        if error.span.line:
            message = f"in {error.span}: {message}"
            location = lsp.Location(uri=_uri(error.span.file), range=span_range(error.span, _source(error.span.file)))
            related = [lsp.DiagnosticRelatedInformation(location=location, message=error.message)]
    return [
        lsp.Diagnostic(
            range=where,
            message=message,
            severity=lsp.DiagnosticSeverity.Error,
            source="resnet-dsl",
            related_information=related,
        )
    ]


def _import_range(analysis: Analysis, file: str) -> lsp.Range | None:
    """Where the document imports the file an error stands in (directly or not): its first import."""
    if analysis.program is None or not file or file == "<prelude>":
        return None
    imports = analysis.program.main.imports
    return span_range(imports[0].span, analysis.text) if imports else None


def _uri(file: str) -> str:
    path = PRELUDE if file == "<prelude>" else Path(file).resolve()
    return from_fs_path(str(path)) or path.as_uri()


def _source(file: str) -> str:
    path = PRELUDE if file == "<prelude>" else Path(file)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return ""


def _word_at(text: str, line: int, column: int) -> str | None:
    """The name the cursor is in or just after."""
    lines = _lines(text)
    if not 0 < line <= len(lines):
        return None
    index = column - 1
    return next((m.group() for m in _WORD.finditer(lines[line - 1]) if m.start() <= index <= m.end()), None)


def _string_at(text: str, line: int, column: int) -> str | None:
    lines = _lines(text)
    if not 0 < line <= len(lines):
        return None
    index = column - 1
    return next((m.group()[1:-1] for m in _STRING.finditer(lines[line - 1]) if m.start() <= index < m.end()), None)


def _items(analysis: Analysis) -> tuple[ir.Item, ...]:
    return analysis.program.main.items if analysis.program else ()


def _enclosing(analysis: Analysis, line: int) -> ir.Item | None:
    return next((item for item in _items(analysis) if item.span.line <= line <= item.span.end_line), None)


def _blocks(analysis: Analysis) -> dict[str, ir.BlockDef]:
    if analysis.program is None:
        return {}
    try:
        return dict(analysis.program.scope().blocks)
    except ArchError:
        return {}


def _networks(analysis: Analysis) -> dict[str, Any]:
    if analysis.program is None:
        return {}
    try:
        return dict(analysis.program.scope().networks)
    except ArchError:
        return {}


# --------------------------------------------------------------- hover --


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(["None", *map(str, shape)]) + ")"


def _cost(layers: list[Layer]) -> str:
    params = sum(layer.params.total for layer in layers)
    trainable = sum(layer.params.trainable for layer in layers)
    macs = sum(layer.macs for layer in layers)
    return f"params {params:,} (trainable {trainable:,}) · MACs {macs:,}"


def signature(block: Any) -> str:
    """`block name(params)`, or for a block derived from another, its whole line."""
    if hasattr(block, "params"):
        return f"block {block.name}({params_text(block.params)})"
    return item_text(block)


def block_doc(block: Any) -> str:
    """A block's signature, the comment above its definition, and where it is defined."""
    source = _source(block.span.file) if block.span.file else ""
    lines = _lines(source)
    comment: list[str] = []
    index = block.span.line - 2
    while 0 <= index < len(lines) and lines[index].lstrip().startswith("#"):
        comment.insert(0, lines[index].lstrip()[1:].strip())
        index -= 1
    where = "the prelude" if block.span.file == "<prelude>" else block.span.file
    text = f"```arch\n{signature(block)}\n```"
    if comment:
        text += "\n\n" + " ".join(comment)
    return text + f"\n\n*defined in {where}*"


def hover(analysis: Analysis, line: int, column: int) -> str | None:
    """Markdown for what stands at (line, column): a layer, a block call, a stage, a block name."""
    word = _word_at(analysis.text, line, column)
    for item in _items(analysis):
        if isinstance(item, (ir.NetworkDef, ir.DerivedNetwork)) and _contains(item.span, line, column):
            for stage in getattr(item, "stages", ()) or ():
                if not _contains(stage.span, line, column):
                    continue
                for index, call in enumerate(stage.calls):
                    if _contains(call.span, line, column) and word == call.block:
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
    return _network_hover(network) if network is not None else None


def _network_hover(network: Network) -> str:
    """A network's totals, as the summary's footer gives them."""
    total = network.total_params
    stages = ", ".join(f"{stage.label} ({len(stage.blocks)})" for stage in network.stages) or "none"
    return (
        f"**network {network.name}**: {len(network.layers)} layers\n\n"
        f"input {_shape(network.input_shape)} → output {_shape(network.output_shape)}\n\n"
        f"params {total.total:,} (trainable {total.trainable:,}) · MACs {network.macs:,}\n\n"
        f"stages (blocks): {stages}"
    )


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
    start = 0
    try:
        counts = [1 if call.repeat is None else int(evaluate(call.repeat, env)) for call in stage.calls]
    except (ArchError, TypeError, ValueError):
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
        if layer.kind != "input" and layer.span.file == analysis.path and _contains(layer.span, line, column)
    ]
    if not found:
        return []
    smallest = min(_size(layer.span) for _, layer in found)
    return [(network, layer) for network, layer in found if _size(layer.span) == smallest]


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
    imported = _string_at(analysis.text, line, column)
    if imported is not None:
        for item in _items(analysis):
            if isinstance(item, ir.Import) and item.path == imported and _contains(item.span, line, column):
                target = (Path(analysis.path).parent / item.path).resolve()
                uri = from_fs_path(str(target)) or target.as_uri()
                return lsp.Location(uri=uri, range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)))
        return None
    word = _word_at(analysis.text, line, column)
    if word is None:
        return None
    enclosing = _enclosing(analysis, line)
    params = getattr(enclosing, "params", ()) or ()
    for param in params:
        if param.name == word and param.span.line:
            return _location(param.span, analysis)
    blocks, networks = _blocks(analysis), _networks(analysis)
    target = blocks.get(word) or networks.get(word)
    return _location(target.span, analysis) if target is not None and target.span.line else None


def _location(span: ir.Span, analysis: Analysis) -> lsp.Location:
    text = analysis.text if span.file == analysis.path else _source(span.file)
    uri = _uri(span.file) if span.file != analysis.path else from_fs_path(str(Path(analysis.path).resolve()))
    return lsp.Location(uri=uri or "", range=span_range(span, text))


# ------------------------------------------------------------ completion --


def _open_call(text: str, line: int, column: int) -> str | None:
    """The name of the innermost call whose parenthesis is open at (line, column), if any."""
    lines = _lines(text)
    before = "\n".join([*lines[: line - 1], lines[line - 1][: column - 1] if line <= len(lines) else ""])
    before = _STRING.sub('""', before)
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
    """A network's or block's parameters; in a block also what the expander puts in its scope
    (`in_channels`, where the language has it) and the block's named values."""
    names = [(param.name, "parameter") for param in getattr(item, "params", ()) or ()]
    if isinstance(item, ir.BlockDef):
        implicit = getattr(expand, "IN_CHANNELS", None)
        if implicit:
            names.append((implicit, "the block's input channels"))
        names += [(value.name, "value") for value in getattr(item, "lets", ()) or ()]
    return names


def completion(analysis: Analysis, line: int, column: int) -> list[lsp.CompletionItem]:
    """Names that fit where the cursor stands: options of the open call, blocks, layers, parameters."""
    lines = _lines(analysis.text)
    current = lines[line - 1][: column - 1] if line <= len(lines) else ""
    enclosing = _enclosing(analysis, line)
    in_scope = [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Variable, detail=what)
        for name, what in _names_in_scope(enclosing)
    ]
    blocks = _blocks(analysis)
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


# --------------------------------------------------------------- symbols --


def symbols(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    """The outline: networks with their stem, stages and head; blocks; derived networks."""
    text = analysis.text

    def symbol(name: str, kind: lsp.SymbolKind, span: ir.Span, detail: str = "", children=None) -> lsp.DocumentSymbol:
        where = span_range(span, text)
        return lsp.DocumentSymbol(
            name=name, kind=kind, range=where, selection_range=where, detail=detail or None, children=children
        )

    found = []
    for item in _items(analysis):
        if isinstance(item, ir.Import):
            continue
        if isinstance(item, (ir.NetworkDef, ir.DerivedNetwork)):
            children = [
                symbol(stage.label, lsp.SymbolKind.Module, stage.span, _composition(stage))
                for stage in getattr(item, "stages", ()) or ()
            ]
            for section in ("stem", "head"):
                units = getattr(item, section, ()) or ()
                if units:
                    first, last = units[0].span, units[-1].span
                    span = ir.Span.model_construct(
                        file=first.file,
                        line=first.line,
                        column=first.column,
                        end_line=last.end_line,
                        end_column=last.end_column,
                    )
                    at = 0 if section == "stem" else len(children)
                    children.insert(at, symbol(section, lsp.SymbolKind.Namespace, span))
            detail = f"= {item.base}(...)" if hasattr(item, "base") else f"({params_text(item.params)})"
            found.append(symbol(item.name, lsp.SymbolKind.Class, item.span, detail, children or None))
        elif hasattr(item, "name"):  # a block, written out or derived from another
            detail = f"({params_text(item.params)})" if hasattr(item, "params") else signature(item)
            paths = [
                symbol(name, lsp.SymbolKind.Field, span, detail)
                for name, span, detail in _block_paths(item)
                if span.line and item.span.line <= span.line <= item.span.end_line
            ]
            found.append(symbol(item.name, lsp.SymbolKind.Function, item.span, detail, paths or None))
    return found


def _block_paths(block: Any) -> list[tuple[str, ir.Span, str]]:
    """A block's paths as (name, span, `from SOURCE if CONDITION`): named paths where the language
    has them, else its `pre`, `main` and `shortcut`."""
    paths = getattr(block, "paths", None)
    if paths is None:
        paths = [getattr(block, kind, None) for kind in ("pre", "main", "shortcut")]
    found = []
    for path in paths:
        if path is None:
            continue
        name = getattr(path, "name", None) or getattr(path, "kind", "path")
        source = f"from {path.source}" if getattr(path, "source", None) else ""
        condition = getattr(path, "condition", None)
        detail = " ".join(filter(None, [source, f"if {expr_text(condition)}" if condition is not None else ""]))
        found.append((name, path.span, detail))
    return found


def _composition(stage: ir.Stage) -> str:
    return ", ".join(call.block for call in stage.calls)


# ------------------------------------------------------------ formatting --


def formatting(analysis: Analysis) -> list[lsp.TextEdit]:
    """`fmt`'s layout as one edit of the whole document; none where it would not change or parse."""
    try:
        formatted = format_source(analysis.text, analysis.path)
    except ArchError:
        return []
    if formatted == analysis.text:
        return []
    lines = _lines(analysis.text)
    end = lsp.Position(line=len(lines) - 1, character=_utf16(lines[-1], len(lines[-1])))
    return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(0, 0), end=end), new_text=formatted)]


# ---------------------------------------------------------------- server --


class ArchServer(LanguageServer):
    """Keeps each open document's latest analysis, and the latest one that parsed."""

    def __init__(self) -> None:
        super().__init__("resnet-dsl", __version__)
        self.latest: dict[str, Analysis] = {}
        self.parsed: dict[str, Analysis] = {}

    def refresh(self, uri: str) -> Analysis:
        document = self.workspace.get_text_document(uri)
        path = to_fs_path(uri) or document.path or uri
        analysis = analyze(path, document.source)
        self.latest[uri] = analysis
        if analysis.program is not None:
            self.parsed[uri] = analysis
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, version=document.version, diagnostics=diagnostics(analysis))
        )
        return analysis

    def current(self, uri: str) -> Analysis:
        document = self.workspace.get_text_document(uri)
        analysis = self.latest.get(uri)
        if analysis is None or analysis.text != document.source:
            analysis = self.refresh(uri)
        return analysis

    def recent(self, uri: str) -> Analysis:
        """The current text's analysis if it parsed, else the last one that did (for names)."""
        analysis = self.current(uri)
        if analysis.program is None and uri in self.parsed:
            previous = self.parsed[uri]
            return Analysis(analysis.path, analysis.text, previous.program, previous.networks, analysis.error)
        return analysis


def build_server() -> ArchServer:
    server = ArchServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ArchServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ArchServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.refresh(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ArchServer, params: lsp.DidSaveTextDocumentParams) -> None:
        # Other open specs may import the saved one (imports are read from disk): check them all.
        saved = params.text_document.uri
        for uri in [saved, *(uri for uri in list(ls.latest) if uri != saved)]:
            ls.refresh(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ArchServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.latest.pop(uri, None)
        ls.parsed.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: ArchServer, params: lsp.HoverParams) -> lsp.Hover | None:
        analysis = ls.current(params.text_document.uri)
        text = hover(analysis, *offset(analysis.text, params.position))
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text)) if text else None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: ArchServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        analysis = ls.recent(params.text_document.uri)
        return definition(analysis, *offset(analysis.text, params.position))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ",", ":", ">"]))
    def on_completion(ls: ArchServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        analysis = ls.recent(params.text_document.uri)
        items = completion(analysis, *offset(analysis.text, params.position))
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls: ArchServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        return formatting(ls.current(params.text_document.uri))

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: ArchServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        return symbols(ls.recent(params.text_document.uri))

    return server


def serve() -> None:
    """Speak LSP on standard input and output until the client says exit."""
    build_server().start_io()
