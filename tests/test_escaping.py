"""A spec's strings and comments cannot change the structure of what the tools print or draw.

Each report is made twice: from a spec whose comments and strings hold terminal escape
sequences, bidi overrides, line breaks, quotes and the delimiters of the format (DOT's `"]`,
Mermaid's `"`, markdown's `|`, HTML's `<script>`), and from the same spec with plain words in
their place. Whatever the hostile text, the terminal output holds no control character, and
every picture and table keeps the shape of the plain one (lines, rows, nodes, valid XML).
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.cli import main

HOSTILE_DOC = 'evil \x1b[2J\x1b]0;title\x07 "]; x [label="pwn"] | `tick` \u202e <script>x</script>'
HOSTILE_STRING = 'a\\"]; b[label=\\"x\x1b[31m<i>\\n| #quot; \u202e'
"""As written in the spec: the language's escapes `\\"` and `\\n` included."""

SPEC = """# DOC
block tagged(filters, tag = "STRING") {
  main { conv(filters, 3, padding=same) }
  out = add(main, shortcut)
}

# DOC
network N(input = 8x8x3, note = "STRING") {
  stem { conv(4, 3, padding=same) }
  stage s: tagged(4)
  head { global_avgpool }
}
"""


def _spec(tmp_path: Path, name: str, hostile: bool, kernel: int = 3) -> Path:
    text = SPEC.replace("DOC", HOSTILE_DOC if hostile else "plain words").replace(
        "STRING", HOSTILE_STRING if hostile else "plain"
    )
    path = tmp_path / name
    path.write_text(text.replace("conv(filters, 3", f"conv(filters, {kernel}"), encoding="utf-8")
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) in (0, 1), args
    return capsys.readouterr().out


def _terminal_safe(text: str) -> bool:
    return all(char == "\n" or char.isprintable() for char in text)


COMMANDS = [
    ["blocks", "{spec}"],
    ["blocks", "{spec}", "--markdown"],
    ["describe", "{spec}"],
    ["describe", "--textconv", "{spec}"],
    ["diff", "{spec}", "{other}"],
    ["diff", "{spec}", "{other}", "--format", "markdown"],
    ["check", "{spec}"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c).replace("{", "").replace("}", "") for c in COMMANDS])
def test_text_output_has_no_control_characters_and_the_plain_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    outputs = []
    for hostile in (True, False):
        spec = _spec(tmp_path, f"{hostile}.arch", hostile)
        other = _spec(tmp_path, f"{hostile}_other.arch", hostile, kernel=5)
        args = [part.format(spec=spec, other=other) for part in command]
        outputs.append(_run(capsys, *args))
    hostile_out, plain_out = outputs
    assert _terminal_safe(hostile_out), hostile_out
    assert len(hostile_out.splitlines()) == len(plain_out.splitlines())  # no forged line
    if "--markdown" in command:  # every row keeps its columns: a `|` in a doc is escaped
        columns = [len(re.findall(r"(?<!\\)\|", line)) for line in hostile_out.splitlines() if line.startswith("|")]
        assert len(set(columns)) == 1, hostile_out


@pytest.mark.parametrize("expand", [False, True])
def test_mermaid_labels_hold_no_quote_control_character_or_line_of_their_own(tmp_path: Path, expand: bool) -> None:
    from resnet_dsl.review.mermaid import to_mermaid

    hostile, plain = (
        to_mermaid(resnet_dsl.load(_spec(tmp_path, f"{h}.arch", h)), expand=expand) for h in (True, False)
    )
    assert _terminal_safe(hostile)
    assert len(hostile.splitlines()) == len(plain.splitlines())
    for line in hostile.splitlines():  # every label is one quoted string with no quote inside
        for found in re.findall(r'"[^"]*"', line):
            assert "\n" not in found


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_and_the_svg_graphviz_makes_of_it_keep_their_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raw ESC reached the SVG inside the block's label: not well-formed XML, so no picture."""
    shapes = []
    for hostile in (True, False):
        spec = _spec(tmp_path, f"{hostile}.arch", hostile)
        _run(capsys, "graph", str(spec), "-o", str(tmp_path / f"{hostile}.dot"))
        _run(capsys, "graph", str(spec), "-o", str(tmp_path / f"{hostile}.svg"))
        dot = (tmp_path / f"{hostile}.dot").read_text(encoding="utf-8")
        assert _terminal_safe(dot)
        root = ElementTree.fromstring((tmp_path / f"{hostile}.svg").read_bytes())  # well-formed XML
        nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
        shapes.append((len(dot.splitlines()), len(nodes)))
    assert shapes[0] == shapes[1]


def test_the_notebook_html_escapes_and_its_picture_is_xml(tmp_path: Path) -> None:
    from resnet_dsl.integrations.notebook import to_html

    network = resnet_dsl.load(_spec(tmp_path, 'x"<script>&.arch', True))
    html = to_html(network, picture=shutil.which("dot") is not None)
    assert "<script>" not in html and "\x1b" not in html
    if "<svg" in html:
        ElementTree.fromstring(html[html.index("<svg") : html.index("</svg>") + len("</svg>")])
