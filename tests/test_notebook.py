"""Networks in Jupyter: IPython's own display formatter gets an HTML per-stage table (with the
picture as inline SVG where Graphviz exists), Markdown with a Mermaid picture, and text."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from IPython.core.formatters import DisplayFormatter

from resnet_dsl.analysis.summary import render_stages, sections
from resnet_dsl.network.api import load
from resnet_dsl.network.model import Network
from tests.conftest import REPO


class _Table(HTMLParser):
    """The cells of every row of the stage table, and whether an <svg> is present."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.in_cell = False
        self.svg = False
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ("br", "path", "polygon", "ellipse", "polyline"):
            self.open.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.in_cell = True
            self.rows[-1].append("")
        elif tag == "svg":
            self.svg = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.in_cell = False
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.rows[-1][-1] += data


@pytest.fixture(scope="module")
def resnet50() -> Network:
    return load(REPO / "specs/keras/resnet50.arch")


def _bundle(network: Network) -> dict[str, str]:
    data, _ = DisplayFormatter().format(network)
    return data


def test_ipython_gets_html_markdown_and_text(resnet50: Network):
    bundle = _bundle(resnet50)
    assert {"text/html", "text/markdown", "text/plain"} <= set(bundle)
    assert bundle["text/plain"] == render_stages(resnet50)


def test_the_html_table_holds_the_summarys_figures(resnet50: Network):
    table = _Table()
    table.feed(_bundle(resnet50)["text/html"])
    header, *rows = table.rows
    assert header == ["Section", "Blocks", "Output", "Params", "MACs", "Receptive field"]
    expected = sections(resnet50)
    assert [row[0] for row in rows] == [section.name for section in expected]
    for row, section in zip(rows, expected, strict=True):
        assert row[2] == "x".join(map(str, section.output_shape))
        assert row[3] == f"{section.params:,}"
        assert row[4] == f"{section.macs:,}"
    conv4 = rows[[row[0] for row in rows].index("conv4")]
    assert conv4[1] == "6: bottleneck_v1_projection, bottleneck_v1 * 5"
    assert sum(int(row[3].replace(",", "")) for row in rows) == resnet50.total_params.total == 25_636_712


@pytest.mark.skipif(shutil.which("dot") is None, reason="CI installs Graphviz (apt-get install graphviz)")
def test_the_html_embeds_the_picture_where_graphviz_exists(resnet50: Network):
    html = _bundle(resnet50)["text/html"]
    table = _Table()
    table.feed(html)
    assert table.svg
    assert "<?xml" not in html and "<!DOCTYPE" not in html
    assert "stage conv4" in html


def test_without_graphviz_the_html_is_the_table_alone(resnet50: Network, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None)
    html = _bundle(resnet50)["text/html"]
    table = _Table()
    table.feed(html)
    assert not table.svg
    assert len(table.rows) == len(sections(resnet50)) + 1


def test_markdown_has_the_table_and_a_mermaid_picture(resnet50: Network):
    markdown = _bundle(resnet50)["text/markdown"]
    assert "| Section | Blocks | Output | Params | MACs | Receptive field |" in markdown
    assert "| conv4 | 6: bottleneck\\_v1\\_projection, bottleneck\\_v1 \\* 5 | 14x14x1024 |" in markdown
    assert "```mermaid\n" in markdown and markdown.rstrip().endswith("```")


def test_loading_a_network_does_not_import_the_renderers():
    code = (
        "import sys, resnet_dsl; resnet_dsl.load('specs/torchvision/resnet18.arch');"
        "print(sorted(m for m in sys.modules if m in ('resnet_dsl.integrations.notebook',"
        " 'resnet_dsl.review.mermaid', 'html')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
