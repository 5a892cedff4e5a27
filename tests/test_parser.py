"""The grammar and the transformer: no collisions, positions kept, and (Hypothesis) no input
that makes the tool fail with anything but its own located error."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.parser import parse
from resnet_dsl.language.resources import resource_dir
from resnet_dsl.language.transform import to_expr
from resnet_dsl.network.loader import loads_program, parse_module
from tests.conftest import REPO, SHIPPED_SPECS

GRAMMAR = (resource_dir("grammars") / "arch.lark").read_text()


def test_grammar_has_no_collisions() -> None:
    Lark(GRAMMAR, parser="lalr", strict=True, start=["start", "expr"])


def test_positions_are_kept() -> None:
    module = parse_module("network N(input = 8x8x3) {\n  stem {\n    c: conv(4, 3)\n  }\n}\n", "x.arch")
    (network,) = module.networks
    call = network.stem[0].layers[0]
    assert (call.span.file, call.span.line, call.span.column) == ("x.arch", 3, 8)
    assert call.args[0].value == ir.Int(value=4)


def test_layout_and_comments_do_not_change_the_ir() -> None:
    compact = "network N(input=8x8x3){stem{c:conv(4,3)->bn->relu}}"
    spaced = (
        "# a network\nnetwork N(\n  input = 8x8x3,  # its input\n) {\n"
        "  stem {\n    c: conv(4, 3) -> bn -> relu\n  }\n}\n"
    )
    assert parse_module(compact) == parse_module(spaced)


def test_a_byte_order_mark_is_ignored() -> None:
    text = "network N(input = 8x8x3) {\n}\n"
    assert parse_module("\ufeff" + text) == parse_module(text)


def test_keywords_stay_usable_as_names() -> None:
    module = parse_module("block b(main, out) {\n  main { conv(main, out) }\n  out = add(main, shortcut)\n}\n")
    (block,) = module.blocks
    assert [p.name for p in block.params] == ["main", "out"]


# ------------------------------------------------------------------ properties --


def _print(expr: ir.Expr) -> str:
    """A fully parenthesised rendering: enough to check that parsing inverts printing."""
    match expr:
        case ir.Int(value=v):
            return str(v)
        case ir.Float(value=v):
            return repr(v)
        case ir.Bool(value=v):
            return "true" if v else "false"
        case ir.Str(value=v):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        case ir.Shape(dims=dims):
            return "x".join(map(str, dims))
        case ir.Name(id=name):
            return name
        case ir.ListExpr(items=items):
            return "[" + ", ".join(map(_print, items)) + "]"
        case ir.Index(target=target, index=index):
            return f"({_print(target)})[{_print(index)}]"
        case ir.Neg(operand=operand):
            return f"-({_print(operand)})"
        case ir.BinOp(op=op, left=left, right=right):
            return f"({_print(left)} {op} {_print(right)})"
        case ir.Call(func=func, args=args):
            return f"{func}(" + ", ".join(f"{a.name}={_print(a.value)}" for a in args) + ")"
    raise AssertionError(expr)


KEYWORDS = {"true", "false", "import", "block", "network", "as", "from", "pre", "main", "shortcut", "out",
            "defaults", "stem", "stage", "head"}  # fmt: skip
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
leaves = st.one_of(
    st.integers(0, 10**6).map(lambda v: ir.Int(value=v)),
    st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
    .filter(lambda v: v != int(v))
    .map(lambda v: ir.Float(value=v)),
    st.booleans().map(lambda v: ir.Bool(value=v)),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=8).map(lambda v: ir.Str(value=v)),
    st.lists(st.integers(1, 999), min_size=2, max_size=4).map(lambda d: ir.Shape(dims=tuple(d))),
    names.map(lambda n: ir.Name(id=n)),
)
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: ir.ListExpr(items=tuple(items))),
        st.tuples(inner, inner).map(lambda p: ir.Index(target=p[0], index=p[1])),
        st.tuples(st.sampled_from(["+", "-", "*", "//", "/"]), inner, inner).map(
            lambda p: ir.BinOp(op=p[0], left=p[1], right=p[2])
        ),
        inner.map(lambda e: ir.Neg(operand=e)),
        st.tuples(names, st.lists(st.tuples(names, inner), max_size=2)).map(
            lambda p: ir.Call(func=p[0], args=tuple(ir.Arg(name=k, value=v) for k, v in p[1]))
        ),
    ),
    max_leaves=12,
)


@given(expressions)
@settings(max_examples=300, deadline=None)
def test_printing_then_parsing_an_expression_gives_it_back(expr: ir.Expr) -> None:
    assert to_expr(parse(_print(expr), start="expr")) == expr


LOCATED = re.compile(r"(fuzz\.arch|<prelude>):\d+:\d+: error: \S")


def _only_own_errors(text: str) -> None:
    try:
        loads_program(text, "fuzz.arch").check()
    except ArchError as error:
        assert LOCATED.match(error.render()), error.render()


@given(from_lark(Lark(GRAMMAR, parser="lalr", start="start"), start="start"))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_fuzz_from_the_grammar_gives_only_located_errors(text: str) -> None:
    _only_own_errors(text)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_fuzz_arbitrary_text_gives_only_located_errors(text: str) -> None:
    _only_own_errors(text)


SPEC_TEXTS = [(REPO / path).read_text() for path in SHIPPED_SPECS[:2]]


@given(st.sampled_from(SPEC_TEXTS), st.integers(0, 2000), st.integers(1, 40), st.text(max_size=5))
@settings(max_examples=300, deadline=None)
def test_fuzz_damaged_specs_give_only_located_errors(text: str, start: int, length: int, insert: str) -> None:
    start %= len(text)
    _only_own_errors(text[:start] + insert + text[start + length :])
