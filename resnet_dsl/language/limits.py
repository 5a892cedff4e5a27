"""Resource limits: what a spec may ask for, checked before the work it would cost.

A spec is input, and input may be hostile (a pasted file, a pull request, a fuzzer): each
limit below turns what would be a hang, a gigabyte of memory or a Python traceback into a
one-line located error. They sit far above anything a real network needs (the largest
shipped spec is 2 KB and 519 layers), and the README's "Reliability" section lists them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.ir import NO_SPAN, Span

MAX_SPEC_BYTES = 250_000
"""A spec file (or text) at most 250 KB, and a spec with every file it imports together as
many characters: parsing takes about 16 s and 400 MB per MB of text, so this keeps `check` of
any spec within seconds (the largest shipped spec is 2 KB; 10,000 layers written out one by
one take about 130 KB)."""

MAX_LINE_LENGTH = 10_000
"""Characters per line: errors echo the line, and no real spec comes near it."""

MAX_NESTING = 100
"""Levels of the parse tree, and of nested list values: brackets, operators (`a + a + ...`
nests once per `+`) and the file's own structure (about 10). Every step after parsing
(expansion, `fmt`, generated code) walks expressions recursively; this keeps all of them
far inside Python's recursion limit, so they accept and refuse exactly the same specs."""

MAX_INT = 2**53 - 1
"""The largest integer, written or computed: 9,007,199,254,740,991, the last one a float
(and so JSON) holds exactly. Bounding every value keeps products such as a layer's
parameter count far from Python's 4,300-digit limit on printing integers."""

MAX_VALUE_ITEMS = 10_000
"""Items in one value, nested lists counted through: parameters may build lists from
lists (`b = [a, a]`, `c = [b, b]`, ...), which would otherwise double with every line."""

MAX_ALLOCATION = 2**31 - 1
"""Elements a back end allocates at once: one layer's output for one sample, and the
parameters of the whole network together (8 GiB of float32). TensorFlow indexes its kernels
with 32-bit integers and refuses a larger weight or dimension; torch would try to allocate
a `conv(2**50, 1)` and be killed for memory. Checked as each layer is made, so a network
that passes `check` can be held by every back end, and no back end checks on its own."""

MAX_LAYERS = 10_000
"""Layers of one network, the input layer included (as Keras counts them)."""

MAX_REPEAT = 1_000
"""`block(...) * n`: n at most 1,000."""

MAX_IMPORT_DEPTH = 64
"""Files importing files importing files..."""

MAX_DERIVATION_DEPTH = 100
"""`network B = A(...)`, `network C = B(...)`, ... (and `block b1 = b0()`, `block b2 = b1()`,
...): how long a chain may be. Each network and block is resolved through its chain, so a
file's time is linear in its length times this."""

MAX_CHECKED_LAYERS = 50_000
"""`check`, `describe` and `diff` expand every network of a file: together at most this many
layers (five networks at the layer limit; expansion takes about 70 us a layer), so a file of
a thousand derived copies of a large network fails in seconds instead of running for an hour."""

MAX_DRAWN_NODES = 1_000
"""Nodes of a picture that `graph` hands to Graphviz (`.svg`, `.png`): its layout time grows
faster than the node count (1,000 nodes: 3 s; 2,000: 24 s; 3,500: 71 s), so a 300-byte spec
of 10,000 layers drawn with `--expand` ran for minutes. `.dot` and `.mmd` have no such limit."""

HINT = "see the Reliability section of the README for the limits and why they exist"


def check_text(text: str, path: str) -> None:
    """The whole text and each line within their limits; the error points at where it goes over."""
    if len(text) > MAX_SPEC_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise ArchError(f"the spec is larger than {MAX_SPEC_BYTES:,} bytes", Span(file=path), HINT)
    start = 0
    line = 1
    while start <= len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        if end - start > MAX_LINE_LENGTH:
            column = MAX_LINE_LENGTH + 1
            span = Span(file=path, line=line, column=column, end_line=line, end_column=column + 1)
            raise ArchError(f"line {line} is longer than {MAX_LINE_LENGTH:,} characters", span, HINT)
        start = end + 1
        line += 1


