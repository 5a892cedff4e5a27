"""Every limit of `resnet_dsl/language/limits.py` held at its edge: N works, N + 1 is refused.

The edges are written out here by hand (10,000 layers, 100 derivations, ...), not read from
the module, so a limit moved by one in either direction fails a test. The work each limit
bounds is measured too, where the old code was superlinear: those tests time a step that took
tens of seconds before and must now take well under one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from resnet_dsl.cli import main
from resnet_dsl.language import limits
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.block_graph import path_order
from resnet_dsl.network.loader import load_program, loads_program

BLOCK = "block b(filters = 1) {\n  main { relu }\n  out = add(main, shortcut)\n}\n"
"""Two layers per call: the relu and the add."""


def check(text: str) -> str | None:
    """None where the spec passes `check`, else the error's message."""
    try:
        loads_program(text).check()
    except ArchError as error:
        return error.message
    return None


def net(params: str = "", body: str = "  head { flatten }\n") -> str:
    return f"network N(input = 8x8x3{params}) {{\n{body}}}\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----------------------------------------------------------------- counts --


def layers(stem: int) -> str:
    """1 (input) + `stem` relus + 9,998 block layers."""
    calls = ", ".join(["b() * 1000"] * 4 + ["b() * 999"])
    return BLOCK + net(body=f"  stem {{ {' -> '.join(['relu'] * stem)} }}\n  stage s: {calls}\n")


def test_layers_10000_work_and_10001_are_refused() -> None:
    assert check(layers(1)) is None
    assert len(loads_program(layers(1)).expand().layers) == 10_000
    assert check(layers(2)) == "the network would have more than 10000 layers"


def test_layers_a_condition_leaves_out_do_not_count() -> None:
    """The limit is the network's real size: 10,000 layers made, though the blocks could make 15,000."""
    conditional = BLOCK.replace("main { relu }", "main { relu -> sigmoid if filters > 1 }")
    assert check(conditional + layers(1).removeprefix(BLOCK)) is None
    assert check(conditional + layers(2).removeprefix(BLOCK)) == "the network would have more than 10000 layers"


def test_the_layer_limit_points_at_the_call_that_goes_over() -> None:
    try:
        loads_program(layers(2)).expand()
    except ArchError as error:
        assert (error.span.line, error.span.column) == (7, 66), error.render()  # the last `999`
    else:
        raise AssertionError("not refused")


def test_repeats_1000_work_and_1001_are_refused() -> None:
    assert check(BLOCK + net(body="  stage s: b() * 1000\n")) is None
    assert "1001" in (check(BLOCK + net(body="  stage s: b() * 1001\n")) or "")


def network_chain(count: int) -> str:
    """N0, then N1 = N0(), ..., N<count> = N<count - 1>(): N<count> is derived `count` levels deep."""
    return net().replace("network N(", "network N0(") + "".join(
        f"network N{i} = N{i - 1}()\n" for i in range(1, count + 1)
    )


def block_chain(count: int) -> str:
    """b0, then b1 = b0(), ..., b<count>: `count` levels of derived blocks, all checked."""
    lines = [BLOCK.replace("block b(", "block b0(")]
    lines += [f"block b{i} = b{i - 1}()\n" for i in range(1, count + 1)]
    return "".join(lines) + net(body=f"  stage s: b{count}()\n")


def test_derivation_chains_of_100_work_and_101_are_refused() -> None:
    assert check(network_chain(100)) is None
    assert check(network_chain(101)) == "the network is derived more than 100 levels deep"
    assert check(block_chain(100)) is None
    assert check(block_chain(101)) == "the block is derived more than 100 levels deep"


def test_derived_blocks_are_resolved_in_linear_time() -> None:
    """800 blocks each derived from the one before took 21 s (a quadratic scan per step of
    each chain); the depth limit stops such a chain at once, and 3,000 blocks derived from
    one base (the wide case, which no limit stops) are all checked quickly."""
    started = time.process_time()  # CPU time: another process on the cores does not count
    assert check(block_chain(800)) == "the block is derived more than 100 levels deep"
    wide = BLOCK + "".join(f"block c{i} = b(filters = {i})\n" for i in range(3000)) + net()
    assert check(wide) is None
    assert time.process_time() - started < 10


