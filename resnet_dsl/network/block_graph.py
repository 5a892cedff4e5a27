"""Block graphs: a block's paths in running order, its merges, the checks of a definition, one instance expanded.

A block is a small graph: named paths that start from the input or from each other, joined by
one merge expression (`out = add(main, shortcut) -> relu`). Its layers are named from its
instance prefix, its path and unit labels (`conv2_block1_1_conv`).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming, ops, shapes
from resnet_dsl.network.builder import Builder, labelled
from resnet_dsl.network.evaluate import Env, condition, evaluate
from resnet_dsl.network.layer_calls import Defaults, layer_config, unit_marks

IN_CHANNELS = "in_channels"
"""The channel count of a block's input, visible inside the block."""

PATH_ORDER = ("pre", "main", "shortcut")
"""Paths that run first, in this order, where their sources allow; the others follow as written."""


def block_env(block: ir.BlockDef, args: Mapping[str, Any], in_channels: int) -> dict[str, Any]:
    """What a block's expressions see: its arguments, `in_channels`, then its values in order."""
    env: dict[str, Any] = {**args, IN_CHANNELS: in_channels}
    for let in block.lets:
        env[let.name] = evaluate(let.value, env)
    return env


def path_order(block: ir.BlockDef) -> list[ir.Path]:
    """The paths in the order they run: each after its source; `pre`, `main`, `shortcut` first.

    Raises a located error for a source that is no path, and for paths that start from
    each other (a cycle)."""
    names = {path.name: path for path in block.paths}
    for path in block.paths:
        for source in block.sources_of(path):
            if source != ir.INPUT and source not in names:
                raise ArchError(
                    f"path '{path.name}' starts from '{source}', which is no path of block '{block.name}'",
                    path.span,
                    did_you_mean(source, [ir.INPUT, *names]) or f"it can start from {', '.join([ir.INPUT, *names])}",
                )

    def rank(item: tuple[int, ir.Path]) -> tuple[int, int]:
        position, path = item
        return (PATH_ORDER.index(path.name) if path.name in PATH_ORDER else len(PATH_ORDER)), position

    # A heap of the ready paths, by rank, gives the order "the first waiting path whose
    # sources have run" in O(n log n) (a rescan of the waiting list after each step was
    # quadratic); a path with a conditional source waits for both.
    ranked = sorted(enumerate(block.paths), key=rank)
    children: dict[str, list[tuple[tuple[int, int], int, ir.Path]]] = {}
    waiting_for: dict[int, int] = {}
    ready: list[tuple[tuple[int, int], int, ir.Path]] = []
    for key, (position, path) in enumerate(ranked):
        entry = (rank((position, path)), key, path)
        sources = {s for s in block.sources_of(path) if s != ir.INPUT}
        waiting_for[key] = len(sources)
        for source in sources:
            children.setdefault(source, []).append(entry)
        if not sources:
            ready.append(entry)
    heapq.heapify(ready)
    order: list[ir.Path] = []
    while ready:
        _, _, path = heapq.heappop(ready)
        order.append(path)
        for child in children.pop(path.name, []):
            waiting_for[child[1]] -= 1
            if not waiting_for[child[1]]:
                heapq.heappush(ready, child)
    if len(order) < len(block.paths):
        placed = {id(path) for path in order}
        waiting = [path for _, path in ranked if id(path) not in placed]
        cycle = ", ".join(f"{p.name} from {block.source_of(p)}" for p in waiting)
        raise ArchError(
            f"the paths of block '{block.name}' start from each other in a cycle ({cycle})",
            waiting[0].span,
            "start one of them from input or from another path",
        )
    return order


def merge_refs(merge: ir.Merge) -> list[ir.PathRef]:
    """Every path a merge expression names, nested merges included, left to right."""
    refs: list[ir.PathRef] = []
    for item in merge_inputs(merge):
        refs += merge_refs(item) if isinstance(item, ir.Merge) else [item]
    return refs


def merge_inputs(merge: ir.Merge) -> tuple[ir.MergeInput, ...]:
    """A merge's inputs; `add` alone means `add(main, shortcut)`, both at the merge's place (an
    error about either points there)."""
    return merge.inputs or (ir.PathRef(path="main", span=merge.span), ir.PathRef(path="shortcut", span=merge.span))


def check_block(block: ir.BlockDef) -> list[ir.Path]:
    """The checks of a definition that do not depend on its arguments; returns `path_order`."""
    for name, span in [(p.name, p.span) for p in block.params] + [(let.name, let.span) for let in block.lets]:
        if name == IN_CHANNELS:
            raise ArchError(
                f"'{IN_CHANNELS}' is the channel count of the block's input and cannot be redefined",
                span,
                "choose another name",
            )
    order = path_order(block)
    known = [ir.INPUT, *(p.name for p in block.paths)] + ([] if block.shortcut is not None else ["shortcut"])
    used = {source for p in block.paths for source in block.sources_of(p)}
    for path in block.paths:
        if path.source_else is not None and not any(unit.layers for unit in path.units):
            raise ArchError(
                f"path '{path.name}' chooses its source but has no layers",
                path.span,
                f"merge the source itself, or give {path.name} its layers",
            )
    for ref in merge_refs(block.merge):
        if ref.path not in known:
            raise ArchError(
                f"{block.merge.op} takes path names, one of {', '.join(known)}",
                ref.span,
                did_you_mean(ref.path, known),
            )
        used.add(ref.path)
    if block.merge.condition is not None and not (block.merge.inputs and isinstance(block.merge.inputs[0], ir.PathRef)):
        raise ArchError(
            f"a merge with a condition outputs its first input where the condition is false: "
            f"block '{block.name}' must name a path first",
            block.merge.span,
            "e.g. out = add(main, input) if residual",
        )
    for path in block.paths:
        source = path.source_merge
        if source is not None and any(isinstance(item, ir.Merge) for item in source.inputs):
            raise ArchError(
                f"path '{path.name}' starts from one merge of paths, not of merges", source.span, "merge paths only"
            )
    for path in block.paths:
        if path.name not in used and any(unit.layers for unit in path.units):
            raise ArchError(
                f"path '{path.name}' of block '{block.name}' is never used",
                path.span,
                f"merge it in out, e.g. out = add(main, {path.name}), or start another path from it",
            )
    return order


