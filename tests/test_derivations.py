"""Block defaults from the network, derived blocks, and derived networks that edit their
parent's stem, head, defaults or stages; `fmt` and `diff` on each."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import loads_program, parse_module
from resnet_dsl.review.archdiff import diff
from resnet_dsl.review.diffreport import render_text
from resnet_dsl.review.formatter import format_source

BASE = """
block unit(filters, stride = 1, groups = 1, width = 8) {
  main {
    conv(width * groups, 3, stride=stride, padding=same, groups=groups) -> bn -> relu
    conv(filters, 1) -> bn
  }
  shortcut if stride != 1 or in_channels != filters {
    conv(filters, 1, stride=stride) -> bn
  }
  out = add(main, shortcut) -> relu
}

block down = unit(stride=2)

network Base(input = 16x16x3, classes = 4) {
  defaults {
    conv(use_bias=false)
  }
  stem {
    c1: conv(16, 3, padding=same) -> bn -> relu
  }
  stage s2: unit(16) * 2
  stage s3: down(32), unit(32)
  head {
    global_avgpool -> dense(classes) as "fc"
  }
}
"""


def load(extra: str = "", name: str | None = None, **overrides: object) -> resnet_dsl.Network:
    return loads_program(BASE + extra, "t.arch").expand(name, overrides or None)


def conv(network: resnet_dsl.Network, name: str):
    return network.layer(name).config


def test_a_derived_block_is_its_base_with_other_defaults() -> None:
    network = load()
    assert network.stages[1].blocks[0].block == "down"
    assert dict(network.stages[1].blocks[0].args)["stride"] == 2
    assert conv(network, "s3_block1_1_conv").strides == (2, 2)
    assert "s3_block1_0_conv" in [layer.name for layer in network.layers]
    assert [b.name for b in network.blocks] == ["unit", "down"]


def test_a_derived_block_keeps_its_base_through_a_chain() -> None:
    """The written-out block a derivation starts from stays with it (generated torch makes one
    class of both); a derivation of a derivation keeps the first block, with its own defaults."""
    unit, down = load().blocks
    assert unit.base is None and unit.kind_def is unit
    assert down.base == unit and down.kind_def.name == "unit"
    assert down.param("stride") != unit.param("stride")  # the derivation's default, the base's kept apart
    text = BASE.replace("s3: down(32)", "s3: grouped(32)") + "block grouped = down(groups = 2)\n"
    chained = loads_program(text, "t.arch").expand(None, None)
    assert [(b.name, b.kind_def.name) for b in chained.blocks] == [("unit", "unit"), ("grouped", "unit")]
    assert chained.blocks[1].base == unit


def test_block_defaults_apply_to_every_call_and_to_blocks_derived_from_it() -> None:
    network = load("network Grouped = Base() {\n  defaults {\n    unit(groups=4, width=2)\n  }\n}\n", "Grouped")
    for name in ("s2_block1_1_conv", "s3_block1_1_conv"):  # unit, and down = unit(stride=2)
        assert (conv(network, name).groups, conv(network, name).filters) == (4, 8)
    assert conv(network, "s2_block1_1_conv").use_bias is False  # the parent's layer defaults still hold


def test_a_call_and_a_derivation_win_over_block_defaults() -> None:
    text = """
network Wide = Base() {
  defaults {
    unit(width=4, stride=1)
  }
  stage s2: unit(16, width=2) * 2
}
"""
    network = load(text, "Wide")
    assert conv(network, "s2_block1_1_conv").filters == 2  # the call's own argument
    assert conv(network, "s3_block2_1_conv").filters == 4  # the network's block default
    assert conv(network, "s3_block1_1_conv").strides == (2, 2)  # down sets stride itself


def test_an_editing_derivation_replaces_the_head_and_diff_shows_just_that() -> None:
    text = """
network Drop = Base(classes = 10) {
  head {
    global_avgpool -> dropout(0.5) -> dense(classes) as "fc"
  }
}
"""
    parent, child = load(), load(text, "Drop")
    assert [layer.name for layer in child.section("head")] == ["avg_pool", "dropout", "fc"]
    assert child.layers[: len(parent.layers) - 2] == parent.layers[: len(parent.layers) - 2]
    change = diff(parent, child)
    assert [c.name for c in change.head if c.status == "added"] == ["dropout"]
    assert [c.name for c in change.head if c.status == "changed"] == ["fc"]
    assert change.stages == () and change.stem == ()
    report = render_text(change)
    assert "dropout" in report


def test_an_editing_derivation_replaces_a_stage_and_the_stem() -> None:
    text = """
network Edited = Base() {
  stem {
    c1: conv(8, 3, padding=same) -> relu
  }
  stage s3: down(64)
}
"""
    network = load(text, "Edited")
    assert [layer.name for layer in network.section("stem")] == ["c1_conv", "c1_relu"]
    assert [b.name for b in network.stages[1].blocks] == ["s3_block1"]
    assert network.output_shape == (4,)


def test_derivations_chain_and_the_outermost_edit_wins() -> None:
    text = """
