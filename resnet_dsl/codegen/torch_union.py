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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.views import BlockSteps
from resnet_dsl.language import ir
from resnet_dsl.network import model as nw
from resnet_dsl.network.evaluate import condition
from resnet_dsl.network.expand import Defaults

Instance = tuple[nw.BlockInstance, torch_layout.Scope]
Member = tuple[Instance, dict[str, int], dict[str, Any]]
"""An instance with the step of each of its layers and its parameters' values."""


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
    paddings: Mapping[str, str]
    """A convolution whose instances pad differently -> how the class pads (`LayerSource.padding_mode`)."""
    choices: Mapping[str, Choice]
    """A node whose source each instance chooses (`shortcut from (pre if conv_shortcut else input)`)."""
    modules: Mapping[str, str]
    """An instance's layer whose module the class names otherwise -> the class's name for it
    (only where the spec places the module itself: its built name is no state_dict key)."""
    folded: Mapping[str, ir.LayerCall] = dataclasses.field(default_factory=dict)
    """A convolution whose instances take in zero paddings of different sizes -> the padding's
    call, whose amount the class writes (`zeropad(kernel // 2)`: `padding=kernel // 2`)."""

    @property
    def instances(self) -> list[nw.BlockInstance]:
        return [instance for instance, _ in self.pairs]


@dataclass
class _Draft:
    """A class being gathered: its nodes by step, the instances it makes."""

    nodes: dict[int, torch_layout.Node]
    members: list[Member]
    input: str


def block_unions(
    block: ir.BlockDef,
    pairs: Sequence[Instance],
    idents: Mapping[str, str],
    layers: Mapping[str, nw.Layer],
    defaults: Defaults,
    placed: Collection[str] = frozenset(),
) -> list[Union]:
    """The classes of a block's instances: one, unless some instances cannot share it.
    `placed`: the layers whose module the spec places (`as "features.1.0.block.2"`), whose built
    attribute names may differ between instances (numbered over the layers each one has)."""
    builder = BlockSteps(block, idents, [instance for instance, _ in pairs], layers, defaults)
    _, steps, _ = builder.steps()
    builder.check_names(steps)
    drafts: list[_Draft] = []
    context = _Context(block, steps, placed, pairs[0][1].input)
    made_like: dict[str, _Draft] = {}  # an instance like one before -> the class that makes that one
    for pair in pairs:
        instance, scope = pair
        env = builder.instance_env(instance)
        present = [index for index, step in enumerate(steps) if all(condition(c, env) for c in step.conditions)]
        step_of = dict(zip(instance.layers, present, strict=True))
        member = (pair, step_of, env)
        like = _likeness(instance, placed)
        if like in made_like:  # its class was checked against that one, and every check since too
            made_like[like].members.append(member)
            continue
        for draft in drafts:
            merged = _merge(draft, pair, step_of)
            members = [*draft.members, member]
            if merged is not None and _shared(merged, members, dataclasses.replace(context, input=draft.input)):
                draft.nodes = merged
                draft.members.append(member)
                break
        else:
            draft = _Draft({}, [], scope.input)
            merged = _merge(draft, pair, step_of)
            own = dataclasses.replace(context, input=scope.input)
            assert merged is not None and _shared(merged, [member], own), block.name  # an instance fits itself
            draft.nodes = merged
            draft.members.append(member)
            drafts.append(draft)
        made_like[like] = draft
    return [_union(draft, dataclasses.replace(context, input=draft.input)) for draft in drafts]


def _likeness(instance: nw.BlockInstance, placed: Collection[str]) -> str:
    """What a class's checks read of an instance, but its name: its arguments, its input's shape
    (the two make its layers), and which of its layers the spec places. Instances alike fit the
    same classes, so a stage of 200 like blocks (ResNet-1202) is checked once, not 200 times over."""
    where = tuple(name in placed for name in instance.layers)
    return repr((instance.args, instance.input_shape, where))


@dataclass(frozen=True)
class _Context:
    """What every check of one block's classes reads."""

    block: ir.BlockDef
    steps: Sequence[Any]
    placed: Collection[str]
    input: str
    """The input's name in every draft: the first instance's."""


