"""A block class's `forward`: its paths in order on the variables torchvision uses.

Each module is applied to what feeds it, a container called once; what a condition may leave
out is asked for at run time (`if self.downsample is not None`, a merge's flag, a source each
instance chooses); an add accumulates into its first operand where that is safe.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import escape, identifier
from resnet_dsl.codegen.torch_containers import MERGE_SOURCES, module_expression
from resnet_dsl.codegen.torch_tree import module_calls
from resnet_dsl.codegen.torch_views import BLOCK_LOCALS
from resnet_dsl.network import model as nw


def _broadcast(variable: str, missing: int, optional: bool = False) -> str:
    """A (N, C) gate as (N, C, 1, 1), so it multiplies an image as Keras broadcasts it. A gate
    some instances leave out is then its source, an image: the class asks at run time."""
    if missing != 2:
        return variable
    if optional:
        return f"({variable} if {variable}.dim() == 4 else {variable}[:, :, None, None])"
    return variable + "[:, :, None, None]"


def forward_body(
    scope: torch_layout.Scope,
    layers: Mapping[str, nw.Layer],
    optional: frozenset[str] = frozenset(),
    guards: Mapping[str, str] | None = None,
    fallbacks: Mapping[str, str] | None = None,
    chosen: Mapping[str, tuple[str, str, str]] | None = None,
    parameters: frozenset[str] = frozenset(),
) -> list[str]:
    """The paths in order: each module applied to what feeds it, a container called once (and
    only `if self.downsample is not None` where it may be None, a merge only where its flag
    says so); an add into its first operand."""
    guards, fallbacks, chosen = guards or {}, fallbacks or {}, chosen or {}
    holder = {scope.input: "x"}
    last_use: dict[str, int] = {}
    for position, node in enumerate(scope.nodes):
        extra = [fallbacks[node.name]] if node.name in fallbacks else []
        extra += list(chosen[node.name][1:]) if node.name in chosen else []
        for name in (*node.inputs, *extra):
            last_use[name] = position
    held: dict[str, str] = {"x": scope.input}
    maybe_absent = {n.name for n in scope.nodes if n.module and _attribute(n.module) in optional} | set(guards)
    lines: list[str] = []
    path = None
    position = 0
    nodes = list(scope.nodes)
    chained = [
        index > 0 and node.inputs == (nodes[index - 1].name,) and node.name not in chosen
        for index, node in enumerate(nodes)
    ]
    calls = {first: (end, called) for first, end, called in module_calls([n.module for n in nodes], chained)}
    while position < len(nodes):
        node = nodes[position]
        if node.layer.origin.path != path:
            path = node.layer.origin.path
            lines.append(f"# {escape(path or '')}")
        parent = node.module.rpartition(".")[0] if node.module else ""
        end = position + 1
        source = holder[node.inputs[0]]
        if node.name in chosen:  # `from (pre if conv_shortcut else input)`: each instance's own
            test, then, otherwise = chosen[node.name]
            source = f"{holder[then]} if {test} else {holder[otherwise]}"
        if parent:  # a container called once where its members run together, else each alone (Res2Net's)
            end, called = calls[position]
            expression = f"{module_expression(called or '')}({source})"
        elif node.module is None:
            rank = len(node.layer.output_shape)
            operands = [
                _broadcast(holder[name], rank - len(layers[name].output_shape), name in maybe_absent)
                for name in node.inputs
            ]
            expression = MERGE_SOURCES[node.layer.kind](operands)
        elif node.name in parameters:  # a parameter of the block's own: torchvision's `self.layer_scale * x`
            expression = f"self.{node.module} * {source}"
        else:
            expression = f"self.{node.module}({source})"
        output = nodes[end - 1].name
        target = _variable(node.layer.origin.path, held, last_use, position)
        held[target] = output
        holder[output] = target
        if node.module is None and node.inplace and target == source:
            line = f"{target} += {holder[node.inputs[1]]}"
        else:
            line = f"{target} = {expression}"
        alone = parent and end == position + 1 and node.module in optional  # a path class's member run apart
        guard = guards.get(node.name) or (
            f"{module_expression(node.module)} is not None"
            if alone
            else f"self.{_attribute(node.module)} is not None"
            if node.module and _attribute(node.module) in optional
            else ""
        )
        if guard:  # where it is left out, what feeds it goes on (a shortcut: the block's input)
            fallback = holder[fallbacks[node.name]] if node.name in fallbacks else source
            if target != fallback:
                lines.append(f"{target} = {fallback}")
            lines += [f"if {guard}:", f"    {line}"]
        else:
            lines.append(line)
        position = end
    lines.append(f"return {holder[scope.output]}")
    return lines


def _attribute(module: str) -> str:
    """The block's attribute that holds a module: itself, or its outermost container."""
    return module.partition(".")[0]


PATH_VARIABLES = {None: "x", "pre": "x", "main": "out", "out": "out", "shortcut": "identity"}


def _variable(path: str | None, held: dict[str, str], last_use: Mapping[str, int], position: int) -> str:
    """The variable a path writes (torchvision's `out` and `identity`), unless it still holds a
    tensor needed later: then the next free `out2`, ..."""
    base = PATH_VARIABLES.get(path, identifier(path or "x", set(BLOCK_LOCALS)))
    for number in itertools.count(1):
        name = base if number == 1 else f"{base}{number}"
        tensor = held.get(name)
        if tensor is None or last_use.get(tensor, -1) <= position:
            return name
    raise AssertionError  # unreachable
