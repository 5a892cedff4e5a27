"""The instances of one block definition, as the classes that make them: one class per block.

Instances differ where the spec's conditions differ (`shortcut if project`, `avgpool(...) if
stride != 1`, `add(...) if residual`): the class makes every module any instance has, each
under the spec's conditions, computed in `__init__` from its arguments (`self.downsample =
nn.Sequential(...) if project else None`, `nn.Identity()` for a layer left out of a container,
a flag for a merge). A layer left out hands on its first input, as the expander does; that
and everything else a class fixes (module paths, kinds, paddings, in-place adds) is checked
against each instance. Only instances the check cannot reconcile get a class of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.views import BlockSteps
from resnet_dsl.language import ir
from resnet_dsl.network import model as nw
from resnet_dsl.network.evaluate import condition
from resnet_dsl.network.expand import Defaults

Instance = tuple[nw.BlockInstance, torch_layout.Scope]


@dataclass(frozen=True)
class Union:
    """One class's view of its instances: every node any of them has, in the spec's order."""

    pairs: tuple[Instance, ...]
    scope: torch_layout.Scope
    """The nodes, named as the first instance that has each; inputs renamed to match."""
    calls: Mapping[str, ir.LayerCall | None]
    """Each node's call (None: a merge)."""
    conditions: Mapping[str, tuple[ir.Expr, ...]]
    """The spec's conditions of each node some instance leaves out (its path's, then its own)."""

    @property
    def instances(self) -> list[nw.BlockInstance]:
        return [instance for instance, _ in self.pairs]


@dataclass
class _Draft:
    """A class being gathered: its nodes by step, the instances it makes."""

    nodes: dict[int, torch_layout.Node]
    members: list[tuple[Instance, dict[str, int]]]
    input: str


def block_unions(
    block: ir.BlockDef,
    pairs: Sequence[Instance],
    idents: Mapping[str, str],
    layers: Mapping[str, nw.Layer],
    defaults: Defaults,
) -> list[Union]:
    """The classes of a block's instances: one, unless some instances cannot share it."""
    builder = BlockSteps(block, idents, [instance for instance, _ in pairs], layers, defaults)
    _, steps, _ = builder.steps()
    builder.check_names(steps)
    drafts: list[_Draft] = []
    for pair in pairs:
        instance, scope = pair
        env = builder.instance_env(instance)
        present = [index for index, step in enumerate(steps) if all(condition(c, env) for c in step.conditions)]
        step_of = dict(zip(instance.layers, present, strict=True))
        for draft in drafts:
            merged = _merge(draft, pair, step_of)
            members = [*draft.members, (pair, step_of)]
            if (
                merged is not None
                and all(_fits(merged, *member, steps) for member in members)
                and _whole_containers(merged, [set(made.values()) for _, made in members], steps)
            ):
                draft.nodes = merged
                draft.members.append((pair, step_of))
                break
        else:
            draft = _Draft({}, [], scope.input)
            merged = _merge(draft, pair, step_of)
            assert merged is not None and _fits(merged, pair, step_of, steps), block.name  # an instance fits itself
            draft.nodes = merged
            draft.members.append((pair, step_of))
            drafts.append(draft)
    return [_union(draft, steps) for draft in drafts]


def _merge(draft: _Draft, pair: Instance, step_of: Mapping[str, int]) -> dict[int, torch_layout.Node] | None:
    """The draft's nodes with those of `pair` it lacks, inputs renamed; None where they clash."""
    _, scope = pair
    nodes = dict(draft.nodes)
    names = {step: node.name for step, node in nodes.items()}
    rename = {scope.input: draft.input}
    by_name = {node.name: node for node in nodes.values()}
    for node in scope.nodes:
        if any(name not in rename for name in node.inputs):
            return None
        inputs = tuple(rename[name] for name in node.inputs)
        step = step_of[node.name]
        if step in nodes:  # a node it feeds from that the class lacked (`avgpool if stride != 1`) comes first
            known = nodes[step]
            chosen = tuple(_nearer(mine, theirs, by_name) for mine, theirs in zip(inputs, known.inputs, strict=False))
            if len(inputs) == len(known.inputs) and chosen != known.inputs:
                nodes[step] = by_name[known.name] = dataclasses.replace(known, inputs=chosen)
            rename[node.name] = known.name
            continue
        nodes[step] = by_name[node.name] = dataclasses.replace(node, inputs=inputs)
        names[step] = rename[node.name] = node.name
    ordered = dict(sorted(nodes.items()))
    modules = [node.module for node in ordered.values() if node.module is not None]
    return ordered if len(modules) == len(set(modules)) else None


