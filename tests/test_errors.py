"""Error table: a malformed snippet gives a located message, a caret and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError

NET = """network N(input = 32x32x3, classes = 10) {{
  stem {{
    conv1: conv(16, 3, padding=same) -> bn -> relu
  }}
  {stage}
  head {{
    global_avgpool -> dense(classes, activation=softmax)
  }}
}}
"""

# (what, spec text, message fragment, file, line, column, hint fragment or None)
CASES = [
    (
        "syntax: missing paren",
        "network N(input = 8x8x3 {\n}\n",
        "missing ')' to close the '(' opened at line 1, column 10 (found '{')",
        "t.arch",
        1,
        25,
        None,
    ),
    (
        "syntax: missing brace at the end",
        "network N(input = 8x8x3) {\n  stem {\n    relu\n  }\n",
        "unexpected end of file: missing '}' to close the '{' opened at line 1, column 26",
        "t.arch",
        4,
        4,
        None,
    ),
    (
        "syntax: missing paren before a brace",
        "network N(input = 8x8x3) {\n  stem {\n    conv(16, 3\n  }\n}\n",
        "missing ')' to close the '(' opened at line 3, column 9 (found '}')",
        "t.arch",
        4,
        3,
        None,
    ),
    (
        "syntax: a list closed by the wrong bracket",
        "network N(input = 8x8x3, d = [1, 2) {\n}\n",
        "missing ']' to close the '[' opened at line 1, column 30 (found ')')",
        "t.arch",
        1,
        35,
        None,
    ),
    (
        "input with two dimensions",
        "network N(input = 8x8) {\n  stem { conv(4, 3) }\n}\n",
        "conv needs an image input (height, width, channels), got (None, 8, 8)",
        "t.arch",
        2,
        10,
        "the network's input is 8x8, 2 dimensions; an image is height x width x channels, e.g. input = 8x8x3",
    ),
    (
        "syntax: stray word",
        "block b() { main { relu } out = add } oops",
        "unexpected name 'oops'",
        "t.arch",
        1,
        39,
        None,
    ),
    (
        "syntax: single quotes",
        "network N(input = 8x8x3) { head { dense(1) as 'x' } }",
        "unexpected character",
        "t.arch",
        1,
        47,
        "double quotes",
    ),
    ("syntax: end of file", "network N(input = 8x8x3) {", "unexpected end of file", "t.arch", 1, 27, None),
    (
        "unknown block",
        NET.format(stage="stage s1: identiy(3, [16, 16, 16])"),
        "unknown block 'identiy'",
        "t.arch",
        5,
        13,
        "did you mean 'identity'?",
    ),
    (
        "unknown layer",
        "network N(input = 8x8x3) {\n  stem { cnov(3, 3) }\n}",
        "unknown layer 'cnov'",
        "t.arch",
        2,
        10,
        "did you mean 'conv'?",
    ),
    (
        "unknown option",
        "network N(input = 8x8x3) {\n  stem { conv(3, 3, strides=2) }\n}",
        "conv has no option 'strides'",
        "t.arch",
        2,
        21,
        "did you mean 'stride'?",
    ),
    (
        "a Keras keyword that is a layer of its own",
        "network N(input = 8x8x3) {\n  stem { conv(3, 3, activation=relu) }\n}",
        "conv has no option 'activation'",
        "t.arch",
        2,
        21,
        "an activation is a layer of its own: write conv(...) -> relu",
    ),
    (
        "units are lines: a missing arrow",
        "network N(input = 8x8x3) {\n  stem {\n    conv1: conv(4, 3) bn relu\n  }\n}",
        "missing '->' between 'conv' and 'bn': a unit is one line",
        "t.arch",
        3,
        23,
        "chain the layers of one unit with '->' (conv -> bn)",
    ),
    (
        "units are lines: a labelled unit after a missing arrow",
        "block b() {\n  main {\n    relu a: relu\n  }\n  out = add(main, shortcut)\n}\n"
        "network N(input = 8x8x3) {\n  stage s: b()\n}",
        "missing '->' between 'relu' and 'a: relu'",
        "t.arch",
        3,
        10,
        "start a new unit on a new line",
    ),
    (
        "syntax: && is and",
        "network N(input = 8x8x3, a = true) {\n  stem { relu if a && a }\n}",
        "unexpected character '&'; expected",
        "t.arch",
        2,
        20,
        "the language writes '&&' as 'and'",
    ),
    (
        "syntax: a tuple shape",
        "network N(input = (32, 32, 3)) {\n}",
        "unexpected ','; expected ')'",
        "t.arch",
        1,
        22,
        "a shape is written 32x32x3, without brackets",
    ),
    (
        "a backend constraint: stride with dilation",
        "network N(input = 32x32x3) {\n  stem { conv(4, 3, stride=2, dilation=2) }\n}",
        "conv with stride 2x2 and dilation 2x2 cannot be built by the Keras back end",
        "t.arch",
        2,
        10,
        "subsample(2)",
    ),
    (
        "a backend constraint: depthwise stride with dilation",
        "network N(input = 32x32x3) {\n  stem { depthwise_conv(3, stride=[1, 2], dilation=[2, 1]) }\n}",
        "depthwise_conv with stride 1x2 and dilation 2x1 cannot be built by the Keras back end",
        "t.arch",
        2,
        10,
        None,
    ),
    (
        "a backend constraint: torch normalizes the channels only",
        "network N(input = 8x8x3) {\n  stem { conv(4, 3) -> bn(axis=1) }\n}",
        "bn axis 1 is not the channels of (None, 6, 6, 4): the torch back end normalizes the channels only",
        "t.arch",
        2,
        24,
        "bn(axis=-1)",
    ),
    (
        "wrong option type",
        "network N(input = 8x8x3) {\n  stem { conv(3, 3, use_bias=1) }\n}",
        "expected true or false",
        "t.arch",
        2,
        30,
        None,
    ),
    (
        "non-positive filters",
        "network N(input = 8x8x3) {\n  stem { conv(0, 3) }\n}",
        "must be positive, got 0",
        "t.arch",
        2,
        15,
        None,
    ),
    (
        "non-positive stride",
        "network N(input = 8x8x3) {\n  stem { conv(4, 3, stride=-1) }\n}",
        "must be positive, got -1",
        "t.arch",
        2,
        28,
        None,
    ),
    (
        "too many positional",
        "network N(input = 8x8x3) {\n  stem { conv(4, 3, 2) }\n}",
        "conv takes 2 positional arguments",
        "t.arch",
        2,
        21,
        "option=value",
    ),
    (
        "unknown activation",
        "network N(input = 8x8x3) {\n  head { flatten -> dense(2, activation=softmx) }\n}",
        "unknown activation 'softmx'",
        "t.arch",
        2,
        41,
        None,
    ),
    (
        "missing block argument",
        NET.format(stage="stage s1: identity(3)"),
        "needs a value for 'filters'",
        "t.arch",
        5,
        13,
        "filters=",
    ),
    (
        "unknown block parameter",
        NET.format(stage="stage s1: identity(3, [16, 16, 16], trainig=false)"),
        "has no parameter 'trainig'",
        "t.arch",
        5,
        39,
        "did you mean 'training'?",
    ),
    (
        "too many block arguments",
        NET.format(stage="stage s1: identity(3, [16, 16, 16], 1, 2, 3)"),
        "takes 4 arguments, got 5",
        "t.arch",
        5,
        45,
        "(f, filters, init, training)",
    ),
    (
        "residual shapes differ",
        NET.format(stage="stage s1: identity(3, [16, 16, 32])"),
        "cannot add (None, 32, 32, 32) and (None, 32, 32, 16)",
        "t.arch",  # the user's call, not the prelude's line
        5,
        13,
        "projection",
    ),
    (
        "spatial size shrinks to zero",
        "network N(input = 4x4x3) {\n  stem { c: conv(8, 7) }\n}",
        "layer 'c_conv': conv shrinks its 4x4 input to nothing",
        "t.arch",
        2,
        13,
        "padding=same",
    ),
    (
        "duplicate layer names",
        "network N(input = 8x8x3) {\n  stem { relu\n relu }\n}",
        "duplicate layer name 'relu'",
        "t.arch",
        3,
        2,
        "as",
    ),
    (
        "duplicate stage",
        NET.format(stage="stage s: identity(3, [16, 16, 16])\n  stage s: identity(3, [16, 16, 16])"),
        "stage 's' is declared twice",
        "t.arch",
        6,
        3,
        None,
    ),
    (
        "repeat over the limit",
        NET.format(stage="stage s: identity(3, [16, 16, 16]) * 100000000"),
        "more than the limit of 1000",
        "t.arch",
        5,
        40,
        None,
    ),
    (
        "network too large",
        NET.format(stage="stage s: identity(3, [16, 16, 16]) * 1000"),
        "more than 10000 layers",
        "t.arch",
        5,
        40,
        "repeat counts",
    ),
    (
        "unknown name in arithmetic",
        "network N(input = 8x8x3, width = 4) {\n  stem { conv(2 * widht, 3) }\n}",
        "unknown name 'widht'",
        "t.arch",
        2,
        19,
        "did you mean 'width'?",
    ),
    (
        "index out of range",
        "network N(input = 8x8x3, f = [1, 2]) {\n  stem { conv(f[2], 3) }\n}",
        "index 2 is out of range",
        "t.arch",
        2,
        17,
        None,
    ),
    (
        "no input shape",
        "network N(classes = 3) {\n  head { dense(classes) }\n}",
        "has no input shape",
        "t.arch",
        1,
        1,
        "input = 224x224x3",
    ),
    ("bad input shape", "network N(input = 3) {\n}", "input must be a shape", "t.arch", 1, 19, None),
    ("add outside out", "network N(input = 8x8x3) {\n  stem { add }\n}", "'add' joins paths", "t.arch", 2, 10, None),
    (
        "block without main",
        "block b(f) {\n  out = add(main, shortcut)\n}\nnetwork N(input = 8x8x3) {\n}",
        "has no 'main' path",
        "t.arch",
        1,
        1,
        None,
    ),
    (
        "merge of an unknown path",
        "block b(f) {\n  main { relu }\n  out = add(main, shortut)\n}\nnetwork N(input = 8x8x3) {\n  stage s: b(1)\n}",
        "add takes path names",
        "t.arch",
        3,
        19,
        "shortcut",
    ),
    ("unknown base network", "network N = M(classes = 3)", "unknown network 'M'", "t.arch", 1, 1, None),
    ("network derives from itself", "network A = A()", "derives from itself", "t.arch", 1, 1, None),
    (
        "unknown initializer",
        "network N(input = 8x8x3) {\n  stem { conv(2, 3, init=glorot(seed=0)) }\n}",
        "unknown initializer 'glorot'",
        "t.arch",
        2,
        26,
        "glorot_",
    ),
    (
        "block defined twice",
        "block b() { main { relu } out = add }\nblock b() { main { relu } out = add }",
        "block 'b' is defined twice",
        "t.arch",
        2,
        1,
        None,
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "message", "file", "line", "column", "hint"), CASES, ids=[c[0] for c in CASES]
)
def test_error_table(what: str, text: str, message: str, file: str, line: int, column: int, hint: str | None) -> None:
    with pytest.raises(ArchError) as caught:
        program_network(text)
    error = caught.value
    assert message in error.message
    assert (error.span.file, error.span.line, error.span.column) == (file, line, column)
    if hint is not None:
        assert error.hint is not None and hint in error.hint
    rendered = error.render()
    assert rendered.startswith(f"{file}:{line}:{column}: error: ")
    assert "^" in rendered.splitlines()[2]  # the caret under the source line


def program_network(text: str) -> None:
    """Validate a snippet as `check` does: its network if it has one, else its definitions."""
    from resnet_dsl.network.loader import loads_program

    loads_program(text, "t.arch").check()


def test_no_message_names_a_grammar_rule() -> None:
    """Every terminal the parser can expect is described in words or quoted, never by the
    grammar's own name (`COMPARE`, `__ANON_0`)."""
    from resnet_dsl.language import parser

    for terminal in parser.grammar().terminals:
        if terminal.name in parser.grammar().lexer_conf.ignore:
            continue
        described = parser._describe(terminal.name)
        assert described.startswith(("'", "a ", "an ", "the ")), (terminal.name, described)
    with pytest.raises(ArchError) as error:
        resnet_dsl.loads("network N(input = 8x8x3, a = 1 ! 2) {\n}")
    assert "compare" not in error.value.message and "'!' as 'not'" in (error.value.hint or "")


