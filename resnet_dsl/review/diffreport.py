"""An `ArchDiff` as a report: text for a terminal, markdown for a pull request, JSON for tools.

Also `describe`, one network as canonical text, line by line, which is what git's textconv
compares: so `git diff` on a spec shows architectural changes, not layout.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.analysis.memory import size_text
from resnet_dsl.analysis.tables import aligned
from resnet_dsl.language.errors import printable
from resnet_dsl.network.model import Layer, Network
from resnet_dsl.review.archdiff_costs import section_layers
from resnet_dsl.review.archdiff_result import JSON_FORMAT, ArchDiff, CostRow, Delta, LayerChange, StageDiff, ValueChange
from resnet_dsl.review.archdiff_text import block_text, layer_summary, plain, value_text
from resnet_dsl.review.formatter import item_text, layer_text

ARROW = "->"
"""Text's arrow; markdown writes `→` everywhere instead (spec text in `diff` fences aside)."""
MARKDOWN_ARROW = "→"


# ------------------------------------------------------------- render --
def shape_text(shape: Sequence[int] | None) -> str:
    return "-" if shape is None else "x".join(map(str, shape))


_SHAPES = ("input", "output", "output_shape")


def _change_text(change: ValueChange, arrow: str = ARROW) -> str:
    show = shape_text if change.name in _SHAPES else value_text
    if change.status == "added":
        return f"{change.name}: added, {show(change.new)}"
    if change.status == "removed":
        return f"{change.name}: removed (was {show(change.old)})"
    return f"{change.name}: {show(change.old)} {arrow} {show(change.new)}"


def _signed(number: int) -> str:
    return f"{number:+,}"


def delta_text(delta: Delta, arrow: str = ARROW) -> str:
    """`25,636,712 -> 44,707,176 (+19,070,464, +74.39%)`."""
    if not delta.difference:
        return f"{delta.new:,} (unchanged)"
    percent = f", {delta.percent:+.2f}%" if delta.percent is not None else ""
    return f"{delta.old:,} {arrow} {delta.new:,} ({_signed(delta.difference)}{percent})"


@dataclass(frozen=True)
class _Entry:
    """One line of the report: `+` added, `-` removed, `~` changed, `` for a remark."""

    mark: str
    text: str
    depth: int = 0


def _span(first: str, last: str, count: int) -> str:
    return first if count == 1 else f"{first}..{last} ({count} blocks)"


def _changed(name: str, changes: Iterable[ValueChange], arrow: str = ARROW) -> str:
    return f"{name}: " + "; ".join(_change_text(c, arrow) for c in changes)


def _types(composition: str) -> list[str]:
    """The block types of a composition without their counts: did only the depth change?"""
    return [part.split(" * ")[0] for part in composition.split(", ")]