def expand_block(
    builder: Builder,
    block: ir.BlockDef,
    args: Env,
    defaults: Defaults,
    source: str,
    prefix: str,
    stage: str,
    order: list[ir.Path] | None = None,
) -> None:
    """One block instance: its paths from `source`, in `path_order` (`order`, where the
    caller has checked the definition already), joined by its merge."""

    origins: dict[str, nw.Origin] = {}

    def origin(path: str) -> nw.Origin:
        if path not in origins:
            origins[path] = nw.Origin.model_construct(
                section="stage", stage=stage, block=prefix, block_def=block.name, path=path
            )
        return origins[path]

    order = check_block(block) if order is None else order
    env = block_env(block, args, builder.by_name[source].output_shape[-1])
    tensors = {ir.INPUT: source}
    nested = iter(range(1, count_merges(block.merge)))
    after = block.after

    def merged(merge: ir.Merge, name: str | None) -> str:
        """A merge's layer; `name` None: a merge nested in the block's (`<block>_<op>_<n>`)."""
        sides = [
            tensors[item.path] if isinstance(item, ir.PathRef) else merged(item, None) for item in merge_inputs(merge)
        ]
        op = ops.lookup(merge.op)
        if op is None or op.name not in ops.MERGES:
            raise ArchError(
                f"out must start by merging paths, not with '{merge.op}'"
                if merge is block.merge
                else f"'{merge.op}' does not merge paths",
                merge.span,
                f"merges are {', '.join(sorted(ops.MERGES))}: out = add(main, shortcut) -> relu",
            )
        if len(sides) < 2:
            raise ArchError(f"{merge.op} needs at least two paths", merge.span, "e.g. add(main, shortcut)")
        config = op.build(ops.bind(op, {}))
        if merge is block.merge:
            name = naming.join(prefix, merge.name) if merge.name else naming.out_name(prefix, op.suffix({}), not after)
        elif name is None:
            name = naming.nested_merge_name(prefix, op.suffix({}), next(nested))
        described = ", ".join(
            f"{_input_text(item)} {shapes.fmt(builder.by_name[side].output_shape)}"
            for item, side in zip(merge_inputs(merge), sides, strict=True)
        )
        return builder.add(name, config, tuple(sides), origin("out"), merge.span, f"{merge.op} of {described}")

    for path in order:
        chosen = path.source_if is None or condition(path.source_if, env)
        if path.source_merge is not None:
            tensor = merged(path.source_merge, naming.source_merge_name(prefix, path.name, path.source_merge))
        else:
            tensor = tensors[block.source_of(path) if chosen else path.source_else]
        if path.condition is None or condition(path.condition, env):
            for index, unit in enumerate(path.units):
                label = naming.unit_label(path.name, index, unit.label)
                for call, mark in zip(unit.layers, unit_marks(unit.layers), strict=True):
                    if call.condition is not None and not condition(call.condition, env):
                        continue
                    op, config, suffix = layer_config(call, env, defaults)
                    own = naming.own_name(call.name)
                    name = naming.join(prefix, own) if own else naming.join(prefix, label, suffix + mark)
                    tensor = builder.layer(call, op, config, name, tensor, labelled(origin(path.name), unit, call))
        tensors[path.name] = tensor
    tensors.setdefault("shortcut", source)  # an omitted shortcut is the identity

    if block.merge.condition is None or condition(block.merge.condition, env):
        tensor = merged(block.merge, "")
    else:
        first = block.merge.inputs[0]
        assert isinstance(first, ir.PathRef)  # check_block
        tensor = tensors[first.path]  # no merge: the block's output is its first input
    for position, (call, mark) in enumerate(zip(after, unit_marks(after), strict=True)):
        # Names follow the written layers, so the last one written is `_out` where it is made.
        if call.condition is not None and not condition(call.condition, env):
            continue
        op, config, suffix = layer_config(call, env, defaults)
        is_last = position == len(after) - 1
        own = naming.own_name(call.name)
        name = naming.join(prefix, own) if own else naming.out_name(prefix, suffix + mark, is_last)
        tensor = builder.layer(call, op, config, name, tensor, labelled(origin("out"), None, call))


def count_merges(merge: ir.Merge) -> int:
    return 1 + sum(count_merges(item) for item in merge.inputs if isinstance(item, ir.Merge))


def _input_text(item: ir.MergeInput) -> str:
    if isinstance(item, ir.PathRef):
        return item.path
    return f"{item.op}({', '.join(_input_text(i) for i in merge_inputs(item))})"
