"""The document as a whole: diagnostics, outline (document symbols) and formatting.

Diagnostics: every error, as `check` words each. Formatting: `fmt`, definition by definition
where the whole does not parse. Also the files that spans name, as URIs and texts (read within
the loader's limits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network.loader import read_spec
from resnet_dsl.review.formatter import expr_text, format_source, item_text, merge_text, params_text

from .analysis import Analysis, chunks
from .positions import lines_of, span_range, utf16


def uri_of(file: str) -> str:
    path = PRELUDE if file == "<prelude>" else Path(file).resolve()
    return from_fs_path(str(path)) or path.as_uri()


def source_of(file: str) -> str:
    """A file's text for excerpts and ranges; "" where it cannot be read as a spec (a FIFO,
    a huge file: never waited for, never read whole)."""
    try:
        return PRELUDE.read_text(encoding="utf-8") if file == "<prelude>" else read_spec(file)
    except (ArchError, OSError, ValueError):
        return ""


def signature(block: Any) -> str:
    """`block name(params)`, or for a block derived from another, its whole line."""
    if hasattr(block, "params"):
        return f"block {block.name}({params_text(block.params)})"
    return item_text(block)


# ----------------------------------------------------------- diagnostics --


def diagnostics(analysis: Analysis) -> list[lsp.Diagnostic]:
    """Every error of the analysis as `check` words it: message, notes and hint, at its place
    (an error in an imported file: at the import that brings it in)."""
    found = [_diagnostic(analysis, error) for error in analysis.errors]
    return sorted(found, key=lambda found: (found.range.start.line, found.range.start.character))


def _diagnostic(analysis: Analysis, error: ArchError) -> lsp.Diagnostic:
    message = "\n".join([error.message, *(f"note: {note}" for note in error.notes)])
    if error.hint:
        message += f"\nhint: {error.hint}"
    related = None
    if error.span.file == analysis.path and error.span.line:
        where = span_range(error.span, analysis.text)
    else:
        lead = analysis.leads.get(error.span.file)
        where = span_range(lead.span, analysis.text) if lead else lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
        if error.span.line:
            message = f"in {error.span}: {message}"
            there = span_range(error.span, source_of(error.span.file))
            location = lsp.Location(uri=uri_of(error.span.file), range=there)
            related = [lsp.DiagnosticRelatedInformation(location=location, message=error.message)]
    return lsp.Diagnostic(
        range=where,
        message=message,
        severity=lsp.DiagnosticSeverity.Error,
        source="resnet-dsl",
        related_information=related,
    )


# --------------------------------------------------------------- symbols --


def items(analysis: Analysis) -> tuple[ir.Item, ...]:
    return analysis.program.main.items if analysis.program else ()


def symbols(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    """The outline: networks with their stem, stages and head; blocks with their paths."""
    text = analysis.text

    def symbol(name: str, kind: lsp.SymbolKind, span: ir.Span, detail: str = "", children=None) -> lsp.DocumentSymbol:
        where = span_range(span, text)
        return lsp.DocumentSymbol(
            name=name, kind=kind, range=where, selection_range=where, detail=detail or None, children=children
        )

    found = []
    for item in items(analysis):
        if isinstance(item, ir.Import):
            continue
        if isinstance(item, (ir.NetworkDef, ir.DerivedNetwork)):
            children = [
                symbol(stage.label, lsp.SymbolKind.Module, stage.span, composition(stage))
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
    """A block's paths as (name, span, `from SOURCE if CONDITION`)."""
    found = []
    for path in getattr(block, "paths", ()) or ():
        start = merge_text(path.source_merge) if path.source_merge is not None else path.source
        source = f"from {start}" if start else ""
        condition = f"if {expr_text(path.condition)}" if path.condition is not None else ""
        found.append((path.name, path.span, " ".join(filter(None, [source, condition]))))
    return found


def composition(stage: ir.Stage) -> str:
    return ", ".join(call.block for call in stage.calls)


# ------------------------------------------------------------ formatting --


def formatting(analysis: Analysis) -> list[lsp.TextEdit]:
    """`fmt`'s layout: one edit of the whole document; where the whole does not parse, one
    edit per definition that does (the broken ones left as typed). None where nothing changes."""
    text = analysis.text
    try:
        return _edits(text, [(1, text.count("\n") + 1, format_source(text, analysis.path))])
    except ArchError:
        pass
    pieces = chunks(text)
    replaced = []
    for index, (line, chunk) in enumerate(pieces):
        last = index == len(pieces) - 1
        end = line + chunk.count("\n")
        body = chunk.rstrip("\n ")
        if not body.strip():
            continue
        try:
            formatted = format_source(body + "\n", analysis.path).rstrip("\n")
        except ArchError:
            continue
        replaced.append((line, end, formatted + ("\n" if last else "\n\n")))
    return _edits(text, replaced)


def _edits(text: str, replaced: list[tuple[int, int, str]]) -> list[lsp.TextEdit]:
    """Edits replacing lines first..last (1-based, the last one's end included) by new text,
    only where that changes them."""
    lines = lines_of(text)
    edits = []
    for first, last, new_text in replaced:
        if last >= len(lines):
            end = lsp.Position(line=len(lines) - 1, character=utf16(lines[-1], len(lines[-1])))
            old = "\n".join(lines[first - 1 :])
        else:
            end = lsp.Position(line=last, character=0)
            old = "\n".join(lines[first - 1 : last]) + "\n"
        if old != new_text:
            edits.append(lsp.TextEdit(range=lsp.Range(start=lsp.Position(first - 1, 0), end=end), new_text=new_text))
    return edits
