"""Spec text -> the same spec in the one canonical layout, every comment kept where it was.

The layout is printed from the spec IR, not patched into the text: whatever spacing or line
breaks the input had, the same IR prints the same way, and a test can check that formatting
never changes meaning (the IR of the output equals the IR of the input). The grammar drops
comments, so they are put back by position: a comment on a line of its own stays before the
line it preceded, a comment at the end of a line stays at the end of the line it ended. A
comment that ended a line the formatter joins with the next one (a parameter list written
over several lines) moves to its own line just before the joined line.

Canonical layout: two spaces per level, one unit / stage / default per line, `a -> b` chains,
`, ` separators, `name=value` for the options of a call, `name = value` where a network or
block parameter is declared (or set, in a derived network), one blank line between top-level
items; single blank lines between lines inside a body are kept, never more than one.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from resnet_dsl.language import ir, limits
from resnet_dsl.language.parser import comments, parse
from resnet_dsl.language.transform import as_written, to_ir

INDENT = "  "


def format_source(text: str, path: str = "<string>") -> str:
    """The canonical layout of a spec; raises `ArchError` (located) if it does not parse."""
    # `loader.parse_module`, without importing the loader: `fmt` never expands anything, and
    # the expander's modules cost it a tenth of its start-up.
    formatted = _format(to_ir(parse(text, path), path), source := _Source(text))
    limits.check_formatted(formatted.split("\n"), path, lambda number: source.whence.get(number, 0), text)
    return formatted


def format_module(module: ir.Module) -> str:
    """A spec IR built in code (or stripped of its comments) in the canonical layout.

    Without the text it came from, sections come in their canonical order (a block's values,
    paths, out; defaults, stem, stages, head) and no blank lines are kept.
    """
    return _format(module, _NoSource())


def item_text(item: ir.Item) -> str:
    """One top-level item (a block definition, say) as it would be formatted, no comments."""
    return format_module(ir.Module.model_construct(path="<string>", items=(item,))).rstrip("\n")


def _format(module: ir.Module, source: _Source) -> str:
    layout = _Layout(source)
    layout.module(module)
    return _render(layout.lines, source)


# ---------------------------------------------------------- expressions --
# Precedence levels of the grammar's expression rules (`?sum`, `?product`, ...): an operand
# is parenthesized only when it binds more loosely than its place requires.
_TEST, _OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POSTFIX, _ATOM = range(10)
_BINARY = {
    "+": _SUM, "-": _SUM, "*": _PRODUCT, "//": _PRODUCT, "/": _PRODUCT, "and": _AND, "or": _OR,
    **dict.fromkeys(ir.COMPARISONS, _COMPARE),
}  # fmt: skip
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def expr_text(expr: ir.Expr, context: int = _TEST) -> str:
    """An expression as the language writes it, in parentheses where `context` needs them."""
    text, precedence = _expr(expr)
    return f"({text})" if precedence < context else text


def _expr(expr: ir.Expr) -> tuple[str, int]:
    match expr:
        case ir.BinOp(op=op, left=left, right=right):
            level = _BINARY[op]
            # Operators associate to the left: a right operand of equal level needs parentheses;
            # comparisons do not chain, so either operand of one that is a comparison does.
            left_level = level + 1 if level == _COMPARE else level
            return f"{expr_text(left, left_level)} {op} {expr_text(right, level + 1)}", level
        case ir.Not(operand=operand):
            return "not " + expr_text(operand, _NOT), _NOT
        case ir.IfElse(condition=condition, then=then, otherwise=otherwise):
            return f"{expr_text(then, _OR)} if {expr_text(condition, _OR)} else {expr_text(otherwise, _TEST)}", _TEST
        case ir.Neg(operand=operand):
            return "-" + expr_text(operand, _UNARY), _UNARY
        case ir.Index(target=target, index=index):
            return f"{expr_text(target, _POSTFIX)}[{expr_text(index)}]", _POSTFIX
        case ir.Int(value=value):
            # Literals are never negative in the grammar: -3 is `-` applied to 3.
            return str(value), (_ATOM if value >= 0 else _UNARY)
        case ir.Float(value=value, text=text):
            return text or _float_literal(value), (_ATOM if value >= 0 else _UNARY)
        case ir.Bool(value=value):
            return ("true" if value else "false"), _ATOM
        case ir.Str(value=value):
            return string_literal(value), _ATOM
        case ir.Shape(dims=dims):
            return "x".join(map(str, dims)), _ATOM
        case ir.Name(id=name):
            return name, _ATOM
        case ir.ListExpr(items=items):
            return "[" + ", ".join(expr_text(item) for item in items) + "]", _ATOM
        case ir.Call(func=func, args=args):
            return f"{func}({args_text(args)})", _ATOM
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover - the union is closed


def _float_literal(value: float) -> str:
    """A float built in code (no text as written): `repr`, made a FLOAT the grammar reads."""
    text = repr(value)
    return text if any(c in text for c in ".eE") else text + ".0"


def string_literal(value: str) -> str:
    """A double-quoted literal whose value (read as the transformer does) is `value`.

    The language knows four escapes, \\" \\\\ \\n and \\t; any other character stands
    for itself (the grammar takes anything but a quote, a backslash or a line break raw)."""
    return '"' + "".join(_ESCAPES.get(char, char) for char in value) + '"'


def args_text(args: Iterable[ir.Arg], assign: str = "=") -> str:
    """`64, stride=2`; `assign=" = "` where the arguments set a network's parameters."""
    return ", ".join(expr_text(a.value) if a.name is None else f"{a.name}{assign}{expr_text(a.value)}" for a in args)


