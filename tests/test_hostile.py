# ruff: noqa: E501 (the table reads best one case per line)
"""Hostile input: every case ends in one located error line and exit 1, fast and bounded.

Each row is a file set-up (a spec `t.arch`, sometimes with files beside it), the command, and
the first line of the error. None of them times anything: that the work is bounded shows in
the limit error firing, before the work (a hang or a gigabyte would fail the run instead).
The CLI runs in-process here; `test_cli_paths_never_show_a_traceback` runs a few as a user does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.cli import main
from resnet_dsl.language import limits

NET = "network N(input = 8x8x3{params}) {{\n  stem {{ conv(4, 3) }}\n  head {{ flatten }}\n}}\n"


def net(params: str = "") -> str:
    return NET.format(params=params)


def chain_of(count: int) -> str:
    lines = ["network N0(input = 8x8x3, c = 1) {\n  head { flatten }\n}"]
    lines += [f"network N{i} = N{i - 1}(c = {i})" for i in range(1, count)]
    return "\n".join(lines) + "\n"


def doubling(levels: int) -> str:
    params = ", p0 = [1, 1]" + "".join(f", p{i} = [p{i - 1}, p{i - 1}]" for i in range(1, levels))
    return net(params)


def nested_values(levels: int) -> str:
    return net(", p0 = [1]" + "".join(f", p{i} = [p{i - 1}]" for i in range(1, levels)))


def importing(target: str) -> str:
    return f'import "{target}"\n' + net()


Setup = Callable[[Path], None]


def _fifo(name: str) -> Setup:
    return lambda tmp: os.mkfifo(tmp / name)


def _symlink(name: str, to: str) -> Setup:
    return lambda tmp: (tmp / name).symlink_to(to)


def _loop(tmp: Path) -> None:
    (tmp / "loop.arch").symlink_to("loop2.arch")
    (tmp / "loop2.arch").symlink_to("loop.arch")


def _outside(tmp: Path) -> None:
    (tmp / "outside.arch").write_text("block b() { main { relu } out = add(main, shortcut) }\n")


DIGITS = "9" * 5000
TOO_BIG = "integer too large: the limit is 9,007,199,254,740,991 (2**53 - 1)"

# (id, spec text or bytes, extra set-up, command line, first line of stderr as a regex)
CASES: list[tuple[str, str | bytes, Setup | None, list[str], str]] = [
    # --- nesting: the parser, check and fmt agree (see test_fmt_and_check_agree_on_depth)
    ("nested lists", net(", a = " + "[" * 500 + "1" + "]" * 500), None, ["check", "t.arch"], r"t.arch:1:\d+: error: nested more than 100 levels deep"),
    ("nested negation", net(", a = " + "- " * 500 + "1"), None, ["check", "t.arch"], r"t.arch:1:\d+: error: nested more than 100 levels deep"),
    ("long sum", net(", a = " + " + ".join(["1"] * 600)), None, ["check", "t.arch"], r"t.arch:1:\d+: error: nested more than 100 levels deep"),
    ("nested lists, fmt", net(", a = " + "[" * 500 + "1" + "]" * 500), None, ["fmt", "t.arch"], r"t.arch:1:\d+: error: nested more than 100 levels deep"),
    ("nested values", nested_values(120), None, ["check", "t.arch"], r"t.arch:1:\d+: error: nested more than 100 levels deep"),
    # --- integers and floats, written or computed
    ("huge literal", net(f", a = {DIGITS}"), None, ["check", "t.arch"], rf"t.arch:1:30: error: {re.escape(TOO_BIG)}"),
    ("huge literal, summary", net(f", a = {DIGITS}"), None, ["summary", "t.arch"], rf"t.arch:1:30: error: {re.escape(TOO_BIG)}"),
    ("huge shape", net(f", a = 2x{DIGITS}"), None, ["describe", "t.arch"], rf"t.arch:1:30: error: {re.escape(TOO_BIG)}"),
    ("huge product", net(", a = 4294967296, b = a * a * a"), None, ["generate", "t.arch"], rf"t.arch:1:\d+: error: {re.escape(TOO_BIG)}"),
    ("huge filters", "network N(input = 8x8x3) {\n  stem { conv(9007199254740992, 1) }\n}\n", None, ["graph", "t.arch", "-o", "g.dot"], rf"t.arch:2:15: error: {re.escape(TOO_BIG)}"),
    ("float overflow", net(", a = 1e308 * 10"), None, ["check", "t.arch"], r"t.arch:1:30: error: number out of range: inf"),
    ("float literal overflow", net(", a = 1e999"), None, ["check", "t.arch"], r"t.arch:1:30: error: number out of range: inf"),
    ("huge tensor", "network N(input = 99999999x99999999x99) {\n  head { flatten }\n}\n", None, ["summary", "t.arch"], r"t.arch:1:1: error: layer 'input_layer': its output 99999999x99999999x99 has more than 2,147,483,647 elements per sample"),
    ("huge override", net(), None, ["summary", "t.arch", "--set", f"input=8x8x{DIGITS}"], rf"--set:1:1: error: {re.escape(TOO_BIG)}"),
    # --- growth through parameters, derivations, layer counts
    ("doubling lists", doubling(40), None, ["check", "t.arch"], r"t.arch:1:\d+: error: a value with more than 10,000 items"),
    ("derivation chain", chain_of(limits.MAX_DERIVATION_DEPTH + 2), None, ["check", "t.arch"], r"t.arch:\d+:1: error: the network is derived more than 100 levels deep"),
    ("layers", net() + "network M(input = 8x8x4) {\n  stage s: basic(4) * 1000, basic(4) * 1000\n}\n", None, ["check", "t.arch"], r"t.arch:6:\d+: error: the network would have more than 10000 layers"),
    ("long line", net(", a = [" + "1, " * 4000 + "1]"), None, ["check", "t.arch"], r"t.arch:1:10001: error: line 1 is longer than 10,000 characters"),
    ("large file", net() + ("# padding\n" * 100_001), None, ["check", "t.arch"], r"t.arch: error: cannot read t.arch: it is larger than 250,000 bytes"),
    # --- encoding and terminal
    ("not UTF-8", b"network N(input = 8x8x3) {\n  head { flatten } # caf\xc3\xa9 \xff\n}\n", None, ["check", "t.arch"], r"t.arch:2:27: error: not UTF-8: byte 0xff cannot be decoded"),
    ("not UTF-8 import", importing("bad.arch"), lambda tmp: (tmp / "bad.arch").write_bytes(b"\n\n  \xfe"), ["check", "t.arch"], r"bad.arch:3:3: error: not UTF-8: byte 0xfe cannot be decoded"),
    # --- imports and inputs that are not specs
    ("import /dev/zero", importing("/dev/zero"), None, ["check", "t.arch"], r"t.arch:1:1: error: cannot import '/dev/zero': only .arch files can be imported"),
    ("import environ", importing("/proc/self/environ"), None, ["check", "t.arch"], r"t.arch:1:1: error: cannot import '/proc/self/environ': only .arch files can be imported"),
    ("import link to device", importing("z.arch"), _symlink("z.arch", "/dev/urandom"), ["check", "t.arch"], r"t.arch:1:1: error: cannot import 'z.arch': it is a link to urandom, not to a .arch file"),
    ("import fifo", importing("f.arch"), _fifo("f.arch"), ["check", "t.arch"], r"t.arch:1:1: error: cannot read f.arch: it is a FIFO \(named pipe\), not a regular file"),
    ("import directory", importing("d.arch"), lambda tmp: (tmp / "d.arch").mkdir(), ["check", "t.arch"], r"t.arch:1:1: error: cannot read d.arch: it is a directory, not a regular file"),
    ("import symlink loop", importing("loop.arch"), _loop, ["check", "t.arch"], r"t.arch:1:1: error: cannot (import 'loop.arch': it is a symlink loop|read loop.arch: Too many levels of symbolic links)"),
    ("import outside", importing("../outside.arch"), None, ["check", "t.arch"], r"t.arch:1:1: error: cannot import '../outside.arch': it is outside /.*/w"),
    ("spec is a fifo", "", _fifo("f.arch"), ["check", "f.arch"], r"f.arch: error: cannot read f.arch: it is a FIFO \(named pipe\), not a regular file"),
    ("spec is /dev/zero", "", None, ["summary", "/dev/zero"], r"/dev/zero: error: cannot read /dev/zero: it is a character device, not a regular file"),
    ("fmt a fifo", "", _fifo("f.arch"), ["fmt", "f.arch"], r"f.arch: error: cannot read f.arch: it is a FIFO \(named pipe\), not a regular file"),
]  # fmt: skip


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "w").mkdir()
    monkeypatch.chdir(tmp_path / "w")
    return tmp_path / "w"


@pytest.mark.parametrize(("what", "spec", "setup", "command", "expected"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input_is_one_located_error(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    what: str,
    spec: str | bytes,
    setup: Setup | None,
    command: list[str],
    expected: str,
) -> None:
    if spec:
        (workdir / "t.arch").write_bytes(spec if isinstance(spec, bytes) else spec.encode())
    if setup is not None:
        setup(workdir)
    if what == "import outside":
        (workdir.parent / "outside.arch").write_text(net())
    status = main(command)
    err = capsys.readouterr().err
    assert status == 1, err
    first = err.splitlines()[0]
    assert re.fullmatch(expected, first), err
    assert "Traceback" not in err
    assert "\x1b" not in err


def test_import_outside_the_tree_needs_the_import_path(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (workdir.parent / "shared").mkdir()
    (workdir.parent / "shared" / "blocks.arch").write_text(
        "block twice(f) {\n  main { conv(f, 1) -> relu }\n  out = add(main, shortcut)\n}\n"
    )
    spec = workdir / "t.arch"
    spec.write_text('import "../shared/blocks.arch"\nnetwork N(input = 8x8x4) {\n  stage s: twice(4)\n}\n')
    with pytest.raises(resnet_dsl.ArchError, match=r"cannot import '../shared/blocks.arch': it is outside"):
        resnet_dsl.load(spec)
    monkeypatch.setenv("RESNET_DSL_IMPORT_PATH", str(workdir.parent / "shared"))
    assert len(resnet_dsl.load(spec).layers) == 4


def test_a_secret_in_a_file_that_is_not_a_spec_is_never_echoed(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESNET_DSL_TEST_SECRET", "hunter2-not-for-your-eyes")
    (workdir / "t.arch").write_text(importing("/proc/self/environ"))
    assert main(["check", "t.arch"]) == 1
    assert "hunter2" not in capsys.readouterr().err
    (workdir / "secret").write_text("password = hunter2\n")
    (workdir / "s.arch").symlink_to("secret")
    (workdir / "t.arch").write_text(importing("s.arch"))
    assert main(["check", "t.arch"]) == 1
    assert "hunter2" not in capsys.readouterr().err


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\f", "\v", "\x1c", "\x85", "\r"])
@pytest.mark.parametrize("where", ["comment", "docs"])
def test_an_error_shows_its_own_line_after_a_character_python_splits_lines_at(
    workdir: Path, capsys: pytest.CaptureFixture[str], separator: str, where: str
) -> None:
    """`str.splitlines` splits at U+2028, \\f, \\v...; the parser only at \\n: the excerpt showed another line."""
    first = (
        f"# a{separator}b{separator}c\n"
        if where == "comment"
        else f"# a{separator}b\nblock x() {{\n  main {{ relu }}\n  out = add(main, shortcut)\n}}\n"
    )
    (workdir / "t.arch").write_text(first + "network N(input = 8x8x3) {\n  stem { cnv(4, 3) }\n}\n", encoding="utf-8")
    assert main(["check", "t.arch"]) == 1
    row = first.count("\n") + 2
    assert capsys.readouterr().err.splitlines()[:2] == [
        f"t.arch:{row}:10: error: unknown layer 'cnv'",
        f" {row} |   stem {{ cnv(4, 3) }}",
    ]


def test_an_error_in_a_long_line_shows_the_part_around_it(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 10,001-character line was echoed whole (twice its length with the caret row)."""
    items = ", ".join(["1"] * 1000) + ", 1 +* 2, " + ", ".join(["2"] * 2000)
    (workdir / "t.arch").write_text(f"network N(input = 8x8x3, v = [{items}]) {{\n}}\n")
    assert main(["check", "t.arch"]) == 1
    head, line, caret = capsys.readouterr().err.splitlines()[:3]
    column = len("network N(input = 8x8x3, v = [") + len(", ".join(["1"] * 1000)) + len(", 1 +") + 1
    assert head.startswith(f"t.arch:1:{column}: error: unexpected '*'")
    assert line.startswith(" 1 | ...") and line.endswith("...") and len(line) < 220
    assert line[caret.index("^")] == "*" and caret.count("^") == 1


