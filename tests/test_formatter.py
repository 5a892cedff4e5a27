"""`format_source` and `resnet-dsl fmt`: one canonical layout, idempotent, losing nothing.

Golden layouts for each rule, the shipped specs already formatted, and two Hypothesis
properties: a random spec IR prints to text that parses back to the same IR, and a shipped
spec re-spaced with random whitespace and comments formats back to its own layout with
every comment kept, in order.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.parser import comments
from resnet_dsl.network.loader import parse_module
from resnet_dsl.review.formatter import format_module, format_source, string_literal
from tests.conftest import REPO, SHIPPED_SPECS

FORMATTED_FILES = [*SHIPPED_SPECS, "resnet_dsl/prelude.arch", "tests/specs/resnet50v2.arch"]

# (case, input, expected canonical layout)
GOLDEN = [
    (
        "spacing and chains",
        "network N(input=8x8x3,classes=10){stem{c1:conv(4,3,stride=2)->bn->relu}"
        'head{global_avgpool->dense(classes,activation=softmax)as "out"}}',
        "network N(input = 8x8x3, classes = 10) {\n"
        "  stem {\n"
        "    c1: conv(4, 3, stride=2) -> bn -> relu\n"
        "  }\n"
        "  head {\n"
        '    global_avgpool -> dense(classes, activation=softmax) as "out"\n'
        "  }\n"
        "}\n",
    ),
    (
        "one unit per line, layers without arguments lose their parentheses",
        "block b(f) { main { conv(f, 1) -> bn()\n relu } out = add(main, shortcut) }",
        "block b(f) {\n  main {\n    conv(f, 1) -> bn\n    relu\n  }\n  out = add(main, shortcut)\n}\n",
    ),
    (
        "sections keep their written order; empty ones close on their line",
        "block b(f) {\n  shortcut from pre { }\n  pre {}\n  main {\n  }\n  out = add(main, shortcut)\n}\n",
        "block b(f) {\n  shortcut from pre {}\n  pre {}\n  main {}\n  out = add(main, shortcut)\n}\n",
    ),
    (
        "an empty network section is no section",
        "network N() {\n  stem {}\n  stage s: b(1)\n}\n",
        "network N() {\n  stage s: b(1)\n}\n",
    ),
    (
        "expressions: parentheses only where precedence needs them",
        "network N(a = (1 + 2) * 3, b = 1 - (2 - 3), c = (1 - 2) - 3, d = -(x + 1), e = [1,2,],"
        ' f = (xs)[0] // 2, g = glorot_uniform(seed=0), h = "q\\"s\\\\", i = 1.50e-3, j = true) {}',
        "network N(a = (1 + 2) * 3, b = 1 - (2 - 3), c = 1 - 2 - 3, d = -(x + 1), e = [1, 2],"
        ' f = xs[0] // 2, g = glorot_uniform(seed=0), h = "q\\"s\\\\", i = 1.50e-3, j = true) {}\n',
    ),
    (
        "stages: calls, repeats in parentheses when they are not atoms",
        "network N(d = [3]) { stage s1 : b(64,stride=1) , b(64)*(d[0]-1), b(8) * d[0] }",
        "network N(d = [3]) {\n  stage s1: b(64, stride=1), b(64) * (d[0] - 1), b(8) * d[0]\n}\n",
    ),
    (
        "imports, derived networks, one blank line between items",
        'import   "a.arch"\nnetwork M = N(depths=[3, 4, 23, 3], classes = 2)\n\n\n\nimport "b.arch"',
        'import "a.arch"\n\nnetwork M = N(depths = [3, 4, 23, 3], classes = 2)\n\nimport "b.arch"\n',
    ),
    (
        "defaults: one layer per line",
        "network N() { defaults { bn(epsilon=1e-5) conv(use_bias=false) } }",
        "network N() {\n  defaults {\n    bn(epsilon=1e-5)\n    conv(use_bias=false)\n  }\n}\n",
    ),
    (
        "blank lines: single ones kept inside a body, none after { or before }",
        "network N() {\n\n  stage a: b(1)\n\n\n\n  stage c: b(2)\n  stage d: b(3)\n\n}\n",
        "network N() {\n  stage a: b(1)\n\n  stage c: b(2)\n  stage d: b(3)\n}\n",
    ),
    (
        "comments: full-line before what they precede, trailing after their line",
        "   # header\n\n\n# about N\nnetwork N() {  # opens N\n  # about a\n  stage a: b(1)   # trailing a\n"
        "  # closing remark\n}  # after N\n# end of file\n",
        "# header\n\n# about N\nnetwork N() {  # opens N\n  # about a\n  stage a: b(1)  # trailing a\n"
        "  # closing remark\n}  # after N\n\n# end of file\n",
    ),
    (
        "comments: one inside a line that is joined moves before that line",
        "network N(\n  input = 8x8x3,  # the input\n  classes = 10  # the classes\n) {\n  stage a: b(1)\n}\n",
        "# the input\n# the classes\nnetwork N(input = 8x8x3, classes = 10) {\n  stage a: b(1)\n}\n",
    ),
    (
        "comments: inside an otherwise empty section, the section stays open",
        "block b() {\n  main {\n    # nothing yet\n  }\n  out = add(main, shortcut)\n}\n",
        "block b() {\n  main {\n    # nothing yet\n  }\n  out = add(main, shortcut)\n}\n",
    ),
    (
        "comments: a # inside a string is not a comment",
        'network N() {\n  head {\n    dense(1) as "a#b"  # real\n  }\n}\n',
        'network N() {\n  head {\n    dense(1) as "a#b"  # real\n  }\n}\n',
    ),
    ("only comments", "\n# one\n\n\n# two\n", "# one\n\n# two\n"),
    ("nothing at all", "\n\n  \n", ""),
    ("windows line endings", "network N() {\r\n  stage a: b(1)\r\n}\r\n", "network N() {\n  stage a: b(1)\n}\n"),
]


@pytest.mark.parametrize(("case", "source", "expected"), GOLDEN, ids=[case for case, _, _ in GOLDEN])
def test_golden_layouts(case: str, source: str, expected: str) -> None:
    formatted = format_source(source)
    assert formatted == expected
    assert format_source(formatted) == formatted, "formatting twice must change nothing"
    assert parse_module(formatted) == parse_module(source)


@pytest.mark.parametrize("path", FORMATTED_FILES)
def test_shipped_specs_are_formatted(path: str) -> None:
    text = (REPO / path).read_text(encoding="utf-8")
    formatted = format_source(text, path)
    assert formatted == text
    assert parse_module(formatted, path) == parse_module(text, path)


def test_floats_keep_their_spelling() -> None:
    source = "network N(a = 1.001e-5, b = 1., c = 2E3, d = 0.10) {}\n"
    assert format_source(source) == source


def test_invalid_text_raises_a_located_error() -> None:
    with pytest.raises(ArchError) as caught:
        format_source("network N( {\n", "bad.arch")
    assert (caught.value.span.file, caught.value.span.line, caught.value.span.column) == ("bad.arch", 1, 12)


# ------------------------------------------------------------- properties --
KEYWORDS = {"import", "block", "pre", "main", "shortcut", "from", "out", "network", "defaults", "stem", "stage"}
KEYWORDS |= {"head", "as", "true", "false", "if", "else", "and", "or", "not", "input"}
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(lambda name: name not in KEYWORDS)

leaves = st.one_of(
    st.integers(min_value=0, max_value=10**12).map(lambda v: ir.Int(value=v)),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(lambda v: ir.Float(value=v)),
    st.booleans().map(lambda v: ir.Bool(value=v)),
    st.text(max_size=8).map(lambda v: ir.Str(value=v)),
    st.lists(st.integers(0, 4096), min_size=2, max_size=4).map(lambda d: ir.Shape(dims=tuple(d))),
    names.map(lambda v: ir.Name(id=v)),
)


OPERATORS = ["+", "-", "*", "//", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or"]


def _compound(children: st.SearchStrategy[ir.Expr]) -> st.SearchStrategy[ir.Expr]:
    args = st.lists(st.builds(ir.Arg, name=st.none() | names, value=children), max_size=3).map(tuple)
    return st.one_of(
        st.lists(children, max_size=3).map(lambda items: ir.ListExpr(items=tuple(items))),
        st.builds(ir.Index, target=children, index=children),
        st.builds(ir.BinOp, op=st.sampled_from(OPERATORS), left=children, right=children),
        st.builds(ir.Neg, operand=children),
        st.builds(ir.Not, operand=children),
        st.builds(ir.IfElse, condition=children, then=children, otherwise=children),
        st.builds(ir.Call, func=names, args=args),
    )


exprs = st.recursive(leaves, _compound, max_leaves=8)
arg_lists = st.lists(st.builds(ir.Arg, name=st.none() | names, value=exprs), max_size=3).map(tuple)
param_lists = st.lists(st.builds(ir.Param, name=names, default=st.none() | exprs), max_size=3).map(tuple)
layers = st.builds(
    ir.LayerCall, op=names, args=arg_lists, name=st.none() | st.text(max_size=6), condition=st.none() | exprs
)
plain_layers = st.builds(ir.LayerCall, op=names, args=arg_lists, name=st.none() | st.text(max_size=6))
chains = st.lists(layers, min_size=1, max_size=3).map(tuple)
units = st.lists(st.builds(ir.Unit, label=st.none() | names, layers=chains), max_size=3).map(tuple)
path_names = names.filter(lambda name: name != "out") | st.sampled_from(["pre", "main", "shortcut"])
paths = st.builds(ir.Path, name=path_names, source=st.none() | path_names, condition=st.none() | exprs, units=units)
lets = st.builds(ir.Let, name=names.filter(lambda name: name != "out"), value=exprs)


def _merges(children: st.SearchStrategy) -> st.SearchStrategy[ir.Merge]:
    inputs = st.lists(children, min_size=1, max_size=3).map(tuple)
    return st.builds(ir.Merge, op=names, inputs=inputs)


refs = st.builds(ir.PathRef, path=path_names)
merges = st.builds(
    ir.Merge,
    op=names,
    inputs=st.lists(st.recursive(refs, _merges, max_leaves=5), max_size=3).map(tuple),
    name=st.none() | st.text(max_size=6),
)


def _block(name: str, params: tuple, parts: list, merge: ir.Merge, after: tuple) -> ir.BlockDef:
    """A block whose values and paths have distinct names (the parser insists)."""
    seen: set[str] = set()
    unique = [p for p in parts if not (p.name in seen or seen.add(p.name))]
    paths_ = tuple(p for p in unique if isinstance(p, ir.Path)) or (ir.Path(name="main"),)
    return ir.BlockDef(
        name=name,
        params=params,
        lets=tuple(p for p in unique if isinstance(p, ir.Let)),
        paths=paths_,
        merge=merge,
        after=after,
    )


blocks = st.builds(
    _block,
    names,
    param_lists,
    st.lists(paths | lets, max_size=4),
    merges,
    st.lists(layers, max_size=2).map(tuple),
)
derived_blocks = st.builds(ir.DerivedBlock, name=names, base=names, args=arg_lists)
block_calls = st.builds(ir.BlockCall, block=names, args=arg_lists, repeat=st.none() | exprs)
stages = st.builds(ir.Stage, label=names, calls=st.lists(block_calls, min_size=1, max_size=3).map(tuple))
networks = st.builds(
    ir.NetworkDef,
    name=names,
    params=param_lists,
    defaults=st.lists(plain_layers, max_size=2).map(tuple),
    stem=units,
    stages=st.lists(stages, max_size=3).map(tuple),
    head=units,
)
some_units = st.lists(st.builds(ir.Unit, label=st.none() | names, layers=chains), min_size=1, max_size=2).map(tuple)
derived = st.builds(
    ir.DerivedNetwork,
    name=names,
    base=names,
    args=arg_lists,
    defaults=st.lists(plain_layers, max_size=2).map(tuple),
    stem=st.none() | some_units,
    stages=st.lists(stages, max_size=2).map(tuple),
    head=st.none() | some_units,
)
imports = st.builds(ir.Import, path=st.text(max_size=10))
modules = st.lists(st.one_of(imports, blocks, derived_blocks, networks, derived), max_size=4).map(
    lambda items: ir.Module(path="<string>", items=tuple(items))
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules)
def test_any_spec_ir_prints_to_text_that_parses_back_to_it(module: ir.Module) -> None:
    text = format_module(module)
    assert parse_module(text) == module
    assert format_source(text) == text


@given(st.text())
def test_strings_are_reescaped_as_literals_the_grammar_reads(value: str) -> None:
    module = ir.Module(path="<string>", items=(ir.Import(path=value),))
    text = format_module(module)
    assert "\n" not in string_literal(value)
    assert parse_module(text).items[0].path == value


# Tokens of the language, comments left out: what random layout may separate, never split.
TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[0-9]+(?:x[0-9]+)+|[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+'
    r"|[0-9]+|[A-Za-z_][A-Za-z0-9_]*|->|//|==|!=|<=|>=|\S"
)
SEPARATORS = [" ", "  ", "\t", "\n", "\n\n\n", "\n    ", " # c\n", "\n# c\n", "\n\n# c\n\n"]


LINE_BREAKS = [s for s in SEPARATORS if "\n" in s]


def _perturbed(text: str, choices: list[int]) -> str:
    """Each token followed by a random separator, one with a line break where the text had
    one between the two tokens (units are lines: a newline ends one)."""
    tokens = [match for match in TOKEN.finditer(text) if not match.group().startswith("#")]
    out = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1].start() if index + 1 < len(tokens) else len(text)
        options = LINE_BREAKS if "\n" in text[token.end() : following] else SEPARATORS
        separator = options[choices[index % len(choices)] % len(options)]
        out.append(token.group() + separator.replace("# c", f"# c{index}"))
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(FORMATTED_FILES),
    st.lists(st.integers(0, len(SEPARATORS) - 1), min_size=1, max_size=40),
)
def test_random_layout_and_comments_format_back(path: str, choices: list[int]) -> None:
    original = (REPO / path).read_text(encoding="utf-8")
    messy = _perturbed(original, choices)
    formatted = format_source(messy, path)
    assert parse_module(formatted) == parse_module(original)
    assert format_source(formatted) == formatted
    assert [c[2] for c in comments(formatted)] == [c[2] for c in comments(messy)], "comments kept, in order"
    assert format_source(_perturbed(original, [0])) == _without_comments(original), "no indentation: exact layout"


def _without_comments(formatted: str) -> str:
    """A formatted spec with its comments (none inside strings here) and their blank lines gone."""
    lines = [re.sub(r"\s*#.*", "", line) for line in formatted.splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines).strip("\n"))
    return text + "\n"


# -------------------------------------------------------------------- CLI --
MESSY = "network N(input=8x8x3){  # the net\nstage a:b(1)\n}\n"
TIDY = "network N(input = 8x8x3) {  # the net\n  stage a: b(1)\n}\n"


def _spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fmt_rewrites_in_place_only_what_changes(cli, tmp_path: Path) -> None:
    messy = _spec(tmp_path, "messy.arch", MESSY)
    tidy = _spec(tmp_path, "tidy.arch", TIDY)
    os.chmod(messy, 0o640)
    before = tidy.stat().st_mtime_ns
    result = cli("fmt", str(messy), str(tidy))
    assert result.returncode == 0, result.stderr
    assert messy.read_text() == TIDY
    assert stat.S_IMODE(messy.stat().st_mode) == 0o640, "the file keeps its permissions"
    assert tidy.stat().st_mtime_ns == before, "an already formatted file is not rewritten"
    assert f"reformatted {messy}" in result.stdout
    assert str(tidy) not in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.arch", "tidy.arch"], "no temporary left"


def test_fmt_check_names_the_files_and_writes_nothing(cli, tmp_path: Path) -> None:
    messy = _spec(tmp_path, "messy.arch", MESSY)
    tidy = _spec(tmp_path, "tidy.arch", TIDY)
    result = cli("fmt", "--check", str(messy), str(tidy))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"would reformat {messy}"]
    assert messy.read_text() == MESSY
    assert cli("fmt", "--check", str(tidy)).returncode == 0


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(cli, tmp_path: Path) -> None:
    messy = _spec(tmp_path, "messy.arch", MESSY)
    result = cli("fmt", "--diff", str(messy))
    assert result.returncode == 0
    assert f"--- {messy}\n+++ {messy}\n" in result.stdout
    assert "-stage a:b(1)\n" in result.stdout
    assert "+  stage a: b(1)\n" in result.stdout
    assert messy.read_text() == MESSY
    assert cli("fmt", "--diff", "--check", str(messy)).returncode == 1


def test_fmt_diff_names_relative_paths_as_git_does(cli, tmp_path: Path) -> None:
    _spec(tmp_path, "messy.arch", MESSY)
    result = cli("fmt", "--diff", "messy.arch", cwd=tmp_path)
    assert result.stdout.startswith("--- a/messy.arch\n+++ b/messy.arch\n@@ ")
    assert cli("fmt", "--diff", "specs/seed/resnet50.arch").stdout == "", "nothing for a formatted file"


def test_fmt_leaves_an_invalid_file_untouched(cli, tmp_path: Path) -> None:
    bad = _spec(tmp_path, "bad.arch", "network N(\n  input = ,\n) {}\n")
    messy = _spec(tmp_path, "messy.arch", MESSY)
    result = cli("fmt", str(bad), str(messy))
    assert result.returncode == 1
    assert f"{bad}:2:11: error: unexpected ','" in result.stderr
    assert bad.read_text() == "network N(\n  input = ,\n) {}\n"
    assert messy.read_text() == TIDY, "the other files are still formatted"


def test_fmt_reports_a_missing_file(cli, tmp_path: Path) -> None:
    result = cli("fmt", str(tmp_path / "nope.arch"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_fmt_check_passes_on_the_repository(cli) -> None:
    result = cli("fmt", "--check", "specs", "resnet_dsl/prelude.arch")
    assert result.returncode == 0, result.stdout + result.stderr


EMPTY_SECTIONS = """network A(input = 4x4x3) {
  stem { conv(4, 1) }
  head { flatten }
}
network B = A() {
  head { } # no head
  stem { }
}
"""


def test_an_empty_stem_or_head_of_a_derivation_is_kept() -> None:
    """`head { }` in a derivation removes the parent's head: fmt dropped it, which changed the
    network (B had A's flatten again) though fmt exited 0."""
    import resnet_dsl
    from resnet_dsl.review.formatter import format_source

    formatted = format_source(EMPTY_SECTIONS)
    assert "head {}  # no head" in formatted and "stem {}" in formatted
    before = resnet_dsl.loads(EMPTY_SECTIONS, network="B")
    after = resnet_dsl.loads(formatted, network="B")
    assert [layer.name for layer in after.layers] == [layer.name for layer in before.layers] == ["input_layer"]
    assert format_source(formatted) == formatted