def params_text(params: Iterable[ir.Param]) -> str:
    return ", ".join(p.name if p.default is None else f"{p.name} = {expr_text(p.default)}" for p in params)


def layer_text(layer: ir.LayerCall) -> str:
    """`conv(64, 3, stride=2) as "name"`; a layer without arguments has no parentheses."""
    args = args_text(layer.args)
    text = layer.op + (f"({args})" if args else "")
    text += f" as {string_literal(layer.name)}" if layer.name is not None else ""
    # A condition that is itself `a if b else c` would read as part of this one: parenthesize it.
    return text + (f" if {expr_text(layer.condition, _OR)}" if layer.condition is not None else "")


def merge_text(merge: ir.Merge | ir.PathRef) -> str:
    """`add(multiply(main, se), shortcut)`; `add` alone where it merges main and shortcut."""
    if isinstance(merge, ir.PathRef):
        return merge.path
    text = merge.op + (f"({', '.join(merge_text(i) for i in merge.inputs)})" if merge.inputs else "")
    text += f" as {string_literal(merge.name)}" if merge.name is not None else ""
    return text + (f" if {expr_text(merge.condition)}" if merge.condition is not None else "")


def out_text(block: ir.BlockDef) -> str:
    return " -> ".join([merge_text(block.merge), *(layer_text(layer) for layer in as_written(block.after))])


def path_header(path: ir.Path) -> str:
    """`se from main if stride != 1`."""
    if path.source_else is not None:
        assert path.source_if is not None
        text = f"{path.name} from ({path.source} if {expr_text(path.source_if, _OR)} else {path.source_else})"
    elif path.source_merge is not None:
        text = f"{path.name} from {merge_text(path.source_merge)}"
    else:
        text = path.name + (f" from {path.source}" if path.source else "")
    return text + (f" if {expr_text(path.condition)}" if path.condition is not None else "")


def derived_text(item: ir.DerivedNetwork | ir.DerivedBlock) -> str:
    keyword = "block" if isinstance(item, ir.DerivedBlock) else "network"
    assign = "=" if isinstance(item, ir.DerivedBlock) else " = "
    return f"{keyword} {item.name} = {item.base}({args_text(item.args, assign)})"


def chain_text(layers: Iterable[ir.LayerCall]) -> str:
    return " -> ".join(layer_text(layer) for layer in as_written(layers))