def _shared(nodes: dict[int, torch_layout.Node], members: Sequence[Member], context: _Context) -> bool:
    """Whether one class of `nodes` makes every member."""
    having = [set(step_of.values()) for _, step_of, _ in members]
    optional = attribute_conditions(nodes, having, context.steps)
    choices = source_choices(nodes, members, context)
    return (
        all(_fits(nodes, member, context, optional, choices) for member in members)
        and _whole_containers(nodes, having, context.steps)
        and _sequentials_as_built(nodes, members, optional)
        and padding_modes(nodes, members, context.steps) is not None
    )


Choice = tuple[ir.Expr, str, str]
"""A path's source chosen per instance (`from (pre if conv_shortcut else input)`): the test, the
tensor where it holds, the tensor where not (the names of nodes, or the block's input)."""


Nodes = Mapping[int, torch_layout.Node]
"""A class's nodes by the step of the block that makes each."""


def source_choices(nodes: Nodes, members: Sequence[Member], context: _Context) -> dict[int, Choice]:
    """The step of each path's first node -> its choice of source, where the instances that have
    its attribute choose differently and the sources are the input or a path all of them have."""
    having = [set(step_of.values()) for _, step_of, _ in members]
    choices = {}
    for path in context.block.paths:
        if path.source_if is None or path.source_else is None:
            continue
        entries = [step for step, node in nodes.items() if node.layer.origin.path == path.name]
        if not entries:
            continue
        attribute = (nodes[entries[0]].module or "").partition(".")[0]
        steps = {step for step, node in nodes.items() if (node.module or "").partition(".")[0] == attribute}
        chosen = {
            condition(path.source_if, env) for (_, _, env), made in zip(members, having, strict=True) if steps & made
        }
        sources = (context.block.source_of(path), path.source_else)
        tensors = [_path_tensor(name, nodes, having, context) for name in sources]
        if len(chosen) > 1 and tensors[0] is not None and tensors[1] is not None:
            choices[entries[0]] = (path.source_if, tensors[0], tensors[1])
    return choices


def _path_tensor(
    path: str, nodes: Mapping[int, torch_layout.Node], having: Sequence[set[int]], context: _Context
) -> str | None:
    """The node a path ends at, where every instance has it (the input for `input`)."""
    if path == ir.INPUT:
        return context.input
    steps = [step for step, node in nodes.items() if node.layer.origin.path == path]
    if not steps or not all(steps[-1] in made for made in having):
        return None
    return nodes[steps[-1]].name


def attribute_conditions(
    nodes: Mapping[int, torch_layout.Node], having: Sequence[set[int]], steps: Sequence[Any]
) -> dict[str, tuple[ir.Expr, ...]]:
    """Each attribute of the block that is None where its conditions fail: those all its
    members share, of the conditions of members some instances leave out."""
    varying = {step: steps[step].conditions for step in nodes if not all(step in made for made in having)}
    members: dict[str, list[int]] = {}
    for step, node in nodes.items():
        if node.module is not None:
            members.setdefault(node.module.partition(".")[0], []).append(step)
    found = {}
    for attribute, steps_in in members.items():
        first = varying.get(steps_in[0], ())
        shared = tuple(c for c in first if all(c in varying.get(step, ()) for step in steps_in))
        if shared:
            found[attribute] = shared
    return found