def items_value(extra: int) -> str:
    """A value of 10,000 + `extra` - 1 items: 99 lists of 100 (9,999 counted through) and `extra` more."""
    hundred = ", ".join(["1"] * 100)
    tail = ", 1" * extra
    return net(f", a = [{hundred}], b = [{', '.join(['a'] * 99)}{tail}]")


def test_values_of_10000_items_work_and_10001_are_refused() -> None:
    assert check(items_value(1)) is None
    assert check(items_value(2)) == "a value with more than 10,000 items"


def nested(levels: int) -> str:
    """A value nested `levels` lists deep, built one level per parameter."""
    return net(", p1 = [1]" + "".join(f", p{i} = [p{i - 1}]" for i in range(2, levels + 1)))


def test_values_nested_100_deep_work_and_101_are_refused() -> None:
    assert check(nested(100)) is None
    assert check(nested(101)) == "nested more than 100 levels deep"
    # the same edge reached through a list checked before, and through one reused at two depths
    assert check(nested(99) + "") is None
    shared = net(", p1 = [1]" + "".join(f", p{i} = [p{i - 1}]" for i in range(2, 100)) + ", q = [p99, [p99]]")
    assert check(shared) == "nested more than 100 levels deep"


def test_a_reused_value_is_not_walked_again_on_every_evaluation() -> None:
    """A block value built from a 4,444-item argument, evaluated 20 times in each of 300 calls:
    each evaluation walked all 8,889 items (the 2,001-layer version took 4 minutes); now a
    list checked once is known by identity."""
    lets = "".join(f"  v{i} = [p, p]\n" for i in range(20))
    block = f"block w(filters, p) {{\n{lets}  main {{ relu }}\n  out = add(main, shortcut)\n}}\n"
    params = ", a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], c = [a, a, a, a, a, a, a, a, a, a]"
    params += ", d = [c, c, c, c, c, c, c, c, c, c], e = [d, d, d, d]"
    started = time.process_time()  # CPU time: another process on the cores does not count
    assert check(block + net(params, "  stage s: w(4, e) * 300\n")) is None
    assert time.process_time() - started < 5


def test_integers_up_to_2_53_minus_1_work_written_or_computed() -> None:
    assert check(net(", a = 9007199254740991")) is None
    assert check(net(", a = 9007199254740992")).startswith("integer too large")
    assert check(net(", a = 9007199254740990 + 1")) is None
    assert check(net(", a = 9007199254740990 + 2")).startswith("integer too large")
    assert check(net(", a = -9007199254740990 - 1")) is None
    assert check(net(", a = -9007199254740990 - 2")).startswith("integer too large")


def test_a_layer_output_of_2_31_minus_1_elements_works_and_2_31_is_refused() -> None:
    # 2**31 - 1 is prime; 2**31 = 32768 * 32768 * 2
    assert check("network N(input = 2147483647x1x1) {\n}\n") is None
    assert check("network N(input = 32768x32768x2) {\n}\n") == (
        "layer 'input_layer': its output 32768x32768x2 has more than 2,147,483,647 elements per sample"
    )


def head(units: str, channels: int = 1) -> str:
    return f"network N(input = 1x1x{channels}) {{\n  head {{ flatten -> {units} }}\n}}\n"


def test_parameters_up_to_2_31_minus_1_work_and_2_31_are_refused() -> None:
    """Every back end allocates them (8 GiB of float32): refused by `check`, before any does."""
    assert check(head("dense(2147483647, use_bias=false)")) is None
    assert check(head("dense(1073741824, use_bias=false)", channels=2)) == (
        "layer 'dense': the network's parameters reach 2,147,483,648 here, over the limit of 2,147,483,647"
        " (8 GiB of float32)"
    )


def test_the_parameter_limit_counts_the_whole_network_at_the_layer_that_goes_over() -> None:
    two = 'dense(1073741823, use_bias=false) as "a" -> dense(1) as "b"'  # 1,073,741,823 + 1,073,741,824
    assert check(head(two)) is None
    assert check(head(two + ' -> dense(1) as "c"')).startswith(
        "layer 'c': the network's parameters reach 2,147,483,649 here"
    )