def _stage_entries(stage: StageDiff, arrow: str = ARROW, *, definitions_changed: bool = False) -> list[_Entry]:
    if stage.status == "added":
        return [_Entry("+", f"{stage.label}: {stage.blocks.new} blocks ({stage.composition_new})")]
    if stage.status == "removed":
        return [_Entry("-", f"{stage.label}: {stage.blocks.old} blocks ({stage.composition_old})")]
    if stage.status == "renamed":
        text = f"{stage.old_label} {arrow} {stage.label}: renamed, {stage.blocks.new} blocks unchanged"
        return [_Entry("~", f"{text} ({stage.composition_new})")]
    text = f"{stage.label}: {stage.blocks.new} blocks"
    if stage.blocks.difference:
        blocks = f"{stage.blocks.old} {arrow} {stage.blocks.new} blocks ({_signed(stage.blocks.difference)})"
        text = f"{stage.label}: {blocks}"
    if _types(stage.composition_old) != _types(stage.composition_new):
        text += f"; {stage.composition_old} {arrow} {stage.composition_new}"
    entries = [_Entry("~", text)]
    input_changed = stage.input_shape_old != stage.input_shape_new
    if input_changed:
        shapes = f"{shape_text(stage.input_shape_old)} {arrow} {shape_text(stage.input_shape_new)}"
        source = {None: "the section before it", "input": "the network's input", "stem": "the stem"}.get(
            stage.input_from, stage.input_from
        )
        entries.append(_Entry("", f"input: {shapes} (from {source})", 1))
    if stage.output_shape_old != stage.output_shape_new:
        shapes = f"{shape_text(stage.output_shape_old)} {arrow} {shape_text(stage.output_shape_new)}"
        entries.append(_Entry("", f"output: {shapes}", 1))
    for change in stage.paths:
        mark = "+" if change.status == "added" else "-"
        where = _span(change.first, change.last, change.count)
        entries.append(_Entry(mark, f"path {change.path} in {where}", 1))
    for run in stage.runs:
        where = _span(run.first, run.last, run.count)
        if run.status == "added":
            entries.append(_Entry("+", f"{where}: {run.new}", 1))
        elif run.status == "removed":
            entries.append(_Entry("-", f"{where}: {run.old}", 1))
        else:
            entries.append(_Entry("~", _changed(where, run.changes, arrow), 1))
    if not stage.runs and (stage.layers_added or stage.layers_removed or stage.layers_changed):
        counts = f"{stage.layers_changed} changed, {stage.layers_added} added, {stage.layers_removed} removed"
        causes = [
            *(["the input"] if input_changed else []),
            *(["the block definitions or defaults"] if definitions_changed or not input_changed else []),
        ]
        entries.append(_Entry("", f"layers: {counts}, since {' and '.join(causes)} changed", 1))
    return entries


def _layer_entries(changes: Iterable[LayerChange], arrow: str = ARROW) -> list[_Entry]:
    entries = []
    for change in changes:
        if change.status == "added":
            entries.append(_Entry("+", f"{change.name}: {change.new}"))
        elif change.status == "removed":
            entries.append(_Entry("-", f"{change.name}: {change.old}"))
        else:
            entries.append(_Entry("~", _changed(change.name, change.fields, arrow)))
    return entries


def _network_entries(result: ArchDiff, arrow: str = ARROW) -> list[_Entry]:
    entries = [_Entry("~", _change_text(c, arrow)) for c in result.parameters]
    # The `input` parameter, where there is one, already says how the input shape changed.
    shown = {c.name for c in result.parameters}
    for name, change in (("input shape", result.input_shape), ("output shape", result.output_shape)):
        if change is not None and not (name == "input shape" and "input" in shown):
            entries.append(_Entry("~", f"{name}: {shape_text(change.old)} {arrow} {shape_text(change.new)}"))
    return entries


def _sections(result: ArchDiff, arrow: str = ARROW) -> list[tuple[str, list[_Entry], bool]]:
    """(title, entries, is_a_diff) for each part of the diff that has something to say."""
    definitions_changed = bool(result.defaults or result.definitions)
    stages = [
        entry
        for stage in result.stages
        for entry in _stage_entries(stage, arrow, definitions_changed=definitions_changed)
    ]
    parts = [
        ("Network", _network_entries(result, arrow), False),
        ("Defaults", [_Entry("", line) for line in result.defaults], True),
        ("Stem", _layer_entries(result.stem, arrow), False),
        ("Stages", stages, False),
        ("Head", _layer_entries(result.head, arrow), False),
    ]
    parts += [
        (f"Block {d.name} ({d.status})", [_Entry("", line) for line in d.lines], True) for d in result.definitions
    ]
    return [part for part in parts if part[1]]


def _percent(delta: Delta) -> str:
    if not delta.difference:
        return ""
    return "new" if delta.percent is None else f"{delta.percent:+.2f}%"


def _section_name(row: CostRow, arrow: str = ARROW) -> str:
    return row.section if row.old_section is None else f"{row.old_section} {arrow} {row.section}"


def _cost_cells(row: CostRow, arrow: str = ARROW) -> list[str]:
    cells = [_section_name(row, arrow)]
    for delta in (row.params, row.macs):
        cells += [f"{delta.old:,}", f"{delta.new:,}", _signed(delta.difference) if delta.difference else "0"]
        cells.append(_percent(delta))
    return cells


