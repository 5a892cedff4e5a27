"""Network -> what Jupyter shows for it: an HTML per-stage table with the picture as inline SVG
(where Graphviz's `dot` exists), Markdown with a Mermaid picture, or the summary as text.

`Network._repr_html_` and friends import this module only when a notebook asks, so loading a
network never pays for it. The figures are `summary.sections`, the same as `resnet-dsl summary`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html import escape

from resnet_dsl.analysis.summary import render_stages, sections
from resnet_dsl.network.model import Network

SVG_TIMEOUT = 30
"""Seconds Graphviz may take; a picture that takes longer is left out, the table stays."""

_HEADER = ("Section", "Blocks", "Output", "Params", "MACs", "Receptive field")
_RIGHT = {3, 4}


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _rows(network: Network) -> list[tuple[str, ...]]:
    compositions = {stage.label: stage.composition for stage in network.stages}
    rows = []
    for section in sections(network):
        name = section.name
        blocks = "" if section.blocks is None else f"{section.blocks}"
        if name in compositions and section.kind == "stage":
            blocks = f"{blocks}: {compositions[name]}"
        field = section.field.text() if section.field else "whole input"
        rows.append((name, blocks, _dims(section.output_shape), f"{section.params:,}", f"{section.macs:,}", field))
    return rows


def _totals(network: Network) -> str:
    total = network.total_params
    return (
        f"{total.total:,} parameters ({total.trainable:,} trainable) · {network.macs / 1e9:.2f} GMACs per sample · "
        f"{len(network.layers)} layers · input {_dims(network.input_shape)} → output {_dims(network.output_shape)}"
    )


def svg(network: Network) -> str | None:
    """The collapsed Graphviz picture as an inline `<svg>` element, or None without `dot`."""
    from resnet_dsl.review.graph import to_dot

    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        rendered = subprocess.run(
            [dot, "-Tsvg"], input=to_dot(network).encode(), capture_output=True, timeout=SVG_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if rendered.returncode != 0:
        return None
    text = rendered.stdout.decode("utf-8", errors="replace")
    start = text.find("<svg")
    return text[start:] if start >= 0 else None


def to_html(network: Network, picture: bool = True) -> str:
    """A heading, the per-stage table and totals, then the picture where Graphviz exists."""
    cell = "padding:2px 8px;text-align:{}"
    head = "".join(
        f'<th style="{cell.format("right" if i in _RIGHT else "left")}">{escape(h)}</th>' for i, h in enumerate(_HEADER)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="{cell.format("right" if i in _RIGHT else "left")}">{escape(value)}</td>'
            for i, value in enumerate(row)
        )
        + "</tr>"
        for row in _rows(network)
    )
    parts = [
        '<div class="resnet-dsl-network">',
        f"<p><strong>{escape(network.name)}</strong> <code>{escape(network.source)}</code><br>"
        f"{escape(_totals(network))}</p>",
        f'<table class="resnet-dsl-stages"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
    ]
    drawn = svg(network) if picture else None
    if drawn is not None:
        parts.append(f'<details><summary>picture</summary><div class="resnet-dsl-graph">{drawn}</div></details>')
    parts.append("</div>")
    return "\n".join(parts)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def _md(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def to_markdown(network: Network) -> str:
    """The per-stage table as Markdown, and the picture as Mermaid (JupyterLab and GitHub draw it)."""
    from resnet_dsl.review.mermaid import fenced, to_mermaid

    lines = [
        f"**{_md(network.name)}** `{network.source.replace('`', '')}`",
        "",
        _md(_totals(network)),
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|" + "|".join("--:" if i in _RIGHT else "---" for i in range(len(_HEADER))) + "|",
        *("| " + " | ".join(_md(value) for value in row) + " |" for row in _rows(network)),
        "",
        fenced(to_mermaid(network)),
    ]
    return "\n".join(lines)


def to_text(network: Network) -> str:
    """The summary as `resnet-dsl summary` prints it."""
    return render_stages(network)


_RENDERERS = {"text/html": to_html, "text/markdown": to_markdown, "text/plain": to_text}


def render(network: Network, mime: str) -> str | None:
    """The network's `_repr_*_` for one MIME type; registered as the `resnet_dsl.display` entry point."""
    renderer = _RENDERERS.get(mime)
    return renderer(network) if renderer else None
