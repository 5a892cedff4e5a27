"""Text -> Lark parse tree. Owns the grammar and turns syntax errors into `ArchError`s."""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from resnet_dsl.language import limits
from resnet_dsl.language.errors import ArchError, excerpt, source_lines
from resnet_dsl.language.ir import Span
from resnet_dsl.language.resources import resource_dir

_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "SHAPE": "a shape such as 224x224x3",
    "STRING": "a string in double quotes",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "STAGE_PLACE": "'after' or 'before'",
    "$END": "the end of the file",
}
_NOUNS = {"NAME": "name", "INT": "integer", "FLOAT": "number", "SHAPE": "shape", "STRING": "string"}


@cache
def grammar() -> Lark:
    """The LALR parser, built once per process (and cached on disk by Lark)."""
    path = resource_dir("grammars") / "arch.lark"
    return Lark(
        path.read_text(encoding="utf-8"),
        parser="lalr",
        start=["start", "expr"],
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


def parse(text: str, path: str = "<string>", start: str = "start") -> Tree:
    """Parse a whole file (or, with start="expr", one value such as `224x224x3`)."""
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark is not part of the spec
    limits.check_text(text, path)
    try:
        tree = grammar().parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, path) from None
    _check_depth(tree, text, path)
    return tree


def _check_depth(tree: Tree, text: str, path: str) -> None:
    """Refuse a tree deeper than `limits.MAX_NESTING` (walked without recursion), before
    anything walks it recursively."""
    stack: list[tuple[Tree | Token, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if depth > limits.MAX_NESTING:
            meta = node.meta
            line, column = (meta.line, meta.column) if not getattr(meta, "empty", True) else (0, 0)
            span = Span(file=path, line=line, column=column, end_line=line, end_column=column + 1)
            raise limits.too_deep(span).with_source(text)
        stack.extend((child, depth + 1) for child in node.children)


_COMMENT_OR_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def comments(text: str) -> list[tuple[int, int, str]]:
    """Every `# comment` as (line, column, text); the grammar itself ignores them."""
    found = []
    for match in _COMMENT_OR_STRING.finditer(text):
        if match.group().startswith("#"):
            line = text.count("\n", 0, match.start()) + 1
            column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
            found.append((line, column, match.group().rstrip()))
    return found


def _describe(terminal: str) -> str:
    if terminal in _WORDS:
        return _WORDS[terminal]
    for definition in grammar().terminals:
        if definition.name == terminal and definition.pattern.type == "str":
            return f"'{definition.pattern.value}'"
    return "something else"  # a terminal without a word of its own: never its grammar name


def _expected(names: set[str]) -> str:
    words = sorted({_describe(name) for name in names} or {"something else"})
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


_BRACKETS = {"(": ")", "[": "]", "{": "}"}
_BRACKET_OR_SKIPPED = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[()\[\]{}]')


def _unclosed(text: str, end: int) -> tuple[str, int] | None:
    """The innermost bracket still open at offset `end`, as (bracket, offset); strings and
    comments skipped. A closer that matches nothing stops the scan: the damage is there."""
    stack: list[tuple[str, int]] = []
    for match in _BRACKET_OR_SKIPPED.finditer(text, 0, end):
        token = match.group()
        if token in _BRACKETS:
            stack.append((token, match.start()))
        elif token in _BRACKETS.values():
            if not stack or _BRACKETS[stack[-1][0]] != token:
                break
            stack.pop()
    return stack[-1] if stack else None


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _missing_bracket(error: UnexpectedInput, text: str, path: str) -> tuple[str, str] | None:
    """(message, note) when the error is a bracket left open: the input ends, a closer of
    another kind comes, or a `{` comes where `)` could. (Brackets may span lines, so an
    unexpected word after an open one says nothing about which is missing.)"""
    at_end = isinstance(error, UnexpectedEOF) or (isinstance(error, UnexpectedToken) and error.token.type == "$END")
    offset = len(text) if at_end else getattr(error, "pos_in_stream", None)
    if offset is None:
        return None
    found = _unclosed(text, offset)
    if found is None:
        return None
    opener, where = found
    closer = _BRACKETS[opener]
    line, column = _position(text, where)
    token = str(error.token) if isinstance(error, UnexpectedToken) and not at_end else ""
    wrong_closer = token in _BRACKETS.values() and token != closer
    expected = getattr(error, "accepts", None) or getattr(error, "expected", None) or set()
    block_too_soon = token == "{" and opener == "(" and f"'{closer}'" in {_describe(name) for name in expected}
    if not (at_end or wrong_closer or block_too_soon):
        return None
    message = f"missing '{closer}' to close the '{opener}' opened at line {line}, column {column}"
    message = f"unexpected end of file: {message}" if at_end else f"{message} (found '{token}')" if token else message
    span = Span(file=path, line=line, column=column, end_line=line, end_column=column + 1)
    note = "\n".join([f"'{opener}' opened here ({span}):", *excerpt(span, source_lines(text)[line - 1])])
    return message, note


def _syntax_error(error: UnexpectedInput, text: str, path: str) -> ArchError:
    line, column = error.line, error.column
    width = 1
    if isinstance(error, UnexpectedToken) and error.token.type == "$END":
        message = f"unexpected end of file; expected {_expected(error.expected)}"
        lines = source_lines(text) or [""]
        line, column = len(lines), len(lines[-1]) + 1
    elif isinstance(error, UnexpectedToken):
        token: Token = error.token
        width = max(len(str(token)), 1)
        found = f"{_NOUNS[token.type]} '{token}'" if token.type in _NOUNS else _describe(token.type)
        message = f"unexpected {found}; expected {_expected(error.accepts or error.expected)}"
    elif isinstance(error, UnexpectedCharacters):
        message = f"unexpected character {text[error.pos_in_stream]!r}"
        if error.allowed:
            message += f"; expected {_expected(error.allowed)}"
    elif isinstance(error, UnexpectedEOF):
        message = f"unexpected end of file; expected {_expected(set(error.expected))}"
    else:  # pragma: no cover - Lark has no other kinds today
        message = str(error).splitlines()[0]
    span = Span(file=path, line=line, column=column, end_line=line, end_column=column + width)
    missing = _missing_bracket(error, text, path)
    if missing is None:
        return ArchError(message, span, _hint(error, text)).with_source(text)
    result = ArchError(missing[0], span).with_source(text)
    result.notes.append(missing[1])
    return result


_OPERATORS = {"&&": "and", "&": "and", "||": "or", "|": "or", "!": "not"}
_TUPLE = re.compile(r"\(\s*(\d+)\s*((?:,\s*\d+\s*)+),?\s*\)")


def _hint(error: UnexpectedInput, text: str) -> str | None:
    offset = getattr(error, "pos_in_stream", None)
    if isinstance(error, UnexpectedCharacters) and offset is not None:
        written = text[offset : offset + 2] if text[offset : offset + 2] in _OPERATORS else text[offset]
        if written in _OPERATORS and text[offset : offset + 2] != "!=":
            return f"the language writes '{written}' as '{_OPERATORS[written]}'"
    if isinstance(error, UnexpectedToken) and error.token.type == "COMMA" and offset is not None:
        start = text.rfind("(", 0, offset)
        match = _TUPLE.match(text, start) if start >= 0 else None
        if match is not None:
            dims = [match.group(1), *(d.strip() for d in match.group(2).split(",") if d.strip())]
            return f"a shape is written {'x'.join(dims)}, without brackets"
    if isinstance(error, UnexpectedToken) and error.token.type == "NAME" and "RBRACE" in error.expected:
        return "each layer is a name with optional (arguments); chain layers of one unit with '->'"
    if isinstance(error, UnexpectedCharacters) and error.char == "'":
        return 'strings use double quotes: "name"'
    return None


MAX_SYNTAX_ERRORS = 20


def syntax_errors(text: str, path: str = "<string>") -> list[ArchError]:
    """Every syntax error of `text`, the first as `parse` reports it: after each, the statement
    it stands in (from the outermost bracket still open on its level of braces, to the error's
    line) is blanked and the rest parsed again. Recovery stops where blanking would unbalance
    the braces or the input ends, rather than report errors the first one caused."""
    found: list[ArchError] = []
    lines = text.split("\n")
    while len(found) < MAX_SYNTAX_ERRORS:
        try:
            parse("\n".join(lines), path)
            break
        except ArchError as error:
            line = error.span.line
            if found and line <= found[-1].span.line:
                break
            found.append(error)
            if not 1 <= line <= len(lines) or error.message.startswith("unexpected end of file"):
                break
            offset = sum(len(lines[i]) + 1 for i in range(line - 1)) + max(error.span.column - 1, 0)
            first = _statement_start("\n".join(lines), offset)
            region = lines[first - 1 : line]
            if _brace_balance("\n".join(region)) != 0:
                break
            lines[first - 1 : line] = [""] * len(region)
    return found


def _statement_start(text: str, offset: int) -> int:
    """The line of the outermost `(` or `[` still open at `offset` since the last open `{`,
    or the line of `offset` itself."""
    stack: list[tuple[str, int]] = []
    for match in _BRACKET_OR_SKIPPED.finditer(text, 0, offset):
        token = match.group()
        if token in _BRACKETS:
            stack.append((token, match.start()))
        elif token in _BRACKETS.values() and stack and _BRACKETS[stack[-1][0]] == token:
            stack.pop()
    opened = [where for _, where in stack[_last_brace(stack) + 1 :]]
    return _position(text, opened[0] if opened else offset)[0]


def _last_brace(stack: list[tuple[str, int]]) -> int:
    return max((index for index, (bracket, _) in enumerate(stack) if bracket == "{"), default=-1)


def _brace_balance(text: str) -> int:
    tokens = [m.group() for m in _BRACKET_OR_SKIPPED.finditer(text)]
    return tokens.count("{") - tokens.count("}")