def _nearer(mine: str, theirs: str, nodes: Mapping[str, torch_layout.Node]) -> str:
    """`mine` where it reaches `theirs` through first inputs (a layer between them that the
    class lacked), else `theirs`."""
    name = mine
    while name in nodes and name != theirs:
        name = nodes[name].inputs[0]
    return mine if name == theirs else theirs


def _fits(
    nodes: Mapping[int, torch_layout.Node], pair: Instance, step_of: Mapping[str, int], steps: Sequence[Any]
) -> bool:
    """Whether the class of `nodes` computes what `pair` does: the same module, kind, padding and
    in-place add wherever it has the node, fed by what the class feeds it once the nodes it
    leaves out (by its conditions, not folded away) hand on their first input."""
    _, scope = pair
    by_name = {node.name: step for step, node in nodes.items()}
    own = {step_of[node.name]: node for node in scope.nodes}
    made = set(step_of.values())
    if any(step in made and step not in own for step in nodes):
        return False  # folded into a neighbour here, a module of its own elsewhere

    def resolve(name: str) -> str | None:
        """The step (as a name of this instance) that feeds where the class reads `name`."""
        while name in by_name:
            step = by_name[name]
            if step in own:
                return own[step].name
            name = nodes[step].inputs[0]
        return scope.input

    for step, node in nodes.items():
        mine = own.get(step)
        if mine is None:
            continue
        if (mine.module, mine.layer.kind, mine.inplace) != (node.module, node.layer.kind, node.inplace):
            return False
        if torch_layout.fixed_padding(mine) != torch_layout.fixed_padding(node):
            return False
        if tuple(resolve(name) for name in node.inputs) != mine.inputs:
            return False
    return resolve(list(nodes.values())[-1].name) == scope.output


def _whole_containers(nodes: Mapping[int, torch_layout.Node], having: Sequence[set[int]], steps: Sequence[Any]) -> bool:
    """A nested container (SK's `conv1.paths.0`) is made whole or not at all: each instance has
    all of its members or none, and where that varies they share their conditions. A path's
    own class (`se`) some instance leaves out needs a condition its members share."""
    groups: dict[str, list[int]] = {}
    for step, node in nodes.items():
        parent = (node.module or "").rpartition(".")[0]
        if parent and ("." in parent or not parent_is_sequential(nodes, parent)):
            groups.setdefault(parent.partition(".")[0], []).append(step)
    for members in groups.values():
        present = {tuple(step in made for step in members) for made in having}
        varies = len(present) > 1
        if any((nodes[step].module or "").count(".") > 1 for step in members):
            if any(len(set(flags)) > 1 for flags in present):
                return False
            if varies and len({steps[step].conditions for step in members}) != 1:
                return False
        elif (False,) * len(members) in present and varies:
            first = steps[members[0]].conditions
            if not any(all(c in steps[step].conditions for step in members) for c in first):
                return False
    return True


def parent_is_sequential(nodes: Mapping[int, torch_layout.Node], parent: str) -> bool:
    """Whether a container's children are numbered (an nn.Sequential)."""
    modules = [node.module for node in nodes.values() if node.module and node.module.startswith(parent + ".")]
    return all(module.rpartition(".")[2].isdigit() for module in modules)


def _union(draft: _Draft, steps: Sequence[Any]) -> Union:
    members = [pair for pair, _ in draft.members]
    having = [set(step_of.values()) for _, step_of in draft.members]
    nodes = tuple(draft.nodes.values())
    containers: dict[str, torch_layout.Container] = {}
    for _, scope in members:
        for parent, kind in scope.containers:
            containers.setdefault(parent, kind)
    scope = torch_layout.Scope(draft.input, nodes, tuple(containers.items()))
    conditions = {
        node.name: steps[step].conditions
        for step, node in draft.nodes.items()
        if not all(step in made for made in having)
    }
    return Union(tuple(members), scope, {node.name: steps[step].call for step, node in draft.nodes.items()}, conditions)