def _merge(draft: _Draft, pair: Instance, step_of: Mapping[str, int]) -> dict[int, torch_layout.Node] | None:
    """The draft's nodes with those of `pair` it lacks, inputs renamed; None where they clash."""
    _, scope = pair
    nodes = dict(draft.nodes)
    names = {step: node.name for step, node in nodes.items()}
    rename = {scope.input: draft.input}
    by_name = {node.name: node for node in nodes.values()}
    own_modules = {node.module for node in scope.nodes if node.module is not None}
    for node in scope.nodes:
        if any(name not in rename for name in node.inputs):
            return None
        inputs = tuple(rename[name] for name in node.inputs)
        step = step_of[node.name]
        if step in nodes:  # a node it feeds from that the class lacked (`avgpool if stride != 1`) comes first
            known = nodes[step]
            chosen = tuple(_nearer(mine, theirs, by_name) for mine, theirs in zip(inputs, known.inputs, strict=False))
            if len(inputs) == len(known.inputs) and chosen != known.inputs:
                nodes[step] = by_name[known.name] = known = dataclasses.replace(known, inputs=chosen)
            if known.module != node.module and known.module in own_modules:  # numbered over more layers here
                nodes[step] = by_name[known.name] = dataclasses.replace(known, module=node.module)
            rename[node.name] = known.name
            continue
        path = node.layer.origin.path
        mine = set(rename.values())
        before = [
            other
            for key, other in sorted(nodes.items())
            if key < step and other.layer.origin.path == path and other.module and other.name not in mine
        ]
        entry = inputs and not (inputs[0] in by_name and by_name[inputs[0]].layer.origin.path == path)
        if path is not None and node.module and before and entry:  # the path's earlier layers are left out here
            inputs = (before[-1].name, *inputs[1:])
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
    nodes: Mapping[int, torch_layout.Node],
    member: Member,
    context: _Context,
    optional: Mapping[str, tuple[ir.Expr, ...]],
    choices: Mapping[int, Choice],
) -> bool:
    """Whether the class of `nodes` computes what `pair` does: the same module and kind wherever
    it has the node (paddings: `padding_modes`; in place where every instance is), fed by what
    the class feeds it once the nodes it leaves out (by its conditions, not folded away) hand on
    their first input; a shortcut whose attribute is None here, the block's input (`forward`'s
    `identity = x`)."""
    (_, scope), step_of, env = member
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
            tests = optional.get((nodes[step].module or "").partition(".")[0], ())
            if shortcut_entry(nodes, step) and tests and not all(condition(c, env) for c in tests):
                return scope.input
            name = first_input(step)
        return scope.input

    def first_input(step: int) -> str:
        """What the class feeds a node first: its source, chosen per instance where the spec says so."""
        if step in choices:
            test, then, otherwise = choices[step]
            return then if condition(test, env) else otherwise
        return nodes[step].inputs[0]

    for step, node in nodes.items():
        mine = own.get(step)
        if mine is None:
            continue
        if mine.layer.kind != node.layer.kind:
            return False
        if mine.module != node.module and not (mine.name in context.placed and node.name in context.placed):
            return False
        if tuple(resolve(name) for name in (first_input(step), *node.inputs[1:])) != mine.inputs:
            return False
    return resolve(list(nodes.values())[-1].name) == scope.output


def shortcut_entry(nodes: Mapping[int, torch_layout.Node], step: int) -> bool:
    """Whether a node opens the shortcut and its attribute: left out, the identity stands in."""
    node = nodes[step]
    if node.layer.origin.path != "shortcut" or node.module is None:
        return False
    attribute = node.module.partition(".")[0]
    before = [other for key, other in nodes.items() if key < step]
    return not any(other.module and other.module.partition(".")[0] == attribute for other in before) and not any(
        other.name == node.inputs[0] and other.layer.origin.path == "shortcut" for other in before
    )


def _sequentials_as_built(
    nodes: Mapping[int, torch_layout.Node], members: Sequence[Member], optional: Mapping[str, tuple[ir.Expr, ...]]
) -> bool:
    """An nn.Sequential the class makes is the one `to_torch` makes for each instance: as long
    (a layer left out inside keeps its place as nn.Identity, but none is appended), and None
    where the instance has none of its layers."""
    containers: dict[str, dict[int, int]] = {}
    for step, node in nodes.items():
        parent, _, index = (node.module or "").rpartition(".")
        if parent and "." not in parent and parent_is_sequential(nodes, parent):
            containers.setdefault(parent, {})[int(index)] = step
    for parent, at in containers.items():
        for _, step_of, env in members:
            made = set(step_of.values())
            present = [index for index, step in at.items() if step in made]
            if present and max(present) != max(at):
                return False
            tests = optional.get(parent, ())
            if not present and not (tests and not all(condition(c, env) for c in tests)):
                return False
    return True


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


CONVOLUTIONS = (nw.Conv2DConfig, nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig)


