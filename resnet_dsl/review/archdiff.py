"""Two expanded networks -> what changed in the architecture, and what it costs.

A text diff of two specs says `depths = [3, 4, 6, 3]` became `[3, 4, 23, 3]`; a reviewer
wants to know that stage conv4 now has 23 blocks instead of 6 and 19 million more
parameters. So this compares the expanded, validated networks, never the text: layout and
comments cannot show up, and every consequence (shapes, parameters, MACs) is computed, not
guessed. The result is a typed `ArchDiff` (`archdiff_result`), with the costs of each
section (`archdiff_costs`); `diffreport` presents it as text, markdown (for a pull request)
or JSON (stable keys, deterministic).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from resnet_dsl.network.model import BlockInstance, Layer, Network, StageInstance
from resnet_dsl.review.archdiff_costs import Sides, section_layers, section_of
from resnet_dsl.review.archdiff_result import (
    ArchDiff,
    BlockRun,
    DefinitionDiff,
    Delta,
    LayerChange,
    PathChange,
    StageDiff,
    Status,
    ValueChange,
)
from resnet_dsl.review.archdiff_text import block_text, composition, config_items, layer_summary, plain
from resnet_dsl.review.formatter import item_text, layer_text


def diff(old: Network, new: Network, *, old_source: str | None = None, new_source: str | None = None) -> ArchDiff:
    """What changed from `old` to `new`, section by section, with the costs of both.

    `old_source` / `new_source` name the two sides in the output (default: the networks'
    own source files), e.g. the paths given on the command line.
    """
    old_groups, new_groups = section_layers(old), section_layers(new)
    renamed = _renames(old, new, old_groups, new_groups)  # new label -> old label
    new_label = {before: after for after, before in renamed.items()}
    labels = _merge_order([new_label.get(s.label, s.label) for s in old.stages], [s.label for s in new.stages])
    old_stages = {s.label: s for s in old.stages}
    new_stages = {s.label: s for s in new.stages}
    sides = Sides(old, new, old_groups, new_groups)
    stages = [_stage(label, renamed.get(label, label), old_stages, new_stages.get(label), sides) for label in labels]
    costs = [sides.cost("stem", "stem")]
    costs += [sides.cost(renamed.get(label, label), label) for label in labels]
    costs += [sides.cost("head", "head"), sides.cost("total", "total")]
    return ArchDiff(
        old_name=old.name,
        new_name=new.name,
        old_source=old_source or old.source,
        new_source=new_source or new.source,
        changed=_differs(old, new),
        parameters=tuple(_value_changes([("name", old.name), *old.params], [("name", new.name), *new.params])),
        input_shape=_shape_change("input", old.input_shape, new.input_shape),
        output_shape=_shape_change("output", old.output_shape, new.output_shape),
        defaults=tuple(_line_diff([layer_text(d) for d in old.defaults], [layer_text(d) for d in new.defaults])),
        stem=tuple(_layer_changes(old_groups.get("stem", []), new_groups.get("stem", []))),
        stages=tuple(stage for stage in stages if stage is not None),
        head=tuple(_layer_changes(old_groups.get("head", []), new_groups.get("head", []))),
        definitions=tuple(_definitions(old, new)),
        layers=Delta(old=len(old.layers), new=len(new.layers)),
        costs=tuple(costs),
    )


def _differs(old: Network, new: Network) -> bool:
    """Anything a model built from either would notice, or a reader of the spec's interface."""
    return (
        old.name != new.name
        or old.params != new.params
        or old.layers != new.layers
        or old.stages != new.stages
        or old.defaults != new.defaults
        or {b.name: b for b in old.blocks} != {b.name: b for b in new.blocks}
    )


def _merge_order(old: Sequence[str], new: Sequence[str]) -> list[str]:
    """The new order, each name only in `old` placed just after its old predecessor."""
    merged: list[str] = []
    pending = [name for name in old if name not in new]
    for name in new:
        if name in old:
            while pending and old.index(pending[0]) < old.index(name):
                merged.append(pending.pop(0))
        merged.append(name)
    return merged + pending


def _content(stage: StageInstance, layers: Sequence[Layer]) -> tuple[Any, ...]:
    """What a stage is, whatever its label: its blocks' calls and shapes, its layers' configs."""
    return (
        tuple((b.block, b.args, b.output_shape) for b in stage.blocks),
        tuple((layer.config, layer.output_shape, layer.params, layer.macs) for layer in layers),
    )


