"""Block docs from comments, `resnet-dsl blocks`, and the README's table of them."""

from __future__ import annotations

import re

import resnet_dsl
from resnet_dsl.cli.commands.blocks import render
from resnet_dsl.language import ir
from resnet_dsl.language.docs import one_line
from resnet_dsl.network.loader import loads_program, prelude
from tests.conftest import REPO

DOCUMENTED = """# Not this one: a blank line follows.

# A plain block. It adds.
# filters: output channels
# Still the block's doc.
block plain(
  filters,
  # the kernel
  # size
  kernel = 3,
  stride = 1,  # the stride
  dilation = 1
) {
  main { conv(filters, kernel, stride=stride, dilation=dilation, padding=same) }
  out = add(main, shortcut)
}

block bare(f) {
  main { conv(f, 1) }
  out = add(main, shortcut)
}
"""


def test_comments_become_docs() -> None:
    plain, bare = loads_program(DOCUMENTED, "t.arch").main.blocks
    assert plain.doc.text == "A plain block. It adds. Still the block's doc."
    assert one_line(plain.doc) == "A plain block."
    docs = {param.name: param.doc.text for param in plain.params}
    assert docs == {"filters": "output channels", "kernel": "the kernel size", "stride": "the stride", "dilation": ""}
    assert bare.doc.text == "" and bare.params[0].doc.text == ""


def test_docs_are_not_part_of_the_value() -> None:
    a = loads_program(DOCUMENTED, "t.arch").main
    b = loads_program(DOCUMENTED.replace("A plain block", "Another block"), "t.arch").main
    assert a.blocks[0].doc.text != b.blocks[0].doc.text
    assert a == b  # comments never change a spec


def test_every_prelude_block_and_parameter_is_documented() -> None:
    for block in prelude().blocks:
        assert one_line(block.doc), block.name
        # a derived block (`bottleneck_projection = bottleneck(stride=2)`) has its base's parameters
        assert isinstance(block, ir.DerivedBlock) or all(param.doc.text for param in block.params), block.name


def test_blocks_command(cli) -> None:
    result = cli("blocks")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [block.name for block in prelude().blocks]
    assert [line.split("(")[0] for line in lines[::2]] == names
    assert "bottleneck_projection(filters, stride = 2, groups = 1, base_width = 64)" in lines
    index = lines.index("bottleneck(filters, stride = 1, groups = 1, base_width = 64)")
    assert lines[index + 1].startswith(
        '    torchvision\'s Bottleneck, "ResNet v1.5": the stride sits on the 3x3 convolution'
    )


def test_blocks_of_a_file(cli, tmp_path) -> None:
    spec = tmp_path / "mine.arch"
    spec.write_text(DOCUMENTED)
    result = cli("blocks", str(spec))
    assert result.returncode == 0, result.stderr
    assert f"plain(filters, kernel = 3, stride = 1, dilation = 1)  ({spec}:6:1)\n    A plain block.\n" in result.stdout
    assert "    (no comment above its definition)" in result.stdout


def test_readme_lists_the_blocks_as_the_command_does() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = re.search(r"<!-- blocks: resnet-dsl blocks --markdown -->\n(.*?)\n<!-- /blocks -->", readme, re.S)
    assert table is not None
    assert table.group(1) == render(markdown=True)


def test_loaded_networks_keep_their_block_docs() -> None:
    network = resnet_dsl.load("specs/keras/resnet50.arch")
    assert one_line(network.blocks[0].doc).startswith("keras.applications ResNet v1's first")