def unit_text(unit: ir.Unit) -> str:
    return (f"{unit.label}: " if unit.label else "") + chain_text(unit.layers)


def block_call_text(call: ir.BlockCall) -> str:
    text = f"{call.block}({args_text(call.args)})"
    text += f" as {string_literal(call.name)}" if call.name is not None else ""
    return text if call.repeat is None else f"{text} * {expr_text(call.repeat, _POSTFIX)}"


def stage_text(stage: ir.Stage) -> str:
    if stage.removed:
        return f"remove stage {stage.label}"
    place = f" {stage.place} {stage.anchor}" if stage.place is not None else ""
    alias = f" as {string_literal(stage.alias)}" if stage.alias is not None else ""
    return f"stage {stage.label}{place}{alias}: " + ", ".join(block_call_text(call) for call in stage.calls)


# ---------------------------------------------------------------- source --
# Punctuation, words and literals, enough to find the `{`, `}` and keywords the IR keeps no
# position for. Strings and comments first, so a `{` inside either is never taken for one.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|->|//|[A-Za-z0-9_.]+|\S')
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")


class _Source:
    """The text being formatted: offsets of lines and of tokens (comments left out)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.tokens = [(m.start(), m.end()) for m in _TOKEN.finditer(text) if not m.group().startswith("#")]
        self.token_starts = [start for start, _ in self.tokens]
        self.whence: dict[int, int] = {}

    def offset(self, line: int, column: int) -> int:
        return self.line_starts[line - 1] + column - 1

    def start(self, node: ir.Node) -> int:
        return self.offset(node.span.line, node.span.column)

    def end(self, node: ir.Node) -> int:
        return self.offset(node.span.end_line, node.span.end_column)

    def token_before(self, offset: int, count: int = 1) -> tuple[int, int]:
        return self.tokens[bisect_left(self.token_starts, offset) - count]

    def token_after(self, offset: int) -> tuple[int, int]:
        return self.tokens[bisect_left(self.token_starts, offset)]

    def opening_brace(self, offset: int) -> tuple[int, int]:
        """The first `{` at or after `offset`: where a header line ends."""
        index = bisect_left(self.token_starts, offset)
        while self.text[self.tokens[index][0]] != "{":
            index += 1
        return self.tokens[index]

    def has_blank_line(self, start: int, end: int) -> bool:
        return start < end and _BLANK_LINE.search(self.text, start, end) is not None

    def empty_section(self, keyword: str, start: int, end: int) -> tuple[int, int]:
        """Where `keyword { }` (comments inside allowed) is written between `start` and `end`: the IR keeps no span."""
        found = re.compile(rf"\b{keyword}\s*\{{(?:\s|#[^\n]*)*\}}").search(self.text, start, end)
        return (found.start(), found.end()) if found else (end - 1, end - 1)


class _NoSource(_Source):
    """Stands in for the text of an IR built in code: every position is 0, so sorting by
    position keeps the canonical order, and there are no comments or blank lines to keep."""

    def __init__(self) -> None:
        super().__init__("")

    def start(self, node: ir.Node) -> int:
        return 0

    def end(self, node: ir.Node) -> int:
        return 1

    def token_before(self, offset: int, count: int = 1) -> tuple[int, int]:
        return (0, 0)

    def token_after(self, offset: int) -> tuple[int, int]:
        return (0, 1)

    def opening_brace(self, offset: int) -> tuple[int, int]:
        return (0, 1)


# ---------------------------------------------------------------- layout --
Role = Literal["open", "close", "plain"]


@dataclass
class _Comment:
    text: str
    start: int
    end: int


@dataclass
class _Line:
    """One output line and the source range (offsets) of the tokens it prints."""

    depth: int
    text: str
    start: int
    end: int
    role: Role = "plain"
    ends_item: bool = False
    leading: list[_Comment] = field(default_factory=list)
    trailing: _Comment | None = None


class _Layout:
    """Spec IR -> output lines in source order, each knowing where its tokens were."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self.lines: list[_Line] = []

    def emit(self, depth: int, text: str, start: int, end: int, role: Role = "plain") -> None:
        self.lines.append(_Line(depth, text, start, end, role))

    def node_line(self, depth: int, text: str, node: ir.Node) -> None:
        self.emit(depth, text, self.source.start(node), self.source.end(node))

    def open(self, depth: int, text: str, start: int) -> None:
        self.emit(depth, text + " {", start, self.source.opening_brace(start)[1], "open")

    def close(self, depth: int, end: int) -> None:
        self.emit(depth, "}", end - 1, end, "close")

    def module(self, module: ir.Module) -> None:
        for item in module.items:
            match item:
                case ir.Import():
                    self.node_line(0, f"import {string_literal(item.path)}", item)
                case ir.DerivedNetwork() if _has_body(item):
                    self.network(item)
                case ir.DerivedNetwork() | ir.DerivedBlock():
                    self.node_line(0, derived_text(item), item)
                case ir.BlockDef():
                    self.block(item)
                case ir.NetworkDef():
                    self.network(item)
            self.lines[-1].ends_item = True

    def block(self, block: ir.BlockDef) -> None:
        self.open(0, f"block {block.name}({params_text(block.params)})", self.source.start(block))
        # Values, then paths (in their order), then out; a stable sort by position then
        # restores the written order.
        parts: list[tuple[int, ir.Path | ir.Let | None]] = [(self.source.start(let), let) for let in block.lets]
        parts += [(self.source.start(path), path) for path in block.paths]
        parts.append((self.source.token_before(self.source.start(block.merge), 2)[0], None))
        for start, part in sorted(parts, key=lambda pair: pair[0]):
            if isinstance(part, ir.Path):
                self.open(1, path_header(part), start)
                for unit in part.units:
                    self.node_line(2, unit_text(unit), unit)
                self.close(1, self.source.end(part))
            elif isinstance(part, ir.Let):
                self.node_line(1, f"{part.name} = {expr_text(part.value)}", part)
            else:
                last = block.after[-1] if block.after else block.merge
                self.emit(1, f"out = {out_text(block)}", start, self.source.end(last))
        self.close(0, self.source.end(block))

    def network(self, network: ir.NetworkDef | ir.DerivedNetwork) -> None:
        if isinstance(network, ir.DerivedNetwork):
            self.open(0, derived_text(network), self.source.start(network))
        else:
            self.open(0, f"network {network.name}({params_text(network.params)})", self.source.start(network))
        # In canonical order; a stable sort by position then restores the written order.
        parts: list[tuple[int, ir.Stage | _Section]] = []
        for section in (
            _Section("defaults", network.defaults, layer_text),
            _Section("stem", network.stem or (), unit_text),
        ):
            parts += self.section_part(section)
        parts += [(self.source.start(stage), stage) for stage in network.stages]
        parts += self.section_part(_Section("head", network.head or (), unit_text))
        empty: dict[int, tuple[int, int]] = {}  # a derivation's `stem { }`: where it was written
        if isinstance(network, ir.DerivedNetwork):
            for keyword in ("stem", "head"):
                if getattr(network, keyword) == ():
                    where = self.source.empty_section(keyword, self.source.start(network), self.source.end(network))
                    parts.append((where[0], _Section(keyword, (), unit_text)))
                    empty[id(parts[-1][1])] = where
        for _, part in sorted(parts, key=lambda pair: pair[0]):
            if isinstance(part, ir.Stage):
                self.node_line(1, stage_text(part), part)
                continue
            if not part.nodes:  # open and close, so the comments inside keep their place
                self.open(1, part.keyword, empty[id(part)][0])
                self.close(1, empty[id(part)][1])
                continue
            self.open(1, part.keyword, self.source.token_before(self.source.start(part.nodes[0]), 2)[0])
            for node in part.nodes:
                self.node_line(2, part.show(node), node)
            self.close(1, self.source.token_after(self.source.end(part.nodes[-1]))[1])
        self.close(0, self.source.end(network))

    def section_part(self, section: _Section) -> list[tuple[int, _Section]]:
        """A network section to print, if it has anything in it (`stem {}` means no stem)."""
        if not section.nodes:
            return []
        return [(self.source.token_before(self.source.start(section.nodes[0]), 2)[0], section)]


