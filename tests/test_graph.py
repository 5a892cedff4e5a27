"""`to_dot` and `resnet-dsl graph`: the structure of the picture, quoting, determinism, and
the Graphviz-or-not paths of the command."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from resnet_dsl.network.api import load
from resnet_dsl.network.loader import loads_program
from resnet_dsl.network.model import Network
from resnet_dsl.review.graph import is_shortcut, left_justified, quote, to_dot
from tests.conftest import REPO

RESNET50 = "specs/keras/resnet50.arch"
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
NODE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") \[', re.MULTILINE)
EDGE = re.compile(r'^\s*("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*") \[(.*)\];$', re.MULTILINE)


@pytest.fixture(scope="module")
def resnet50() -> Network:
    return load(REPO / RESNET50)


def _nodes(dot: str) -> list[str]:
    return [match for match in NODE.findall(dot) if not re.match(r'^\s*"[^"]*" ->', match)]


def _edges(dot: str) -> list[tuple[str, str, str]]:
    return EDGE.findall(dot)


def _well_formed(dot: str) -> None:
    """Every quote belongs to a complete string, and braces balance outside strings."""
    bare = STRING.sub("S", dot)
    assert '"' not in bare
    assert bare.count("{") == bare.count("}")
    assert dot.startswith("digraph ") and dot.endswith("}\n")


def test_collapsed_has_one_node_per_stage(resnet50: Network) -> None:
    dot = to_dot(resnet50)
    _well_formed(dot)
    nodes = _nodes(dot)
    assert [n for n in nodes if n.startswith('"stage:')] == [f'"stage:conv{i}"' for i in range(2, 6)]
    stem_and_head = [layer.name for layer in resnet50.layers if layer.origin.section != "stage"]
    assert [n.strip('"') for n in nodes if not n.startswith(('"stage:', '"block:'))] == stem_and_head
    assert (
        '"stage:conv4" [label="stage conv4\\n6 blocks: bottleneck_v1_projection, bottleneck_v1 * 5'
        '\\nout 14x14x1024\\n7,129,088 params"'
    ) in dot


def test_collapsed_edges_carry_shapes(resnet50: Network) -> None:
    edges = _edges(to_dot(resnet50))
    between = [(a, b, attrs) for a, b, attrs in edges if a.startswith('"stage:') or b.startswith('"stage:')]
    assert between == [
        ('"pool1_pool"', '"stage:conv2"', 'label="56x56x64"'),
        ('"stage:conv2"', '"stage:conv3"', 'label="56x56x256"'),
        ('"stage:conv3"', '"stage:conv4"', 'label="28x28x512"'),
        ('"stage:conv4"', '"stage:conv5"', 'label="14x14x1024"'),
        ('"stage:conv5"', '"avg_pool"', 'label="7x7x2048"'),
    ]
    assert all(attrs.startswith('label="') for _, _, attrs in edges)


def test_collapsed_shows_each_block_as_a_note_with_its_residual(resnet50: Network) -> None:
    dot = to_dot(resnet50)
    notes = [line for line in dot.splitlines() if 'shape="note"' in line]
    assert [line.split()[0] for line in notes] == ['"block:bottleneck_v1_projection"', '"block:bottleneck_v1"']
    projection, identity = notes
    # One definition: the shortcut projects where the shape changes, in both.
    assert "shortcut if project: conv(4 * filters, 1, stride=stride) -> bn\\l" in projection
    assert "project = stride != 1 or in_channels != 4 * filters\\l" in identity
    assert "out = add(shortcut, main) -> relu\\l" in identity


def test_expanded_draws_every_layer_in_stage_and_block_clusters(resnet50: Network) -> None:
    dot = to_dot(resnet50, expand=True)
    _well_formed(dot)
    assert [n.strip('"') for n in _nodes(dot)] == [layer.name for layer in resnet50.layers]
    assert dot.count('subgraph "cluster_stage:') == 4
    assert dot.count('subgraph "cluster_block:') == 16
    edges = _edges(dot)
    assert len(edges) == sum(len(layer.inputs) for layer in resnet50.layers)
    assert ('"conv2_block1_3_conv"', '"conv2_block1_3_bn"', 'label="56x56x256"') in edges


def test_expanded_draws_the_residual_connections_apart(resnet50: Network) -> None:
    edges = _edges(to_dot(resnet50, expand=True))
    dashed = [(a, b) for a, b, attrs in edges if 'style="dashed"' in attrs]
    adds = [layer.name for layer in resnet50.layers if layer.kind == "add"]
    assert len(adds) == 16
    # Each merge has exactly one incoming shortcut: a projection's last layer or the block input.
    assert sorted(b for a, b in dashed if b.endswith('_add"')) == sorted(f'"{name}"' for name in adds)
    assert ('"conv2_block1_0_bn"', '"conv2_block1_add"') in dashed
    assert ('"conv2_block1_out"', '"conv2_block2_add"') in dashed, "identity shortcut from the block input"
    assert ('"pool1_pool"', '"conv2_block1_0_conv"') in dashed, "into the projection shortcut"
    assert ('"conv2_block1_3_bn"', '"conv2_block1_add"') not in dashed, "the main path is not a shortcut"


def test_is_shortcut_on_a_preactivation_block() -> None:
    network = load(REPO / "tests/specs/resnet50v2.arch")
    by_name = {layer.name: layer for layer in network.layers}
    (add,) = [layer for layer in network.layers if layer.kind == "add" and layer.origin.block == "conv3_block2"]
    identity, main = add.inputs  # out = add(shortcut, main): the block's input, then the main path
    assert (identity, main) == ("conv3_block1_out", "conv3_block2_3_conv")
    assert is_shortcut(by_name[identity], add)
    assert not is_shortcut(by_name[main], add)


def test_dot_is_deterministic(resnet50: Network, cli, tmp_path: Path) -> None:
    assert to_dot(resnet50) == to_dot(load(REPO / RESNET50))
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"net{seed}.dot"
        result = cli("graph", RESNET50, "-o", str(out), "--expand", env={"PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1] == to_dot(resnet50, expand=True)


def test_quoting() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert left_justified(['say "hi"', "x\\y"]) == '"say \\"hi\\"\\lx\\\\y\\l"'


ODD = """
block odd(f) {
  main {
    conv(f, 3, padding=same) as "odd-conv.1" -> bn
  }
  out = add(main, shortcut) as "odd-add.1" -> relu
}

