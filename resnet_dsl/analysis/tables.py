"""Aligned text tables: every column as wide as its widest cell, text to the left, numbers to the right.

The one layout of `summary`'s tables, `diff`'s cost tables and `zoo`'s listing, so they line up
the same way and a change to it is made once.
"""

from __future__ import annotations

from collections.abc import Container, Sequence


def aligned(rows: Sequence[Sequence[str]], left: Container[int] = (0,)) -> list[str]:
    """One line per row: the columns in `left` padded on the right, the others on the left,
    two spaces apart, no trailing space."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if index in left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def framed(
    title: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: Container[int],
    footer: Sequence[str],
) -> str:
    """A titled table between rules as wide as its header: title, rule, header, rule, the rows,
    rule, then the footer's lines."""
    header_line, *lines = aligned([header, *rows], left)
    rule = "-" * len(header_line)
    return "\n".join([title, rule, header_line, rule, *lines, rule, *footer])