def _has_body(item: ir.DerivedNetwork) -> bool:
    """An empty `stem { }` or `head { }` counts: in a derivation it replaces the parent's."""
    return bool(item.defaults or item.stages or item.stem is not None or item.head is not None)


@dataclass(frozen=True)
class _Section:
    """`defaults`, `stem` or `head` of a network: its IR keeps the contents, not the braces."""

    keyword: str
    nodes: Sequence[Any]
    show: Callable[[Any], str]


# ------------------------------------------------------------- comments --
def _attach_comments(lines: list[_Line], source: _Source) -> list[_Comment]:
    """Give each comment to the line it belongs with; return those after the last line."""
    starts = [line.start for line in lines]
    ends = [line.end for line in lines]
    after_last: list[_Comment] = []
    for line_number, column, text in comments(source.text):
        start = source.offset(line_number, column)
        comment = _Comment(text, start, start + len(text))
        before = source.text[source.line_starts[line_number - 1] : start]
        if before.strip():
            # Ends a line: it belongs with the output line holding the token it follows.
            last_token = source.line_starts[line_number - 1] + len(before.rstrip()) - 1
            owner = lines[bisect_right(starts, last_token) - 1]
            if owner.end <= start:
                owner.trailing = comment
            else:
                owner.leading.append(comment)
            continue
        index = bisect_right(ends, start)
        if index == len(lines):
            after_last.append(comment)
        else:
            lines[index].leading.append(comment)
    return after_last