def _pixels_text(value: int | float) -> str:
    return "-" if not value else f"{value:,g}"


def _memory_cells(row: CostRow, arrow: str = ARROW) -> list[str]:
    """Receptive field (px, the larger axis) and activation bytes per sample of one section."""
    cells = [_section_name(row, arrow)]
    field = row.receptive_field
    if field is None:
        cells += ["-", "-", ""]
    else:
        change = f"{field.difference:+,g}" if field.difference else "0"
        cells += [_pixels_text(field.old), _pixels_text(field.new), change]
    delta = row.activations
    cells += [size_text(int(delta.old)), size_text(int(delta.new))]
    cells += [_signed_size(int(delta.difference)), _percent(delta)]
    return cells


def _signed_size(count: int) -> str:
    if not count:
        return "0"
    return ("+" if count > 0 else "-") + size_text(abs(count))


_COST_HEADER = ["section", "params old", "params new", "change", "%", "MACs old", "MACs new", "change", "%"]
_MEMORY_HEADER = ["section", "field old", "field new", "change", "activations old", "activations new", "change", "%"]
MEMORY_TITLE = "Receptive field (px) and activations (per sample, float32)"


def render_text(result: ArchDiff) -> str:
    """For a terminal: one heading per part that changed, then the cost table."""
    head = f"{result.old_name} ({result.old_source}) -> {result.new_name} ({result.new_source})"
    if not result.changed:
        return f"{head}\nno architectural change"
    out = [head]
    for title, entries, _ in _sections(result):
        out += ["", title]
        out += ["  " + "  " * e.depth + (f"{e.mark} " if e.mark else "") + e.text for e in entries]
    out += ["", "Parameters and MACs"]
    out += ["  " + line for line in aligned([_COST_HEADER, *map(_cost_cells, result.costs)])]
    out += ["", MEMORY_TITLE]
    out += ["  " + line for line in aligned([_MEMORY_HEADER, *map(_memory_cells, result.costs)])]
    out += [
        "",
        f"Layers: {delta_text(result.layers)}",
        f"Parameters: {delta_text(result.total.params)}",
        f"MACs: {delta_text(result.total.macs)}",
        *_memory_lines(result),
    ]
    return "\n".join(out)


def _memory_lines(result: ArchDiff, arrow: str = ARROW) -> list[str]:
    """The receptive field and activation totals, where they changed."""
    lines = []
    field = result.total.receptive_field
    if field is not None and field.difference:
        lines.append(f"Receptive field: {field.old:,} {arrow} {field.new:,} px ({field.difference:+,})")
    delta = result.total.activations
    if delta.difference:
        sizes = f"{size_text(int(delta.old))} {arrow} {size_text(int(delta.new))}"
        percent = f", {delta.percent:+.2f}%" if delta.percent is not None else ""
        lines.append(f"Activations: {sizes} per sample ({_signed_size(int(delta.difference))}{percent})")
    return lines


_MARKDOWN_MARKS = {"+": "added ", "-": "removed ", "~": "", "": ""}


def render_markdown(result: ArchDiff) -> str:
    """For a pull request: headings, bullet lists, `diff` fences and a per-section cost table."""
    arrow = MARKDOWN_ARROW
    out = [f"### Architecture: {printable(result.old_name)} {arrow} {printable(result.new_name)}", ""]
    out += [f"`{printable(result.old_source)}` {arrow} `{printable(result.new_source)}`", ""]
    if not result.changed:
        return "\n".join([*out, "No architectural change."])
    out += [
        f"- **Parameters:** {delta_text(result.total.params, arrow)}",
        f"- **MACs:** {delta_text(result.total.macs, arrow)}",
        f"- **Layers:** {delta_text(result.layers, arrow)}",
        *(f"- **{line.replace(': ', ':** ', 1)}" for line in _memory_lines(result, arrow)),
    ]
    for title, entries, is_diff in _sections(result, arrow):
        out += ["", f"#### {title}", ""]
        # A spec's strings are escaped to one line each (`\n` shown as such): a value cannot
        # start a paragraph, heading or fence of its own and forge "No architectural change."
        if is_diff:
            out += ["```diff", *(printable(e.text) for e in entries), "```"]
        else:
            out += ["  " * e.depth + f"- {_MARKDOWN_MARKS[e.mark]}{printable(e.text)}" for e in entries]
    out += ["", "#### Parameters and MACs per section", ""]
    out += _markdown_table(_COST_HEADER, [(row, _cost_cells(row, arrow)) for row in result.costs])
    out += ["", f"#### {MEMORY_TITLE}", ""]
    out += _markdown_table(_MEMORY_HEADER, [(row, _memory_cells(row, arrow)) for row in result.costs])
    return "\n".join(out)


