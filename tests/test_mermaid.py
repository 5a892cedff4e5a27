"""Mermaid pictures: `graph -o net.mmd` and `diff --format markdown --picture`, checked by a
structural validator of the flowchart subset the package writes (every line one of node, edge,
subgraph, end, classDef, class; ids defined before use and unique; labels quoted and escaped)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from resnet_dsl.network.api import load
from resnet_dsl.network.loader import load_program
from resnet_dsl.review.graph import is_shortcut
from resnet_dsl.review.mermaid import label, to_mermaid
from tests.conftest import REPO, SHIPPED_SPECS

LABEL = r'"(?:[^"<#]|<br>|#\w+;)*"'
NODE = re.compile(rf"^(n\d+)(?:\[{LABEL}\]|\({LABEL}\))$")
EDGE = re.compile(rf"^(n\d+) (-->|-\.->)(?:\|{LABEL}\|)? (n\d+)$")
SUBGRAPH = re.compile(rf"^subgraph (n\d+)\[{LABEL}\]$")
CLASSDEF = re.compile(r"^classDef [a-z]+ [a-z-]+:[#\w .-]+(?:,[a-z-]+:[#\w .-]+)*$")
CLASS = re.compile(r"^class (n\d+(?:,n\d+)*) [a-z]+$")


def validate(chart: str) -> dict[str, list]:
    """Parse a flowchart as Mermaid would read the subset we write; fail on anything else."""
    lines = chart.splitlines()
    if lines[0] == "---":
        end = lines.index("---", 1)
        assert all(re.match(r"^title: [^:#\n]+$", line) for line in lines[1:end]), lines[1:end]
        lines = lines[end + 1 :]
    assert re.match(r"^flowchart (TB|LR)$", lines[0]), lines[0]
    nodes: list[str] = []
    subgraphs: list[str] = []
    edges: list[tuple[str, str, str]] = []
    classes: dict[str, list[str]] = {}
    defined_classes: set[str] = set()
    depth = 0
    for raw in lines[1:]:
        line = raw.strip()
        if match := NODE.match(line):
            assert match.group(1) not in nodes and match.group(1) not in subgraphs, f"duplicate id: {line}"
            nodes.append(match.group(1))
        elif match := EDGE.match(line):
            edges.append((match.group(1), match.group(2), match.group(3)))
        elif match := SUBGRAPH.match(line):
            assert match.group(1) not in nodes and match.group(1) not in subgraphs
            subgraphs.append(match.group(1))
            depth += 1
        elif line == "end":
            depth -= 1
            assert depth >= 0, "an end without a subgraph"
        elif match := CLASSDEF.match(line):
            defined_classes.add(line.split()[1])
        elif match := CLASS.match(line):
            classes.setdefault(line.split()[-1], []).extend(match.group(1).split(","))
        else:
            raise AssertionError(f"not a line of a flowchart: {raw!r}")
    assert depth == 0, "unclosed subgraph"
    for source, _, target in edges:
        assert source in nodes and target in nodes, f"edge to an undefined node: {source} -> {target}"
    for name, members in classes.items():
        assert name in defined_classes
        assert set(members) <= set(nodes)
    return {"nodes": nodes, "subgraphs": subgraphs, "edges": edges, "classes": classes}


ALL_SPECS = sorted({*SHIPPED_SPECS, *(p.relative_to(REPO).as_posix() for p in REPO.glob("specs/**/*.arch"))})


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_every_shipped_spec_draws_a_valid_chart(spec: str):
    for network in load_program(REPO / spec).check():  # every network the file defines
        chart = validate(to_mermaid(network))
        stem_and_head = [layer for layer in network.layers if layer.origin.section != "stage"]
        assert len(chart["nodes"]) == len(stem_and_head) + len(network.stages)
        assert len(chart["classes"]["stage"]) == len(network.stages)


@pytest.mark.parametrize(
    "spec",
    [
        "specs/seed/resnet50.arch",
        "specs/torchvision/resnet18.arch",
        "specs/timm/seresnet50.arch",
        "specs/keras/resnet50v2.arch",
    ],
)
def test_the_expanded_chart_draws_every_layer_and_dots_the_shortcuts(spec: str):
    network = load(REPO / spec)
    chart = validate(to_mermaid(network, expand=True))
    assert len(chart["nodes"]) == len(network.layers)
    by_name = {layer.name: layer for layer in network.layers}
    expected = [(by_name[source], layer) for layer in network.layers for source in layer.inputs]
    assert len(chart["edges"]) == len(expected)
    dotted = sum(1 for _, arrow, _ in chart["edges"] if arrow == "-.->")
    assert dotted == sum(1 for source, target in expected if is_shortcut(source, target)) > 0
    blocks = sum(len(stage.blocks) for stage in network.stages)
    assert len(chart["subgraphs"]) == len(network.stages) + blocks


def test_labels_escape_what_mermaid_would_read():
    text = label('a "quoted" <b> & #1 `x`\nsecond line')
    assert text == '"a #quot;quoted#quot; #lt;b#gt; #amp; #35;1 #96;x#96;<br>second line"'
    assert re.fullmatch(LABEL, text)


def test_graph_writes_mermaid_by_suffix_or_format(cli, tmp_path: Path):
    result = cli("graph", "specs/torchvision/resnet18.arch", "-o", str(tmp_path / "net.mmd"))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "net.mmd").read_text(encoding="utf-8")
    validate(text)
    assert text == to_mermaid(load(REPO / "specs/torchvision/resnet18.arch"))
    result = cli(
        "graph", "specs/torchvision/resnet18.arch", "--expand", "--format", "mermaid", "-o", str(tmp_path / "net.md")
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "net.md").read_text(encoding="utf-8") == to_mermaid(
        load(REPO / "specs/torchvision/resnet18.arch"), expand=True
    )
    result = cli("graph", "specs/torchvision/resnet18.arch", "-o", str(tmp_path / "net.txt"))
    assert result.returncode == 2 and ".mmd" in result.stderr


def _picture(markdown: str) -> str:
    match = re.search(r"```mermaid\n(.*?)```", markdown, re.DOTALL)
    assert match, markdown
    return match.group(1)


def test_diff_picture_marks_the_changed_stage(cli):
    result = cli("diff", "specs/keras/resnet50.arch", "specs/keras/resnet101.arch", "--format", "markdown", "--picture")
    assert result.returncode == 1, result.stderr
    chart = validate(_picture(result.stdout))
    labels = dict(re.findall(r'^\s*(n\d+)\["([^"]*)"\]$', _picture(result.stdout), re.MULTILINE))
    (changed,) = chart["classes"]["changed"]
    assert labels[changed].startswith("conv4<br>6 → 23 blocks")
    assert "params 7,129,088 → 26,199,552" in labels[changed]
    assert len(chart["classes"]["same"]) == 5  # stem, conv2, conv3, conv5, head
    assert [labels[n].split("<br>")[0] for n in chart["nodes"]] == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    assert len(chart["edges"]) == 5


def test_diff_picture_shows_added_and_removed_stages(cli, tmp_path: Path):
    old = (REPO / "specs/torchvision/resnet18.arch").read_text(encoding="utf-8")
    new = old.replace("  stage conv5: basic_projection(512), basic(512) * (depths[3] - 1)\n", "").replace(
        "  head {", "  stage extra: basic(256)\n  head {"
    )
    (tmp_path / "old.arch").write_text(old, encoding="utf-8")
    (tmp_path / "new.arch").write_text(new, encoding="utf-8")
    result = cli("diff", str(tmp_path / "old.arch"), str(tmp_path / "new.arch"), "--format", "markdown", "--picture")
    chart = validate(_picture(result.stdout))
    assert len(chart["classes"]["added"]) == 1 and len(chart["classes"]["removed"]) == 1
    assert "head<br>changed" in result.stdout  # the dense layer's input width changed


def test_picture_needs_markdown_and_a_change(cli):
    result = cli("diff", "specs/torchvision/resnet18.arch", "specs/torchvision/resnet34.arch", "--picture")
    assert result.returncode == 2 and "--format markdown" in result.stderr
    result = cli(
        "diff",
        "specs/torchvision/resnet18.arch",
        "specs/torchvision/resnet18.arch",
        "--format",
        "markdown",
        "--picture",
    )
    assert result.returncode == 0 and "mermaid" not in result.stdout


def test_the_chart_is_deterministic():
    network = load(REPO / "specs/seed/resnet50.arch")
    assert to_mermaid(network, expand=True) == to_mermaid(load(REPO / "specs/seed/resnet50.arch"), expand=True)


def test_diff_picture_names_a_renamed_stage(cli, tmp_path: Path):
    old = (REPO / "specs/torchvision/resnet18.arch").read_text(encoding="utf-8")
    (tmp_path / "old.arch").write_text(old, encoding="utf-8")
    (tmp_path / "new.arch").write_text(old.replace("stage conv5:", "stage layer4:"), encoding="utf-8")
    result = cli("diff", str(tmp_path / "old.arch"), str(tmp_path / "new.arch"), "--format", "markdown", "--picture")
    assert result.returncode == 1, result.stderr
    chart = validate(_picture(result.stdout))
    labels = dict(re.findall(r'^\s*(n\d+)\["([^"]*)"\]$', _picture(result.stdout), re.MULTILINE))
    (changed,) = chart["classes"]["changed"]
    assert labels[changed].startswith("conv5 → layer4 (renamed)<br>basic_projection, basic")
    assert not chart["classes"].get("added") and not chart["classes"].get("removed")