def test_two_layers_of_one_kind_in_a_unit_are_numbered() -> None:
    """`dense -> dense`: the second of a kind in a unit adds `_2` (the first keeps its name)."""
    network = resnet_dsl.loads(
        "block b(f) {\n  main {\n    conv(f, 1) -> bn -> relu\n  }\n"
        "  se from main {\n    global_avgpool -> dense(2) -> relu -> dense(f) -> sigmoid\n  }\n"
        "  out = add(multiply(main, se), input) -> relu -> relu\n}\n"
        "network N(input = 8x8x4) {\n  stage s: b(4)\n  head {\n    flatten -> dense(3) -> dense(2)\n  }\n}\n"
    )
    names = [layer.name for layer in network.layers]
    assert names[5:8] == ["s_block1_se_1_dense", "s_block1_se_1_relu", "s_block1_se_1_dense_2"]
    assert names[-5:] == ["s_block1_relu", "s_block1_out", "flatten", "dense", "dense_2"]


def test_errors_inside_a_prelude_block_point_at_the_users_call() -> None:
    from resnet_dsl.language.resources import PRELUDE

    with pytest.raises(ArchError) as caught:
        resnet_dsl.loads(NET.format(stage='stage s1: basic(filters="64")'), path="t.arch")
    prelude = PRELUDE.read_text().splitlines()
    start = prelude.index("block basic(filters, stride = 1) {")
    line = next(n for n in range(start, len(prelude)) if "conv(filters, 3" in prelude[n]) + 1
    column = prelude[line - 1].index("filters") + 1
    assert caught.value.render() == "\n".join(
        [
            "t.arch:5:13: error: conv filters: expected a positive integer, got '64'",
            ' 5 |   stage s1: basic(filters="64")',
            "   |             ^^^^^^^^^^^^^^^^^^^",
            f"note: in s1_block1, where the prelude's block 'basic' uses it (<prelude>:{line}:{column}):",
            f" {line} | {prelude[line - 1]}",
            f" {' ' * len(str(line))} | {' ' * (column - 1)}^^^^^^^",
        ]
    )


