"""One `nn.Module` class per block definition, for the torch target.

Which call made each layer comes from `views.BlockSteps` (checked against every instance);
the modules and their attribute names from `torch_layout`. `__init__` makes them, path by path;
`forward` runs the paths on the variables torchvision uses (`out`, `shortcut`) and merges them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import (
    Expressions,
    escape,
    free_names,
    has_call,
    identifier,
    py_string,
)
from resnet_dsl.codegen.torch_views import (
    BLOCK_LOCALS,
    Call,
    ClassView,
    LayerSource,
    Method,
    TorchExpressions,
    call_lines,
    channels_after,
)
from resnet_dsl.codegen.views import (
    IN_CHANNELS,
    BlockSteps,
    doc_text,
    docstring_safe,
    keras_keyword,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import ops
from resnet_dsl.network.evaluate import condition
from resnet_dsl.network.expand import Defaults

# ----------------------------------------------------------------- blocks --


@dataclass(frozen=True)
class BlockClass:
    """The class of one block definition, checked against every instance of it."""

    block: ir.BlockDef
    name: str
    idents: Mapping[str, str]
    instances: Sequence[nw.BlockInstance]
    scopes: Sequence[torch_layout.Scope]
    layers: Mapping[str, nw.Layer]
    defaults: Defaults

    def build(self, helpers: set[str]) -> ClassView:
        calls = self.calls()
        self.check_layouts()
        names = self.names()
        expressions = TorchExpressions(names)
        scope = self.scopes[0]
        channels: dict[str, str] = {scope.input: "in_channels"}
        sources: dict[str, LayerSource] = {}
        for node in scope.nodes:
            merge = node.layer.kind in torch_layout.MERGES
            written = {} if merge else self.written(node.name, calls[node.name], expressions)
            before = channels[node.inputs[0]]
            operands = [channels[name] for name in node.inputs]
            channels[node.name] = channels_after(node.layer, operands, written)
            sources[node.name] = LayerSource(node, before, written)
        params, doc, defaults = self.signature()
        body = init_body(scope, sources, helpers)
        values: list[str] = []
        for let in reversed(self.block.lets):  # a value the class reads (a condition may not be)
            ident = names[let.name]
            if any(re.search(rf"\b{ident}\b", line) for line in (*values, *body)):
                values.insert(0, f"{ident} = {expressions.source(let.value)}")
        init = ["super().__init__()", *defaults, *values, *body]
        init_method = Method("__init__", ("self", "in_channels", *params), " -> None", (), tuple(init))
        forward = Method(
            "forward", ("self", "x: torch.Tensor"), " -> torch.Tensor", (), tuple(forward_body(scope, self.layers))
        )
        return ClassView(self.name, tuple(doc), (init_method, forward))

    def calls(self) -> dict[str, ir.LayerCall | None]:
        """Each layer of the first instance with the call that makes it (None: a merge)."""
        builder = BlockSteps(self.block, self.idents, self.instances, self.layers, self.defaults)
        _, steps, _ = builder.steps()
        builder.check_names(steps)
        env = builder.instance_env(self.instances[0])
        present = [step.call for step in steps if all(condition(c, env) for c in step.conditions)]
        return dict(zip(self.instances[0].layers, present, strict=True))

    def names(self) -> dict[str, str]:
        """Spec names in scope in `__init__` -> identifiers: parameters, `in_channels`, values."""
        taken = set(BLOCK_LOCALS) | set(self.idents.values())
        names = {**self.idents, IN_CHANNELS: "in_channels"}
        for let in self.block.lets:
            names[let.name] = identifier(let.name, taken)
        return names

    def check_layouts(self) -> None:
        """Every instance must have the modules the class makes, in the same places."""
        first = layout_shape(self.scopes[0])
        for instance, scope in zip(self.instances, self.scopes, strict=True):
            if layout_shape(scope) != first:
                raise ArchError(
                    f"cannot generate torch code for block '{self.block.name}': {instance.name} lays its "
                    f"modules out differently from {self.instances[0].name}",
                    self.block.span,
                )

    def written(self, layer: str, call: ir.LayerCall, expressions: Expressions) -> dict[str, str]:
        """Config field -> source, for the options the call writes with the block's parameters."""
        op = ops.lookup(call.op)
        assert op is not None
        written = {}
        for position, arg in enumerate(call.args):
            option = arg.name or op.options[position].name
            if {*self.idents, IN_CHANNELS, *(let.name for let in self.block.lets)}.isdisjoint(free_names(arg.value)):
                continue  # a constant: the config holds its value
            written[keras_keyword(self.layers[layer].kind, option)] = expressions.source(arg.value)
        kind = self.layers[layer].kind
        given = {arg.name or op.options[position].name for position, arg in enumerate(call.args)}
        for option in op.options:  # a default that is another option (a pool's stride) follows it
            source = keras_keyword(kind, option.default.option) if isinstance(option.default, ops.SameAs) else None
            if source in written and option.name not in given:
                written[keras_keyword(kind, option.name)] = written[source]
        return written

    def signature(self) -> tuple[list[str], list[str], list[str]]:
        """Parameters after `in_channels`: Python defaults where the spec's are constants, None
        where they are computed (then set first thing in `__init__`)."""
        summary = f"The `{doc_text(self.block.name)}` block (torchvision's layout)."
        doc = [summary, "", "Args:", "    in_channels: the channels of the input."]
        params: list[str] = []
        defaults: list[str] = []
        visible: dict[str, str] = {}
        optional = False
        for param in self.block.params:
            ident = self.idents[param.name]
            note = f" (`{doc_text(param.name)}` in the spec)" if ident != param.name else ""
            if param.default is None:
                params.append(f"{ident}=None" if optional else ident)
                doc.append(f"    {ident}: required{note}.")
            elif has_call(param.default) or not visible.keys().isdisjoint(free_names(param.default)):
                value = TorchExpressions(dict(visible)).source(param.default)
                params.append(f"{ident}=None")
                defaults += [f"if {ident} is None:", f"    {ident} = {value}"]
                shown = f"`{value}`" if docstring_safe(value) else "the spec's default"
                doc.append(f"    {ident}: None means {shown}{note}.")
                optional = True
            else:
                value = TorchExpressions({}).source(param.default)
                params.append(f"{ident}={value}")
                doc.append(f"    {ident}: {f'{value} by default' if docstring_safe(value) else 'optional'}{note}.")
                optional = True
            visible[param.name] = ident
        return params, doc, defaults