network Odd_Net(input = 8x8x4) {
  stem {
    c: conv(4, 1) as "stem-1.conv"
  }
  stage s: odd(4)
  head {
    global_avgpool -> dense(2) as "x-y.z"
  }
}
"""


def test_odd_names_are_quoted_and_escaped() -> None:
    network = loads_program(ODD, "odd.arch").expand()
    for expand in (False, True):
        dot = to_dot(network, expand=expand)
        _well_formed(dot)
        assert '"x-y.z" [label="x-y.z\\ndense 2"];' in dot
    assert '"s_block1_odd-add.1"' in to_dot(network, expand=True)
    assert 'as \\"odd-conv.1\\"' in to_dot(network), "quotes inside a note are escaped"


# ------------------------------------------------------------------- CLI --
needs_graphviz = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"),
    reason="Graphviz (dot) is not installed (CI installs it, so there these tests never skip)",
)


@needs_graphviz
@pytest.mark.parametrize("expand", [False, True])
def test_cli_renders_svg_with_graphviz(cli, tmp_path: Path, expand: bool) -> None:
    out = tmp_path / "net.svg"
    result = cli("graph", RESNET50, "-o", str(out), *(["--expand"] if expand else []))
    assert result.returncode == 0, result.stderr
    svg = out.read_text()
    assert "<svg" in svg and "stage conv4" in svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.svg"]


@needs_graphviz
def test_cli_renders_png_with_graphviz(cli, tmp_path: Path) -> None:
    out = tmp_path / "net.png"
    assert cli("graph", "specs/torchvision/resnet18.arch", "-o", str(out)).returncode == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_cli_without_graphviz_says_what_to_do(cli, tmp_path: Path) -> None:
    out = tmp_path / "net.svg"
    result = cli("graph", RESNET50, "-o", str(out), env={"PATH": ""})
    assert result.returncode == 1
    assert (
        "Graphviz is required for .svg/.png: install it (e.g. apt-get install graphviz) or write .dot" in result.stderr
    )
    assert not out.exists()


def test_cli_writes_dot_without_graphviz(cli, tmp_path: Path, resnet50: Network) -> None:
    out = tmp_path / "net.dot"
    result = cli("graph", RESNET50, "-o", str(out), env={"PATH": ""})
    assert result.returncode == 0, result.stderr
    assert out.read_text() == to_dot(resnet50)
    assert out.stat().st_mode & 0o044, "readable like any file the user writes, not 0600"


def test_cli_unknown_extension_is_a_usage_error(cli, tmp_path: Path) -> None:
    out = tmp_path / "net.pdf"
    result = cli("graph", RESNET50, "-o", str(out))
    assert result.returncode == 2
    assert "must end in .dot, .mmd, .svg or .png" in result.stderr
    assert not out.exists()


def test_cli_invalid_spec_is_a_located_error(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.arch"
    bad.write_text("network N(input = 8x8x3) {\n  stage a: nope(1)\n}\n")
    result = cli("graph", str(bad), "-o", str(tmp_path / "x.dot"))
    assert result.returncode == 1
    assert f"{bad}:2:12: error: unknown block 'nope'" in result.stderr
    assert not (tmp_path / "x.dot").exists()


def test_each_note_sits_beside_the_stage_that_first_uses_its_block(resnet50: Network) -> None:
    dot = to_dot(resnet50)
    ranks = re.findall(r"\{ rank=same; (\"[^\"]*\"); (\"[^\"]*\"); \}", dot)
    assert ranks == [
        ('"stage:conv2"', '"block:bottleneck_v1_projection"'),
        ('"stage:conv2"', '"block:bottleneck_v1"'),
    ]
    _well_formed(dot)


DEEP = """
block thin(f) {
  main { relu }
  out = add(main, shortcut)
}

network Deep(input = 4x4x2, classes = 2) {
  stage s1: thin(2) * 400
  head { global_avgpool -> dense(classes) }
}
"""


@needs_graphviz
def test_cli_warns_when_graphviz_shrinks_a_png(cli, tmp_path: Path) -> None:
    spec, out = tmp_path / "deep.arch", tmp_path / "deep.png"
    spec.write_text(DEEP)
    result = cli("graph", str(spec), "--expand", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    warning = re.search(
        r"warning: .*deep\.png is larger than Graphviz's bitmap limit .* shrank it to (\d+)%", result.stderr
    )
    assert warning is not None, result.stderr
    assert 0 < int(warning.group(1)) < 100
    assert f"write -o {tmp_path / 'deep.svg'} instead" in result.stderr
    small = cli("graph", "specs/torchvision/resnet18.arch", "-o", str(tmp_path / "small.png"))
    assert small.returncode == 0 and "warning" not in small.stderr