def _join_empty_bodies(lines: list[_Line]) -> list[_Line]:
    """`main {` + `}` with nothing between them (not even a comment) -> `main {}`."""
    joined: list[_Line] = []
    for line in lines:
        previous = joined[-1] if joined else None
        if (
            line.role == "close"
            and not line.leading
            and previous is not None
            and previous.role == "open"
            and previous.trailing is None
        ):
            previous.text += "}"
            previous.role = "plain"
            previous.end = line.end
            previous.trailing = line.trailing
            previous.ends_item = line.ends_item
            continue
        joined.append(line)
    return joined


@dataclass
class _Element:
    """A printed line (code or comment) with the source range used to keep blank lines."""

    depth: int
    text: str
    start: int
    end: int
    role: Role | Literal["comment"]
    ends_item: bool = False


def _elements(lines: list[_Line], after_last: list[_Comment]) -> list[_Element]:
    elements: list[_Element] = []
    for line in lines:
        comment_depth = line.depth + 1 if line.role == "close" else line.depth
        for comment in line.leading:
            # A comment moved out of the middle of a line stands where that line starts.
            start, end = (comment.start, comment.end) if comment.start < line.start else (line.start, line.start)
            elements.append(_Element(comment_depth, comment.text, start, end, "comment"))
        text, end = line.text, line.end
        if line.trailing is not None:
            text, end = f"{text}  {line.trailing.text}", line.trailing.end
        elements.append(_Element(line.depth, text, line.start, end, line.role, line.ends_item))
    elements += [_Element(0, c.text, c.start, c.end, "comment") for c in after_last]
    return elements


def _blank_before(previous: _Element, element: _Element, source: _Source) -> bool:
    if previous.ends_item:
        return True
    if previous.role == "open" or element.role == "close":
        return False
    return source.has_blank_line(previous.end, element.start)


def _render(lines: list[_Line], source: _Source) -> str:
    after_last = _attach_comments(lines, source)
    elements = _elements(_join_empty_bodies(lines), after_last)
    out: list[str] = []
    for index, element in enumerate(elements):
        if index and _blank_before(elements[index - 1], element, source):
            out.append("")
        source.whence[len(out)] = element.start  # where an output line's text came from, for errors
        out.append(INDENT * element.depth + element.text)
    return "\n".join(out) + "\n" if out else ""