def check_formatted(lines: Sequence[str], path: str, offset_of: Callable[[int], int], text: str) -> None:
    """`fmt`'s output lines within the line limit: it writes a value or a chain on one line, so a
    long list spread over many lines would come out as one line that `check` refuses. The error
    points at where that line's text starts in the input (`offset_of`: output line -> offset)."""
    for number, line in enumerate(lines):
        if len(line) > MAX_LINE_LENGTH:
            offset = offset_of(number)
            row = text.count("\n", 0, offset) + 1
            column = offset - text.rfind("\n", 0, offset)
            raise ArchError(
                f"formatted, this would be one line of {len(line):,} characters, over the limit of"
                f" {MAX_LINE_LENGTH:,}; nothing is written",
                Span(file=path, line=row, column=column, end_line=row, end_column=column + 1),
                "split it: give parts of a long value names of their own, as parameters",
            )


def too_deep(span: Span) -> ArchError:
    return ArchError(
        f"nested more than {MAX_NESTING} levels deep",
        span,
        "split the expression, or give its parts names as parameters",
    )


def check_int(value: int, span: Span = NO_SPAN) -> int:
    if -MAX_INT <= value <= MAX_INT:
        return value
    return _too_large(span)


def check_literal_int(digits: str, span: Span) -> int:
    """An integer literal, refused before Python converts it (it refuses past 4,300 digits)."""
    if len(digits.lstrip("0")) > len(str(MAX_INT)):
        _too_large(span)
    return check_int(int(digits), span)


def check_float(value: float, span: Span = NO_SPAN) -> float:
    if math.isfinite(value):
        return value
    raise ArchError(f"number out of range: {value}", span, f"numbers stay within ±{MAX_INT:,}, and finite")


def check_number(value: Any, span: Span = NO_SPAN) -> Any:
    """An int or float result of arithmetic, within the limits (others pass through)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_int(value, span)
    if isinstance(value, float):
        return check_float(value, span)
    return value


_MEASURED: dict[int, tuple[tuple[Any, ...], int, int]] = {}
"""Lists already checked, by identity, with their items and depth (the list itself is kept, so
its id cannot be reused): a list built from lists is checked in the time of its own length,
however often a value is reused (`v = [p, p]` in a block called a thousand times)."""

_MEASURED_KEPT = 4096


def check_value(value: Any, span: Span = NO_SPAN) -> Any:
    """A value's items (nested lists counted through), depth, numbers and strings, without recursion."""
    if isinstance(value, (tuple, list)):
        _measure(value, span)
    else:
        _check_scalar(value, span)
    return value


def _measure(value: tuple[Any, ...] | list[Any], span: Span) -> tuple[int, int]:
    """(items, depth) of a list, post-order without recursion, lists seen before not walked again.

    The items pushed never exceed the value's true count (shared lists counted once per
    use), so a value over the limit is refused after at most that much work."""
    pushed = 0
    stack: list[tuple[Any, int, bool]] = [(value, 0, False)]
    local: dict[int, tuple[int, int]] = {}
    while stack:
        item, level, walked = stack.pop()
        if id(item) in local:
            if not walked and level + local[id(item)][1] > MAX_NESTING:
                raise too_deep(span)
            continue
        if not walked:
            known = _MEASURED.get(id(item))
            if known is not None and known[0] is item:
                local[id(item)] = known[1:]
                if level + known[2] > MAX_NESTING:
                    raise too_deep(span)
                continue
            if level >= MAX_NESTING:
                raise too_deep(span)
            pushed += len(item)
            _check_count(pushed, span)
            stack.append((item, level, True))
            for child in item:
                if isinstance(child, (tuple, list)):
                    stack.append((child, level + 1, False))
                else:
                    _check_scalar(child, span)
            continue
        count, depth = len(item), 1
        for child in item:
            if isinstance(child, (tuple, list)):
                child_count, child_depth = local[id(child)]
                count += child_count
                depth = max(depth, child_depth + 1)
        _check_count(count, span)
        local[id(item)] = (count, depth)
        if isinstance(item, tuple):
            if len(_MEASURED) >= _MEASURED_KEPT:
                _MEASURED.clear()
            _MEASURED[id(item)] = (item, count, depth)
    return local[id(value)]


