"""Located errors: `file:line:col: error: message`, the source line, a caret, a hint."""

from __future__ import annotations

import difflib
import stat
from collections.abc import Iterable

from resnet_dsl.language.ir import NO_SPAN, Span


class ArchError(Exception):
    """Anything wrong with a spec. The CLI prints it; it never becomes a traceback."""

    def __init__(self, message: str, span: Span = NO_SPAN, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.source_line: str | None = None
        self.notes: list[str] = []

    def with_source(self, text: str) -> ArchError:
        """Attach the offending line, taken from the file's text, once."""
        if self.source_line is None and self.span.line > 0:
            lines = source_lines(text)
            if self.span.line <= len(lines):
                self.source_line = lines[self.span.line - 1]
        return self

    def moved_to(self, span: Span, note: str) -> ArchError:
        """Point at `span` instead (the place the user can change); the old place, with its
        line and caret where known, becomes the first note, introduced by `note`."""
        old = f"{note} ({self.span})" if self.span.line else note
        lines = excerpt(self.span, self.source_line)
        self.notes.insert(0, "\n".join([f"{old}:" if lines else old, *lines]))
        self.span, self.source_line = span, None
        return self

    def render(self) -> str:
        """The message for a terminal: control characters and escape sequences in anything
        taken from the input (the line, names, paths) are shown escaped, never interpreted."""
        where = f"{self.span}: " if self.span.line else (f"{self.span.file}: " if self.span.file else "")
        out = [printable(f"{where}error: {self.message}"), *excerpt(self.span, self.source_line)]
        out.extend("\n".join(printable(line) for line in f"note: {note}".split("\n")) for note in self.notes)
        if self.hint:
            out.append(printable(f"hint: {self.hint}"))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def source_lines(text: str) -> list[str]:
    """The lines as the parser numbers them: split at `\n` only (`str.splitlines` also splits
    at U+2028, `\f`, `\v`, `\x1c`..., so an error after one showed another line), each without
    its `\r`; no empty last line after a final `\n`."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def excerpt(span: Span, source_line: str | None) -> list[str]:
    """The source line and a caret under the span: ` 5 | text` / `   |   ^^^`."""
    if source_line is None or not span.line:
        return []
    number = str(span.line)
    start = max(span.column, 1)
    same_line = span.end_line == span.line and span.end_column > start
    end = span.end_column if same_line else start + 1
    first = max(0, min(start - 1 - EXCERPT_WIDTH // 2, len(source_line) - EXCERPT_WIDTH))
    shown = source_line[first : first + EXCERPT_WIDTH]  # a long line: the part around the span
    lead, tail = ("..." if first else ""), ("..." if first + EXCERPT_WIDTH < len(source_line) else "")
    before = lead + printable(shown[: start - 1 - first])  # escaped, so the caret counts what is shown
    width = max(len(printable(shown[start - 1 - first : end - 1 - first])), 1)
    return [f" {number} | {lead}{printable(shown)}{tail}", f" {' ' * len(number)} | {' ' * len(before)}{'^' * width}"]


EXCERPT_WIDTH = 200
"""Characters of a source line an error shows: a 10,000-character line was echoed whole."""


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest known word, if any is close."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def printable(text: str) -> str:
    """`text` with control characters (ESC, CR, NUL, DEL, C1, bidi overrides...) escaped as
    `\\x1b`, `\\u202e`: a spec cannot move the cursor, recolour or rewrite the terminal
    through an error message. Tabs become one space, so the caret stays aligned."""
    if text.isprintable():
        return text
    return "".join(_escape(char) for char in text)


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    if char == "\t":
        return " "
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_FILE_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for "it is a FIFO, not a regular file"."""
    return _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