def init_body(
    scope: torch_layout.Scope, sources: Mapping[str, LayerSource], helpers: set[str], title: str | None = None
) -> list[str]:
    """One attribute per module, under a comment per path (or `title`), containers made whole."""
    lines: list[str] = [f"# {title}"] if title and scope.nodes else []
    containers = dict(scope.containers)
    done: set[str] = set()
    path = None
    for node in scope.nodes:
        if node.module is None:
            continue
        if title is None and node.layer.origin.path != path:
            path = node.layer.origin.path
            lines.append(f"# {escape(path or '')}")
        parent, _, _ = node.module.rpartition(".")
        if parent in done:
            continue
        members = [n for n in scope.nodes if n.module and n.module.rpartition(".")[0] == parent]
        if parent and containers.get(parent) == "sequential":
            at = {int(n.module.rpartition(".")[2]): n for n in members if n.module}
            items = tuple(  # a layer a condition leaves out keeps its place, as nn.Identity
                ("", sources[at[i].name].constructor(helpers) if i in at else Call("nn.Identity"))
                for i in range(max(at) + 1)
            )
            lines += call_lines(f"self.{parent} = ", Call("nn.Sequential", items), "", 8)
            done.add(parent)
        elif parent:
            items = tuple(
                (f"{py_string(n.module.rpartition('.')[2])}: ", sources[n.name].constructor(helpers)) for n in members
            )
            lines += dict_lines(f"self.{parent} = nn.ModuleDict(", items, ")", 8)
            done.add(parent)
        else:
            lines += call_lines(f"self.{node.module} = ", sources[node.name].constructor(helpers), "", 8)
    return lines