def _renames(
    old: Network, new: Network, old_groups: dict[str, list[Layer]], new_groups: dict[str, list[Layer]]
) -> dict[str, str]:
    """New label -> old label, for each stage found only in the new network whose content
    equals that of a stage found only in the old one (paired in order)."""
    old_labels, new_labels = {s.label for s in old.stages}, {s.label for s in new.stages}
    gone = [s for s in old.stages if s.label not in new_labels]
    renamed: dict[str, str] = {}
    for stage in new.stages:
        if stage.label in old_labels:
            continue
        content = _content(stage, new_groups.get(stage.label, []))
        candidates = (g for g in gone if g.label not in renamed.values())
        match = next((g for g in candidates if _content(g, old_groups.get(g.label, [])) == content), None)
        if match is not None:
            renamed[stage.label] = match.label
    return renamed


def _value_changes(old: Iterable[tuple[str, Any]], new: Iterable[tuple[str, Any]]) -> list[ValueChange]:
    before, after = dict(old), dict(new)
    changes = []
    for name in _merge_order(list(before), list(after)):
        if name not in after:
            changes.append(ValueChange(name=name, status="removed", old=plain(before[name])))
        elif name not in before:
            changes.append(ValueChange(name=name, status="added", new=plain(after[name])))
        elif plain(before[name]) != plain(after[name]):
            changes.append(ValueChange(name=name, status="changed", old=plain(before[name]), new=plain(after[name])))
    return changes


def _shape_change(name: str, old: tuple[int, ...], new: tuple[int, ...]) -> ValueChange | None:
    return None if old == new else ValueChange(name=name, status="changed", old=list(old), new=list(new))


def _line_diff(old: list[str], new: list[str], context: int = 1) -> list[str]:
    """Unified-diff lines without file headers; hunks apart are separated by `...`."""
    if old == new:
        return []
    lines: list[str] = []
    for line in list(difflib.unified_diff(old, new, lineterm="", n=context))[2:]:  # no ---/+++ header
        if line.startswith("@@"):
            lines += ["..."] if lines else []
            continue
        lines.append(line)
    return lines


def _layer_fields(old: Layer, new: Layer) -> list[ValueChange]:
    fields = []
    if old.kind != new.kind:
        fields.append(ValueChange(name="kind", status="changed", old=old.kind, new=new.kind))
    fields += _value_changes(config_items(old), config_items(new))
    if old.inputs != new.inputs:
        fields.append(ValueChange(name="inputs", status="changed", old=list(old.inputs), new=list(new.inputs)))
    if old.output_shape != new.output_shape:
        fields.append(_shape_change("output_shape", old.output_shape, new.output_shape))  # type: ignore[arg-type]
    return fields


def _layer_changes(old: Sequence[Layer], new: Sequence[Layer]) -> list[LayerChange]:
    before = {layer.name: layer for layer in old}
    after = {layer.name: layer for layer in new}
    changes = []
    for name in _merge_order(list(before), list(after)):
        if name not in after:
            changes.append(LayerChange(name=name, status="removed", old=layer_summary(before[name])))
        elif name not in before:
            changes.append(LayerChange(name=name, status="added", new=layer_summary(after[name])))
        elif fields := _layer_fields(before[name], after[name]):
            a, b = before[name], after[name]
            changes.append(
                LayerChange(
                    name=name, status="changed", old=layer_summary(a), new=layer_summary(b), fields=tuple(fields)
                )
            )
    return changes


def _block_change(old: BlockInstance | None, new: BlockInstance | None) -> BlockRun | None:
    if old is None or new is None:
        block = old or new
        assert block is not None
        status: Status = "removed" if new is None else "added"
        return BlockRun(
            status=status,
            first=block.name,
            last=block.name,
            count=1,
            old=block_text(old) if old else None,
            new=block_text(new) if new else None,
        )
    changes = []
    if old.block != new.block:
        changes.append(ValueChange(name="block", status="changed", old=old.block, new=new.block))
    changes += _value_changes(old.args, new.args)
    if old.output_shape != new.output_shape:
        changes.append(_shape_change("output_shape", old.output_shape, new.output_shape))
    if not changes:
        return None
    return BlockRun(
        status="changed",
        first=new.name,
        last=new.name,
        count=1,
        old=block_text(old),
        new=block_text(new),
        changes=tuple(c for c in changes if c is not None),
    )


def _same_kind(a: BlockRun, b: BlockRun) -> bool:
    return (a.status, a.old, a.new, a.changes) == (b.status, b.old, b.new, b.changes)


def _runs(old: StageInstance | None, new: StageInstance | None) -> list[BlockRun]:
    old_blocks = old.blocks if old else ()
    new_blocks = new.blocks if new else ()
    runs: list[BlockRun] = []
    previous = -2  # the index of the last block in runs[-1]
    for index in range(max(len(old_blocks), len(new_blocks))):
        change = _block_change(
            old_blocks[index] if index < len(old_blocks) else None,
            new_blocks[index] if index < len(new_blocks) else None,
        )
        if change is None:
            continue
        if previous == index - 1 and _same_kind(runs[-1], change):
            runs[-1] = dataclasses.replace(runs[-1], last=change.last, count=runs[-1].count + 1)
        else:
            runs.append(change)
        previous = index
    return runs