def _markdown_table(header: list[str], rows: list[tuple[CostRow, list[str]]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *["--:"] * (len(header) - 1)]) + "|"]
    for row, cells in rows:
        if row.section == "total":
            cells = [f"**{cell}**" if cell else cell for cell in cells]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_json(result: ArchDiff) -> str:
    """The whole diff as JSON: fixed key order, no timestamps, the same bytes every run."""
    data = {"format": JSON_FORMAT, **json_data(result)}
    return json.dumps(data, indent=2, ensure_ascii=False)


def json_data(value: Any) -> Any:
    """A record as JSON values, fields in declaration order; a `Delta` with its change."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {field.name: json_data(getattr(value, field.name)) for field in dataclasses.fields(value)}
        if isinstance(value, Delta):
            data.update(difference=value.difference, percent=value.percent)
        return data
    if isinstance(value, (tuple, list)):
        return [json_data(item) for item in value]
    return value


# ----------------------------------------------------------- describe --
def describe(network: Network) -> str:
    """One network as canonical, line-oriented text: parameters, each stem and head layer,
    each block instance, the block definitions, with shapes, parameters and MACs.

    What `git diff` shows through `resnet-dsl describe --textconv`: two of these differ
    line by line exactly where the architectures differ, and never by layout or comments.
    No file names appear, since git hands textconv a temporary copy under a random name.
    """
    groups = section_layers(network)
    total = network.total_params
    out = [f"network {network.name}"]
    out += [f"  {name} = {_param_text(name, plain(value))}" for name, value in network.params]
    out += [
        f"input {shape_text(network.input_shape)} -> output {shape_text(network.output_shape)}",
        f"params {total.total:,} (trainable {total.trainable:,}, non-trainable {total.non_trainable:,})",
        f"MACs {network.macs:,}",
        f"layers {len(network.layers)}",
    ]
    if network.defaults:
        out += ["", "defaults", *(f"  {layer_text(d)}" for d in network.defaults)]
    out += ["", _cost_line("stem", groups.get("stem", [])), *_layer_lines(groups.get("stem", []))]
    for stage in network.stages:
        layers = groups.get(stage.label, [])
        shape = shape_text(stage.blocks[-1].output_shape) if stage.blocks else "-"
        out += ["", _cost_line(f"stage {stage.label}: {len(stage.blocks)} blocks -> {shape}", layers)]
        out += [f"  {b.name}: {block_text(b)} -> {shape_text(b.output_shape)}" for b in stage.blocks]
    out += ["", _cost_line("head", groups.get("head", [])), *_layer_lines(groups.get("head", []))]
    for block in network.blocks:
        out += ["", item_text(block)]
    return "\n".join(out)


def _param_text(name: str, value: Any) -> str:
    return shape_text(value) if name == "input" and isinstance(value, list) else value_text(value)


def _cost_line(title: str, layers: Sequence[Layer]) -> str:
    params = sum(layer.params.total for layer in layers)
    return f"{title} (params {params:,}, MACs {sum(layer.macs for layer in layers):,})"


def _layer_lines(layers: Sequence[Layer]) -> list[str]:
    lines = []
    for layer in layers:
        params = f", {layer.params.total:,} params" if layer.params.total else ""
        lines.append(f"  {layer.name}: {layer_summary(layer)} -> {shape_text(layer.output_shape)}{params}")
    return lines
