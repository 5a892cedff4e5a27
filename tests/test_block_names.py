"""Naming as data: a network's `names(block = PATTERN)` and a block call's `as` name its blocks."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl import ArchError
from resnet_dsl.review.formatter import format_source

SPEC = """
block b(f) {
  main {
    conv(f, 1) as "conv" -> bn as "BN"
  }
  out = add(main, input) as "add"
}

network N(input = 8x8x4) {
  defaults {
    names(block=PATTERN)
  }
  stage s1: b(4) as "first", b(4)
  stage s2: b(4) * 28
}

network M = N() {
  defaults {
    names(block="m{number}")
  }
}
"""


def blocks(pattern: str, network: str = "N") -> list[str]:
    net = resnet_dsl.loads(SPEC.replace("PATTERN", pattern), network=network)
    return [block.name for stage in net.stages for block in stage.blocks]


def test_fields() -> None:
    assert blocks('"block{stage_number}{block_letter}"')[:4] == ["first", "block1b", "block2a", "block2b"]
    assert blocks('"block{stage_number}{block_letter}"')[-3:] == ["block2z", "block2aa", "block2ab"]
    assert blocks('"block_{index}"')[:3] == ["first", "block_1", "block_2"]
    assert blocks('"x_stage_{stage_index}_block_{block_index}"')[2] == "x_stage_1_block_0"
    assert blocks('"{stage}_{block_number}"')[1] == "s1_2"
    net = resnet_dsl.loads(SPEC.replace("PATTERN", '"block_{index}"'), network="N")
    assert "block_1_BN" in {layer.name for layer in net.layers}  # the layers take the block's name


def test_a_derivation_states_its_own() -> None:
    assert blocks('"block_{index}"', network="M")[:3] == ["first", "m2", "m3"]


def test_without_names_keras_resnet_names() -> None:
    net = resnet_dsl.loads(SPEC.replace("    names(block=PATTERN)\n", ""), network="N")
    assert [block.name for block in net.stages[1].blocks][:2] == ["s2_block1", "s2_block2"]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('"block_{idx}"', "unknown field {idx}"),
        ('"block_{index"', "unbalanced brace"),
        ("3", "a block name pattern is a string"),
    ],
)
def test_pattern_errors_are_located(pattern: str, message: str) -> None:
    with pytest.raises(ArchError, match=message) as caught:
        resnet_dsl.loads(SPEC.replace("PATTERN", pattern), network="N")
    assert caught.value.span.line == 11


def test_a_call_pattern_is_checked_too() -> None:
    with pytest.raises(ArchError, match="unknown field") as caught:
        resnet_dsl.loads(SPEC.replace("PATTERN", '"b{index}"').replace('as "first"', 'as "f{nope}"'), network="N")
    assert caught.value.span.line == 13


def test_fmt_keeps_them() -> None:
    text = SPEC.replace("PATTERN", '"block_{index}"').lstrip("\n")
    assert format_source(text) == text