def test_conv_of_2_50_filters_is_a_check_error_before_any_back_end_allocates() -> None:
    spec = "network N(input = 1x1x3) {\n  stem { conv(1125899906842624, 1) }\n}\n"
    assert check(spec).startswith("layer 'conv': its output 1x1x1125899906842624 has more than 2,147,483,647")


def test_lines_of_10000_characters_work_and_10001_are_refused() -> None:
    assert check("#" * 10_000 + "\n" + net()) is None
    assert check("#" * 10_001 + "\n" + net()) == "line 1 is longer than 10,000 characters"


def test_imports_64_deep_work_and_65_are_refused(workdir: Path) -> None:
    def chain(levels: int) -> None:
        (workdir / "t.arch").write_text('import "i1.arch"\n' + net())
        for k in range(1, levels + 1):
            below = f'import "i{k + 1}.arch"\n' if k < levels else ""
            (workdir / f"i{k}.arch").write_text(below + BLOCK.replace("block b(", f"block q{k}("))

    chain(64)
    assert main(["check", "t.arch"]) == 0
    chain(65)
    assert main(["check", "t.arch"]) == 1


def test_check_of_a_file_stops_past_its_layer_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most `MAX_CHECKED_LAYERS` together (the value: 50,000; moved to 9 here, so the
    edge costs nothing): networks of 3 layers each, so three fit and the fourth is refused."""
    assert limits.MAX_CHECKED_LAYERS == 50_000
    monkeypatch.setattr(limits, "MAX_CHECKED_LAYERS", 9)
    three = net(body="  stem { relu }\n  head { flatten }\n")
    assert check(three + "".join(f"network N{i} = N()\n" for i in range(2))) is None
    assert (check(three + "".join(f"network N{i} = N()\n" for i in range(3))) or "").startswith(
        "the networks up to this one have more than 9 layers together"
    )


# --------------------------------------------------------------- block paths --


def test_ordering_5000_paths_is_fast() -> None:
    """Paths written in reverse order, each from the next: the old rescan took 25 s for 5,000."""
    count = 5000
    paths = "".join(f"  p{i} from p{i - 1} {{ relu }}\n" for i in range(count - 1, 0, -1))
    text = f"block big(filters) {{\n{paths}  p0 {{ relu }}\n  out = add(p{count - 1}, input)\n}}\n" + net()
    block = loads_program(text).main.blocks[0]
    started = time.process_time()  # CPU time: another process on the cores does not count
    order = path_order(block)
    assert time.process_time() - started < 1
    assert [path.name for path in order] == [f"p{i}" for i in range(count)]


# ------------------------------------------------------------------ graph --


def test_graphviz_is_given_1000_nodes_and_not_1001(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted before Graphviz runs (a 300-byte spec of 9,992 layers ran it for 205 s and 4 GB).
    A stand-in `dot` records that it ran, so the edge costs nothing."""
    fake = workdir / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\ncat > /dev/null\necho ran >> "$(dirname "$0")/log"\necho "<svg/>"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    for layers_, ok in ((1000, True), (1001, False)):
        stem = " -> ".join(["relu"] * (layers_ - 1))  # and the input layer
        (workdir / "t.arch").write_text(net(body=f"  stem {{ {stem} }}\n"))
        for expand in (["--expand"], []):
            assert main(["graph", "t.arch", *expand, "-o", "t.svg"]) == (0 if ok else 1)
    assert (workdir / "bin" / "log").read_text().count("ran") == 2
    assert main(["graph", "t.arch", "--expand", "-o", "t.dot"]) == 0  # no Graphviz, no limit


# ------------------------------------------------------------ text size --