def _check_count(count: int, span: Span) -> None:
    if count > MAX_VALUE_ITEMS:
        raise ArchError(
            f"a value with more than {MAX_VALUE_ITEMS:,} items",
            span,
            "lists built from lists double with every level; " + HINT,
        )


def _check_scalar(item: Any, span: Span) -> None:
    if isinstance(item, str) and len(item) > MAX_LINE_LENGTH:
        raise ArchError(f"a string longer than {MAX_LINE_LENGTH:,} characters", span, HINT)
    check_number(item, span)


def check_allocation(shape: tuple[int, ...], params: int, name: str, span: Span) -> None:
    """A layer's output (per sample), and the network's parameters up to it, within the limit."""
    elements = 1
    for size in shape:
        elements *= size
        if elements > MAX_ALLOCATION:
            raise ArchError(
                f"layer '{name}': its output {'x'.join(map(str, shape))} has more than "
                f"{MAX_ALLOCATION:,} elements per sample",
                span,
                "make the input smaller; " + HINT,
            )
    if params > MAX_ALLOCATION:
        raise ArchError(
            f"layer '{name}': the network's parameters reach {params:,} here, over the limit of "
            f"{MAX_ALLOCATION:,} (8 GiB of float32)",
            span,
            "use fewer filters or units; " + HINT,
        )


class TooManyLayers(ArchError):
    """The layer limit, which the expansion moves to the block call that went over."""


def check_layer_count(count: int, span: Span) -> None:
    """One count everywhere: every layer made, the input layer included (layers a condition
    leaves out do not count, so the limit is the network's real size)."""
    if count > MAX_LAYERS:
        raise TooManyLayers(f"the network would have more than {MAX_LAYERS} layers", span, "check the repeat counts")


def check_total_layers(total: int, span: Span) -> None:
    """The networks of one file expanded so far (`span`: the one that goes over) within the limit."""
    if total > MAX_CHECKED_LAYERS:
        raise ArchError(
            f"the networks up to this one have more than {MAX_CHECKED_LAYERS:,} layers together",
            span,
            "the command stops here; split the file, or " + HINT,
        )


def check_source_total(characters: int, span: Span) -> None:
    """A spec and the files it imports, read so far (`span`: the import that goes over), within the limit."""
    if characters > MAX_SPEC_BYTES:
        raise ArchError(f"the spec and its imports are larger than {MAX_SPEC_BYTES:,} characters together", span, HINT)


def check_drawn_nodes(count: int, span: Span) -> None:
    """A picture Graphviz lays out within the limit, counted before it runs."""
    if count > MAX_DRAWN_NODES:
        raise ArchError(
            f"the picture would have {count:,} nodes; Graphviz is given at most {MAX_DRAWN_NODES:,}",
            span,
            "write -o NAME.dot or NAME.mmd (no limit), or draw it without --expand",
        )


def check_derivation_depth(depth: int, span: Span, kind: str = "network") -> None:
    """A network's or a block's chain of derivations within the limit."""
    if depth > MAX_DERIVATION_DEPTH:
        raise ArchError(f"the {kind} is derived more than {MAX_DERIVATION_DEPTH} levels deep", span, HINT)


def _too_large(span: Span) -> int:
    raise ArchError(
        f"integer too large: the limit is {MAX_INT:,} (2**53 - 1)",
        span,
        "sizes, counts and seeds are far smaller; " + HINT,
    )