def test_errors_inside_a_users_block_name_the_call_site() -> None:
    text = (
        NET.format(stage="stage s1: mine(0)")
        + "block mine(f) {\n  main { conv(f, 3, padding=same) }\n  out = add(main, shortcut)\n}\n"
    )
    with pytest.raises(ArchError) as caught:
        resnet_dsl.loads(text, path="t.arch")
    assert (caught.value.span.file, caught.value.span.line) == ("t.arch", 11)  # the definition: the user's own
    assert "note: in s1_block1, a 'mine' block called at t.arch:5:13" not in caught.value.render()


def test_import_cycle(tmp_path: Path) -> None:
    (tmp_path / "a.arch").write_text('import "b.arch"\n')
    (tmp_path / "b.arch").write_text('import "a.arch"\n')
    with pytest.raises(ArchError, match="import cycle"):
        resnet_dsl.load(tmp_path / "a.arch")


def test_missing_import(tmp_path: Path) -> None:
    (tmp_path / "a.arch").write_text('\nimport "nowhere.arch"\n')
    with pytest.raises(ArchError, match="cannot read") as caught:
        resnet_dsl.load(tmp_path / "a.arch")
    assert caught.value.span.line == 2


def test_cli_prints_errors_without_traceback(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text(NET.format(stage="stage s1: identiy(3, [16, 16, 16])"))
    result = cli("check", str(bad), "specs/seed/resnet50.arch")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bad.arch:5:13: error: unknown block 'identiy'" in result.stderr
    assert "specs/seed/resnet50.arch: ok" in result.stdout