def test_specs_of_250000_bytes_work_and_250001_are_refused(workdir: Path) -> None:
    def padded(size: int) -> str:
        text = net()
        padding = size - len(text)
        lines = ["#" * 9_999] * (padding // 10_000)
        rest = padding - 10_000 * len(lines)
        return "\n".join(lines) + "\n" + "#" * (rest - 1) + "\n" + text

    for size, status in ((250_000, 0), (250_001, 1)):
        (workdir / "t.arch").write_text(padded(size))
        assert (workdir / "t.arch").stat().st_size == size
        assert main(["check", "t.arch"]) == status
    assert check(padded(250_000)) is None
    assert check(padded(250_001)) == "the spec is larger than 250,000 bytes"


def test_a_spec_and_its_imports_are_held_to_the_size_limit_together(workdir: Path) -> None:
    """Two imports of 120,000 bytes each fit the per-file limit, but not the total one."""
    for name in ("a", "b", "c"):
        (workdir / f"{name}.arch").write_text(("#" * 9_999 + "\n") * 12)
    (workdir / "t.arch").write_text('import "a.arch"\nimport "b.arch"\n' + net())
    assert main(["check", "t.arch"]) == 0
    (workdir / "t.arch").write_text('import "a.arch"\nimport "b.arch"\nimport "c.arch"\n' + net())
    error = check_file(workdir / "t.arch")
    assert error is not None
    assert error.message == "the spec and its imports are larger than 250,000 characters together"
    assert error.span.line == 3


def check_file(path: Path) -> ArchError | None:
    try:
        load_program(path).check()
    except ArchError as error:
        return error
    return None


def test_describe_and_diff_of_many_networks_stop_where_check_does(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of 201 networks took `diff` 52 s: each command now expands at most
    `MAX_CHECKED_LAYERS` layers of a file (moved to 9: three networks of 3 layers fit)."""
    monkeypatch.setattr(limits, "MAX_CHECKED_LAYERS", 9)
    three = net(body="  stem { relu }\n  head { flatten }\n")
    (workdir / "ok.arch").write_text(three + "".join(f"network N{i} = N()\n" for i in range(2)))
    (workdir / "over.arch").write_text(three + "".join(f"network N{i} = N()\n" for i in range(3)))
    assert main(["describe", "ok.arch"]) == 0
    assert main(["diff", "ok.arch", "ok.arch"]) == 0
    capsys.readouterr()
    assert main(["describe", "over.arch"]) == 1
    assert main(["diff", "over.arch", "over.arch"]) == 2
    errors = capsys.readouterr().err.splitlines()
    expected = "over.arch:7:1: error: the networks up to this one have more than 9 layers together"
    assert [line for line in errors if "error" in line] == [expected, expected]


# ------------------------------------------------------------------- usage --


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--batch", "2147483647"], 0),
        (["--batch", "2147483648"], 2),
        (["--batch", "1" + "0" * 309], 2),  # was an OverflowError traceback
        (["--set", "=3"], 2),  # was exit 1, an error of the spec
        (["--set", "classes"], 2),
        (["--set", "input=8x8x3"], 0),
    ],
)
def test_usage_errors_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int) -> None:
    (workdir / "t.arch").write_text(net())
    try:
        code = main(["summary", "t.arch", *argv])
    except SystemExit as exit_:
        code = exit_.code
    assert code == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if status == 2:
        assert "usage: resnet-dsl summary" in err


def spread_list(two_digit: int) -> str:
    """A list written one item a line, that `fmt` joins into one line of 9,999 + `two_digit`
    characters: `network N(input = 8x8x3, v = [` (30) + 3,322 items, `, `-separated (9,964 + the
    extra digits) + `]) {}` (5: the empty body joins the line)."""
    items = ["10"] * two_digit + ["1"] * (3322 - two_digit)
    return "network N(input = 8x8x3, v = [\n" + ",\n".join(f"  {item}" for item in items) + "\n]) {\n}\n"


def test_fmt_joins_into_lines_of_10000_characters_and_refuses_10001() -> None:
    """fmt joined a long list into one line past the limit: its output failed `check`, exit 0."""
    from resnet_dsl.review.formatter import format_source

    formatted = format_source(spread_list(1))
    assert max(len(line) for line in formatted.split("\n")) == 10_000
    assert check(formatted) is None
    with pytest.raises(ArchError) as raised:
        format_source(spread_list(2), "t.arch")
    assert raised.value.render().splitlines()[0] == (
        "t.arch:1:1: error: formatted, this would be one line of 10,001 characters, over the limit of 10,000;"
        " nothing is written"
    )


def test_fmt_leaves_a_file_it_cannot_format_within_the_limit(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "t.arch").write_text(spread_list(3))
    assert main(["fmt", "t.arch"]) == 1
    assert (workdir / "t.arch").read_text() == spread_list(3)
    assert "over the limit of 10,000" in capsys.readouterr().err