network A = Base() {
  head {
    global_maxpool -> dense(classes) as "fc"
  }
}

network B = A(classes = 2) {
  stage s2: unit(16)
}
"""
    network = load(text, "B")
    assert network.section("head")[0].kind == "global_maxpool"
    assert len(network.stages[0].blocks) == 1
    assert network.output_shape == (2,)


def test_a_derivation_adds_and_removes_stages_and_diff_says_so() -> None:
    text = """
network Deeper = Base() {
  stage s4 after s3: down(64), unit(64)
  stage s1 before s2: unit(16)
}

network Shorter = Deeper() {
  remove stage s2
}
"""
    parent, deeper, shorter = load(), load(text, "Deeper"), load(text, "Shorter")
    assert [stage.label for stage in deeper.stages] == ["s1", "s2", "s3", "s4"]
    assert [stage.label for stage in shorter.stages] == ["s1", "s3", "s4"]
    assert deeper.output_shape == (4,) and deeper.layer("s4_block1_0_conv").config.filters == 64
    assert [layer.name for layer in shorter.layers if layer.origin.stage == "s2"] == []
    change = diff(parent, deeper)
    assert {(stage.label, stage.status) for stage in change.stages} >= {("s1", "added"), ("s4", "added")}
    removed = diff(deeper, shorter)
    assert [(stage.label, stage.status) for stage in removed.stages] == [("s2", "removed")]
    report = render_text(removed)
    assert "- s2: 2 blocks" in report


def test_fmt_keeps_added_and_removed_stages() -> None:
    text = "network D=Base(){stage s4 after s3:unit(8)\nremove  stage s2}\n"
    expected = "network D = Base() {\n  stage s4 after s3: unit(8)\n  remove stage s2\n}\n"
    assert format_source(text) == expected
    assert parse_module(expected) == parse_module(text)


@pytest.mark.parametrize(
    ("extra", "message", "hint"),
    [
        ("network X = Base() {\n  stage s9: unit(8)\n}\n", "has no stage 's9' to replace", "s2, s3"),
        ("network X = Base() {\n  stage s9: unit(8)\n}\n", "has no stage 's9' to replace", "stage s9 after s3: ..."),
        ("network X = Base() {\n  stage s3 after s2: unit(8)\n}\n", "already has a stage 's3'", "to replace it"),
        ("network X = Base() {\n  stage s4 after s5: unit(8)\n}\n", "no stage 's5' to add 's4' after", None),
        ("network X = Base() {\n  remove stage s7\n}\n", "has no stage 's7' to remove", "s2, s3"),
        ("network X(input = 8x8x3) {\n  remove stage s2\n}\n", "derives from nothing", "only a derived network"),
        ("network X = Base() {\n  defaults {\n    unit(grups=2)\n  }\n}\n", "has no parameter 'grups'", "groups"),
        ("network X = Base() {\n  defaults {\n    unti(groups=2)\n  }\n}\n", "unknown layer or block 'unti'", "unit"),
        ("network X = Base() {\n  defaults {\n    unit(2)\n  }\n}\n", "named options only", None),
        ("block loop = loop(stride=1)\nnetwork X = Base() {\n  stage s2: loop(8)\n}\n", "derives from itself", None),
        ("block d2 = nothing(stride=1)\nnetwork X = Base() {\n  stage s2: d2(8)\n}\n", "unknown block 'nothing'", None),
        ("block d3 = unit(strid=1)\nnetwork X = Base() {\n  stage s2: d3(8)\n}\n", "no parameter 'strid'", "stride"),
    ],
)
def test_located_errors(extra: str, message: str, hint: str | None) -> None:
    with pytest.raises(ArchError) as caught:
        load(extra, "X")
    assert message in caught.value.message
    assert caught.value.span.line > BASE.count("\n")  # in the added text
    if hint is not None:
        assert caught.value.hint is not None and hint in caught.value.hint


def test_fmt_lays_out_derived_blocks_and_editing_derivations() -> None:
    text = (
        "block  down=unit( stride = 2 )\n"
        "network Drop=Base(classes=10){head{global_avgpool->dropout(0.5)->dense(classes)}"
        "defaults{unit(groups=2)}}\n"
    )
    expected = (
        "block down = unit(stride=2)\n\n"
        "network Drop = Base(classes = 10) {\n"
        "  head {\n"
        "    global_avgpool -> dropout(0.5) -> dense(classes)\n"
        "  }\n"
        "  defaults {\n"
        "    unit(groups=2)\n"
        "  }\n"
        "}\n"
    )
    assert format_source(text) == expected
    assert parse_module(expected) == parse_module(text)