def chain_forward(scope: torch_layout.Scope) -> list[str]:
    """The stem or head: `x` through each module in turn, a container called once."""
    lines: list[str] = []
    for node in scope.nodes:
        assert node.module is not None
        parent = node.module.rpartition(".")[0] or node.module
        line = f"x = self.{parent}(x)"
        if not lines or lines[-1] != line or parent == node.module:
            lines.append(line)
    return lines


def layout_shape(scope: torch_layout.Scope) -> list[tuple[Any, ...]]:
    """What a block class fixes: its modules, their kinds and folded paddings, in order."""
    return [(n.module, n.layer.kind, n.padding) for n in scope.nodes]


def dict_lines(head: str, items: tuple[tuple[str, Call], ...], tail: str, indent: int) -> list[str]:
    """`nn.ModuleDict(` then the dict, one entry per line, as `ruff format` lays it out."""
    lines = [head, "    {"]
    for key, value in items:
        lines += ["        " + line for line in call_lines(key, value, ",", indent + 8)]
    return [*lines, "    }", tail]


def _broadcast(variable: str, missing: int) -> str:
    """A (N, C) gate as (N, C, 1, 1), so it multiplies an image as Keras broadcasts it."""
    return variable + "[:, :, None, None]" if missing == 2 else variable


def forward_body(scope: torch_layout.Scope, layers: Mapping[str, nw.Layer]) -> list[str]:
    """The paths in order: each module applied to what feeds it; a container called once."""
    holder = {scope.input: "x"}
    last_use: dict[str, int] = {}
    for position, node in enumerate(scope.nodes):
        for name in node.inputs:
            last_use[name] = position
    held: dict[str, str] = {"x": scope.input}
    containers = dict(scope.containers)
    lines: list[str] = []
    path = None
    position = 0
    nodes = list(scope.nodes)
    while position < len(nodes):
        node = nodes[position]
        if node.layer.origin.path != path:
            path = node.layer.origin.path
            lines.append(f"# {escape(path or '')}")
        parent = node.module.rpartition(".")[0] if node.module else ""
        end = position + 1
        if parent and containers.get(parent) == "sequential":
            while end < len(nodes) and nodes[end].module and nodes[end].module.rpartition(".")[0] == parent:
                end += 1
            expression = f"self.{parent}({holder[node.inputs[0]]})"
        elif node.module is None:
            rank = len(node.layer.output_shape)
            operands = [_broadcast(holder[name], rank - len(layers[name].output_shape)) for name in node.inputs]
            expression = MERGE_SOURCES[node.layer.kind](operands)
        elif parent:
            child = node.module.rpartition(".")[2]
            expression = f"self.{parent}[{py_string(child)}]({holder[node.inputs[0]]})"
        else:
            expression = f"self.{node.module}({holder[node.inputs[0]]})"
        output = nodes[end - 1].name
        target = _variable(node.layer.origin.path, held, last_use, position)
        held[target] = output
        holder[output] = target
        lines.append(f"{target} = {expression}")
        position = end
    lines.append(f"return {holder[scope.output]}")
    return lines


PATH_VARIABLES = {None: "x", "pre": "x", "main": "out", "out": "out", "shortcut": "shortcut"}

MERGE_SOURCES = {
    "add": lambda operands: " + ".join(operands),
    "multiply": lambda operands: " * ".join(operands),
    "concat": lambda operands: f"torch.cat([{', '.join(operands)}], dim=1)",
}


def _variable(path: str | None, held: dict[str, str], last_use: Mapping[str, int], position: int) -> str:
    """The variable a path writes (torchvision's `out`, ours `shortcut`), unless it still holds a
    tensor needed later: then the next free `out2`, ..."""
    base = PATH_VARIABLES.get(path, identifier(path or "x", set(BLOCK_LOCALS)))
    for number in itertools.count(1):
        name = base if number == 1 else f"{base}{number}"
        tensor = held.get(name)
        if tensor is None or last_use.get(tensor, -1) <= position:
            return name
    raise AssertionError  # unreachable
