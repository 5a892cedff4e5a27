"""Positions at the boundary, converted here once: 1-based characters (IR) <-> 0-based UTF-16 (LSP).

Also the words and strings under a cursor, read from the text itself.
"""

from __future__ import annotations

import re

from lsprotocol import types as lsp

from resnet_dsl.language import ir

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


class BadPosition(ValueError):
    """A position no document has (a negative line or character): the request is invalid."""


def utf16(line: str, column: int) -> int:
    """A 0-based character column as LSP counts it, in UTF-16 code units."""
    return len(line[:column].encode("utf-16-le", "surrogatepass")) // 2


def _from_utf16(line: str, units: int) -> int:
    counted = 0
    for index, char in enumerate(line):
        if counted >= units:
            return index
        counted += 2 if ord(char) > 0xFFFF else 1
    return len(line)


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def span_range(span: ir.Span, text: str) -> lsp.Range:
    """A span (1-based, characters) as an LSP range (0-based, UTF-16) in `text`."""
    lines = lines_of(text)

    def position(line: int, column: int) -> lsp.Position:
        index = min(max(line - 1, 0), len(lines) - 1)
        return lsp.Position(line=index, character=utf16(lines[index], max(column - 1, 0)))

    start = position(span.line, span.column)
    end = position(span.end_line, span.end_column) if span.end_line else start
    return lsp.Range(start=start, end=end)


def offset(text: str, position: lsp.Position) -> tuple[int, int]:
    """An LSP position as a 1-based (line, column) of the IR's spans."""
    if position.line < 0 or position.character < 0:
        raise BadPosition(f"no document has line {position.line}, character {position.character}")
    lines = lines_of(text)
    line = lines[position.line] if position.line < len(lines) else ""
    return position.line + 1, _from_utf16(line, position.character) + 1


def contains(span: ir.Span, line: int, column: int) -> bool:
    if not span.line or not span.end_line:
        return False
    return (span.line, span.column) <= (line, column) < (span.end_line, span.end_column) or (
        (span.end_line, span.end_column) == (line, column)
    )


def size(span: ir.Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_column - span.column)


def word_at(text: str, line: int, column: int) -> str | None:
    """The name the cursor is in or just after."""
    lines = lines_of(text)
    if not 0 < line <= len(lines):
        return None
    index = column - 1
    return next((m.group() for m in _WORD.finditer(lines[line - 1]) if m.start() <= index <= m.end()), None)


def string_at(text: str, line: int, column: int) -> str | None:
    lines = lines_of(text)
    if not 0 < line <= len(lines):
        return None
    index = column - 1
    return next((m.group()[1:-1] for m in STRING.finditer(lines[line - 1]) if m.start() <= index < m.end()), None)