def test_control_characters_are_escaped_and_the_caret_still_points(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "t.arch").write_bytes(
        b"network N(input = 8x8x3) {\n  head { \x1b[2Jflatten -> cnov } # \x1b]0;owned\x07 \xe2\x80\xae\n}\n"
    )
    assert main(["check", "t.arch"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:3] == [
        "t.arch:2:10: error: unexpected character '\\x1b'; expected '}' or a name",
        " 2 |   head { \\x1b[2Jflatten -> cnov } # \\x1b]0;owned\\x07 \\u202e",
        "   |          ^^^^",
    ]


def test_fmt_and_check_agree_on_depth(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Just inside the limit every command works; just past it every command gives the same error."""
    for depth, ok in ((90, True), (100, False)):
        params = ", a = " + "[" * depth + "1" + "]" * depth + ", s = " + " + ".join(["1"] * depth)
        (workdir / "t.arch").write_text(net(params + ", m = " + "- " * depth + "1"))
        firsts = set()
        for command in (["check"], ["summary"], ["describe"], ["ir"], ["generate"], ["fmt", "--diff"]):
            status = main([*command, "t.arch"])
            err = capsys.readouterr().err
            assert status == (0 if ok else 1), err
            if not ok:
                firsts.add(err.splitlines()[0])
        assert len(firsts) == (0 if ok else 1), firsts


def test_derivations_are_checked_in_linear_time(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """3,000 networks each derived from the one before would be cubic; the chain limit stops it
    at 100 levels, and wide derivation (each from the first) is linear: all are checked."""
    wide = ["network N0(input = 8x8x3, c = 1) {\n  head { flatten }\n}"]
    wide += [f"network N{i} = N0(c = {i})" for i in range(1, 3000)]
    (workdir / "t.arch").write_text("\n".join(wide) + "\n")
    assert main(["check", "t.arch"]) == 0
    assert capsys.readouterr().out.count(": ok") == 3000


def test_check_stops_when_a_file_expands_too_many_layers(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = "network N0(input = 8x8x4) {\n  stage s: basic(4) * 900\n}\n"
    copies = "".join(f"network N{i} = N0()\n" for i in range(1, 50))
    (workdir / "t.arch").write_text(big + copies)
    assert main(["check", "t.arch"]) == 1
    err = capsys.readouterr().err
    assert re.match(r"t.arch:\d+:1: error: the networks up to this one have more than 50,000 layers together", err)


# ----------------------------------------------------- review tools, API --


@pytest.mark.parametrize(
    ("what", "setup", "note"),
    [
        (
            "fifo",
            _fifo("t.arch"),
            "# resnet-dsl describe: cannot read t.arch: it is a FIFO (named pipe), not a regular file",
        ),
        (
            "not UTF-8",
            lambda tmp: (tmp / "t.arch").write_bytes(b"network \xff"),
            "# resnet-dsl describe: not UTF-8: byte 0xff cannot be decoded; shown as its text",
        ),
        (
            "too large",
            lambda tmp: (tmp / "t.arch").write_text("#" * 1_000_001),
            "# resnet-dsl describe: cannot read t.arch: it is larger than 250,000 bytes; shown as its text",
        ),
        ("too deep", lambda tmp: (tmp / "t.arch").write_text(net(", a = " + "[" * 300 + "]" * 300)), None),
    ],
    ids=["fifo", "not UTF-8", "too large", "too deep"],
)
def test_textconv_never_fails(
    workdir: Path, capsys: pytest.CaptureFixture[str], what: str, setup: Setup, note: str | None
) -> None:
    setup(workdir)
    assert main(["describe", "--textconv", "t.arch"]) == 0
    out = capsys.readouterr().out
    if note is not None:
        assert out.splitlines()[0].startswith(note), out[:300]
    else:
        assert out.startswith("network N(input = 8x8x3, a = [[["), "shown as its text"


def test_the_summary_function_works_on_every_call_whatever_was_imported() -> None:
    import resnet_dsl.analysis.summary  # the submodule: it must not replace the function

    network = resnet_dsl.load("specs/torchvision/resnet18.arch")
    first = resnet_dsl.summary(network)
    assert resnet_dsl.summary(network) == first
    from resnet_dsl import summary

    assert callable(summary) and summary(network)["params"]["total"] == 11_699_112
    assert {"summary", "load", "loads", "to_keras", "to_python", "ArchError", "Network"} <= set(dir(resnet_dsl))
    for name in resnet_dsl.__all__:
        assert getattr(resnet_dsl, name) is not None


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: resnet_dsl.loads(None), "loads() argument 'text' must be a str, not NoneType"),
        (lambda: resnet_dsl.loads(b"network"), "loads() argument 'text' must be a str, not bytes"),
        (lambda: resnet_dsl.load(None), "load() argument 'path' must be a str or a path, not NoneType"),
        (
            lambda: resnet_dsl.load("specs/torchvision/resnet18.arch", overrides={1: 10}),
            "argument 'overrides' has a key 1 of type int",
        ),
        (
            lambda: resnet_dsl.load("specs/torchvision/resnet18.arch", overrides=[("classes", 1)]),
            "argument 'overrides' must be a mapping",
        ),
        (
            lambda: resnet_dsl.load("specs/torchvision/resnet18.arch", overrides={"classes": {}}),
            "argument 'overrides' sets 'classes' to a value of type dict",
        ),
        (
            lambda: resnet_dsl.load("specs/torchvision/resnet18.arch", network=3),
            "argument 'network' must be a str or None, not int",
        ),
    ],
    ids=["loads None", "loads bytes", "load None", "override key", "overrides list", "override value", "network"],
)
def test_wrong_types_are_a_type_error_naming_the_argument(call: Callable[[], object], message: str) -> None:
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value).startswith(message)


def test_overrides_from_python_are_held_to_the_limits() -> None:
    deep: list = [1]
    for _ in range(5000):
        deep = [deep]
    for value, message in (
        (deep, "nested more than 100 levels deep"),
        (2**80, TOO_BIG),
        (float("inf"), "number out of range: inf"),
    ):
        with pytest.raises(resnet_dsl.ArchError) as raised:
            resnet_dsl.load("specs/torchvision/resnet18.arch", overrides={"depths": value})
        assert raised.value.render().splitlines()[0] == f"override: error: {message}"


def test_repr_of_a_network_is_one_short_line() -> None:
    network = resnet_dsl.load("specs/torchvision/resnet152.arch")
    assert (
        repr(network)
        == "<Network 'ResNet152': 521 layers, 60,344,232 parameters, from specs/torchvision/resnet152.arch>"
    )


def test_a_file_name_with_an_escape_sequence_is_shown_escaped(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "t\x1b[31m.arch"
    (workdir / name).write_text("network N(")
    assert main(["check", name]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert err.startswith("t\\x1b[31m.arch:1:11: error: unexpected end of file")