def _stage(
    label: str,
    old_label: str,
    old_stages: dict[str, StageInstance],
    new: StageInstance | None,
    sides: Sides,
) -> StageDiff | None:
    old = old_stages.get(old_label)
    old_shapes = {
        "output_shape_old": old.blocks[-1].output_shape if old and old.blocks else None,
        "input_shape_old": sides.input_shape(sides.old, old_label) if old else None,
    }
    new_shapes = {
        "output_shape_new": new.blocks[-1].output_shape if new and new.blocks else None,
        "input_shape_new": sides.input_shape(sides.new, label) if new else None,
    }
    source = sides.input_source(sides.new, label) if new else sides.input_source(sides.old, old_label)
    new_shapes["input_from"] = section_of(source)
    if old_label != label:
        assert old is not None and new is not None
        return StageDiff(
            label=label,
            old_label=old_label,
            status="renamed",
            blocks=Delta(old=len(old.blocks), new=len(new.blocks)),
            composition_old=composition(old),
            composition_new=composition(new),
            **old_shapes,
            **new_shapes,
        )
    old_layers = {layer.name: layer for layer in sides.old_groups.get(label, [])}
    new_layers = {layer.name: layer for layer in sides.new_groups.get(label, [])}
    changed_layers = sum(1 for name in old_layers.keys() & new_layers.keys() if old_layers[name] != new_layers[name])
    runs = _runs(old, new)
    if old == new and not changed_layers and old_layers.keys() == new_layers.keys():
        return None
    paths = _path_changes(old, new, old_layers, new_layers)
    return StageDiff(
        label=label,
        status="removed" if new is None else "added" if old is None else "changed",
        blocks=Delta(old=len(old.blocks) if old else 0, new=len(new.blocks) if new else 0),
        composition_old=composition(old),
        composition_new=composition(new),
        **old_shapes,
        **new_shapes,
        runs=tuple(runs),
        paths=tuple(paths),
        layers_added=len(new_layers.keys() - old_layers.keys()),
        layers_removed=len(old_layers.keys() - new_layers.keys()),
        layers_changed=changed_layers,
    )


def _block_paths(layers: dict[str, Layer]) -> dict[str, set[str]]:
    """The paths with layers of each block instance, by the instance's name."""
    paths: dict[str, set[str]] = {}
    for layer in layers.values():
        if layer.origin.block is not None and layer.origin.path not in (None, "out"):
            paths.setdefault(layer.origin.block, set()).add(layer.origin.path)
    return paths


def _path_changes(
    old: StageInstance | None, new: StageInstance | None, old_layers: dict[str, Layer], new_layers: dict[str, Layer]
) -> list[PathChange]:
    """Paths that blocks present on both sides gained or lost, consecutive blocks together."""
    if old is None or new is None:
        return []
    before, after = _block_paths(old_layers), _block_paths(new_layers)
    both = [b.name for b in new.blocks if b.name in {o.name for o in old.blocks}]
    changes: list[PathChange] = []
    open_runs: dict[tuple[str, str], int] = {}  # (status, path) -> index in changes, if the run continues
    for block in both:
        old_paths, new_paths = before.get(block, set()), after.get(block, set())
        found = [("added", p) for p in sorted(new_paths - old_paths)] + [
            ("removed", p) for p in sorted(old_paths - new_paths)
        ]
        still = {}
        for key in found:
            if key in open_runs:
                run = changes[open_runs[key]]
                changes[open_runs[key]] = dataclasses.replace(run, last=block, count=run.count + 1)
                still[key] = open_runs[key]
            else:
                changes.append(PathChange(status=key[0], path=key[1], first=block, last=block, count=1))
                still[key] = len(changes) - 1
        open_runs = still
    return changes


def _definitions(old: Network, new: Network) -> list[DefinitionDiff]:
    """Block definitions that differ, or that only one side uses (shown whole)."""
    before = {b.name: item_text(b).splitlines() for b in old.blocks}
    after = {b.name: item_text(b).splitlines() for b in new.blocks}
    found = []
    for name in _merge_order(list(before), list(after)):
        lines = _line_diff(before.get(name, []), after.get(name, []), context=2)
        if lines:
            status: Status = "added" if name not in before else "removed" if name not in after else "changed"
            found.append(DefinitionDiff(name=name, status=status, lines=tuple(lines)))
    return found