def padding_modes(
    nodes: Mapping[int, torch_layout.Node], members: Sequence[Member], steps: Sequence[Any] = ()
) -> dict[str, str] | None:
    """Each node whose instances pad differently -> how one class pads them all, where none has
    a padding folded in: where every one is Keras's `same`, Conv2dSame if it is asymmetric at
    every instance (`dynamic`), else the module chosen as each instance is made (`chosen`:
    `conv2d_same`, nn.Conv2d where stride 1 and the kernel make it symmetric, as timm chooses);
    the spec's option as torch's string where each is `valid` or a symmetric `same` at stride 1
    (`written`); the zero padding's own amount where each folds one in (`folded`: `zeropad(kernel
    // 2)` is `padding=kernel // 2`). None: no way."""
    seen: dict[int, list[torch_layout.Node]] = {}
    for (_, scope), step_of, _ in members:
        for node in scope.nodes:
            seen.setdefault(step_of[node.name], []).append(node)
    modes = {}
    for step, found in seen.items():
        if len({torch_layout.fixed_padding(node) for node in found}) == 1:
            continue
        configs = [node.layer.config for node in found]
        if not all(isinstance(config, CONVOLUTIONS) for config in configs):
            return None
        if all(config.padding == "valid" for config in configs) and _one_amount(found, members, steps):
            modes[nodes[step].name] = "folded"
            continue
        if any(node.padding != (0, 0) for node in found):
            return None  # a zero padding folded in only at some: the layer before differs too
        if all(config.padding == "same" for config in configs):
            dynamic = all(torch_layout.conv_padding(node) is None for node in found)
            modes[nodes[step].name] = "dynamic" if dynamic else "chosen"
        elif all(config.padding == "valid" or config.strides == (1, 1) for config in configs) and all(
            torch_layout.fixed_padding(node) is not None for node in found
        ):
            modes[nodes[step].name] = "written"
        else:
            return None
    return modes


def _one_amount(found: Sequence[torch_layout.Node], members: Sequence[Member], steps: Sequence[Any]) -> bool:
    """Whether each instance folds in a zero padding as much on every side, sized by one
    expression of the spec (`zeropad(kernel // 2)`), which the class can write as `padding=`."""
    if not steps or not all(node.padding != (0, 0) and node.padding[0] == node.padding[1] for node in found):
        return False
    call = _call_of(found[0].layer.inputs[0], members, steps)
    amounts = [arg.value for arg in call.args if arg.name in (None, "padding")][:1]
    return bool(amounts) and not isinstance(amounts[0], ir.ListExpr)


def _call_of(layer: str, members: Sequence[Member], steps: Sequence[Any]) -> ir.LayerCall:
    """The spec's call that makes an instance's layer (the first instance that has it)."""
    return steps[next(step_of[layer] for _, step_of, _ in members if layer in step_of)].call


def _union(draft: _Draft, context: _Context) -> Union:
    members = [pair for pair, _, _ in draft.members]
    having = [set(step_of.values()) for _, step_of, _ in draft.members]
    made = [(step_of[node.name], node) for (_, own), step_of, _ in draft.members for node in own.nodes]
    safe = {  # in place only where it is in every instance (`out += identity`, not where identity is x)
        step: all(node.inplace for at, node in made if at == step) for step in draft.nodes
    }
    draft.nodes = {step: dataclasses.replace(node, inplace=safe[step]) for step, node in draft.nodes.items()}
    nodes = tuple(draft.nodes.values())
    containers: dict[str, torch_layout.Container] = {}
    for _, scope in members:
        for parent, kind in scope.containers:
            containers.setdefault(parent, kind)
    scope = torch_layout.Scope(draft.input, nodes, tuple(containers.items()))
    steps = context.steps
    conditions = {
        node.name: steps[step].conditions
        for step, node in draft.nodes.items()
        if not all(step in made for made in having)
    }
    calls = {node.name: steps[step].call for step, node in draft.nodes.items()}
    paddings = padding_modes(draft.nodes, draft.members, context.steps)
    assert paddings is not None  # checked as each instance joined
    modules = {
        node.name: draft.nodes[step_of[node.name]].module
        for (_, own), step_of, _ in draft.members
        for node in own.nodes
        if node.module != draft.nodes[step_of[node.name]].module
    }
    choices = {
        draft.nodes[step].name: choice for step, choice in source_choices(draft.nodes, draft.members, context).items()
    }
    pads = {node.name: node.layer.inputs[0] for node in nodes if paddings.get(node.name) == "folded"}
    folded = {name: _call_of(pad, draft.members, steps) for name, pad in pads.items()}
    return Union(tuple(members), scope, calls, conditions, paddings, choices, modules, folded)
