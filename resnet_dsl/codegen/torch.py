"""Network -> one standalone PyTorch module, laid out as torchvision's `models/resnet.py`.

One `nn.Module` class per block definition: `__init__(in_channels, <the block's parameters>)`
makes its layers as attributes, rendered from the spec's expressions (`conv(4 * filters, 1)`
becomes `nn.Conv2d(filters, 4 * filters, 1, ...)`), and `forward` runs the spec's paths.
Then the network's class, whose stages are nn.Sequential `layer1`, ..., and `build_model`.

Attribute names, and so state_dict keys, come from `torch_layout`, as `to_torch`'s do;
instances of one block must agree on them, which is checked. The few helpers the module
needs (Keras's `same` padding, initializers, channels-last flatten) are copied from
`torch_backend`'s source, so both back ends run the same code. Spec names and values go
through `pysource`, as for the Keras target; the output is what `ruff format` writes.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from resnet_dsl import __version__
from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.keras import (
    IN_CHANNELS,
    LINE_LENGTH,
    BlockBuilder,
    compact,
    default_value,
    doc_text,
    docstring_safe,
    environment,
    keras_keyword,
)
from resnet_dsl.codegen.pysource import (
    CONSTANT_INITIALIZERS,
    Expressions,
    escape,
    free_names,
    has_call,
    identifier,
    py_string,
    py_value,
    same_value,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import ops
from resnet_dsl.network.evaluate import condition
from resnet_dsl.network.expand import Defaults, evaluate_defaults

TEMPLATE = "torch_model.py.jinja"

MODULE_NAMES = frozenset({"torch", "nn", "F", "math", "build_model", "ACTIVATIONS", "activation"})
BLOCK_LOCALS = frozenset({"self", "in_channels", "x", "out", "shortcut", "torch", "nn", "F", "math"})
"""Names the generated code uses itself, at module level and in block classes."""

HELPERS: dict[str, tuple[str, ...]] = {
    "same_pads": (),
    "Conv2dSame": ("same_pads",),
    "MaxPool2dSame": ("same_pads",),
    "AvgPool2dSame": ("same_pads",),
    "Dense": (),
    "FlattenChannelsLast": (),
    "Exponential": (),
    "ChannelPad": (),
    "SeparableConv2d": (),
    "LayerNormChannels": (),
    "ReshapeChannelsLast": (),
    "keras_init_": (),
    "fans": (),
    "initialized": ("keras_init_", "fans"),
}
"""`torch_backend`'s standalone helpers, each with those it uses, in the order of its source."""

NEEDS_MATH = frozenset({"same_pads", "MaxPool2dSame", "keras_init_", "fans"})
NEEDS_FUNCTIONAL = frozenset({"Conv2dSame", "MaxPool2dSame", "AvgPool2dSame", "ChannelPad"})

# ------------------------------------------------------------------ views --


@dataclass(frozen=True)
class Call:
    """A call whose arguments may be calls: (keyword or "", value)."""

    callee: str
    args: tuple[tuple[str, str | Call], ...] = ()


@dataclass(frozen=True)
class Method:
    name: str
    params: tuple[str, ...]
    returns: str
    doc: tuple[str, ...]
    body: tuple[str, ...]
    """Lines, already laid out, indented relative to the body."""
    indent: int = 4

    @property
    def header(self) -> list[str]:
        """`def name(params) -> returns:`, split as ruff splits it when too long."""
        signature = Call(self.name, tuple(("", param) for param in self.params))
        return call_lines("def ", signature, f"{self.returns}:", self.indent)


@dataclass(frozen=True)
class ClassView:
    name: str
    doc: tuple[str, ...]
    methods: tuple[Method, ...]


@dataclass(frozen=True)
class TorchModuleView:
    """What the template renders: the whole generated file."""

    version: str
    source: str
    network: str
    imports: tuple[str, ...]
    helpers: tuple[str, ...]
    classes: tuple[ClassView, ...]
    build_model: Method


# ------------------------------------------------------------ layout text --


def call_lines(head: str, call: Call, tail: str, indent: int) -> list[str]:
    """`head` + the call + `tail`, on one line if it fits, else one argument per line with a
    trailing comma (recursively), as `ruff format` lays it out at 88 columns and keeps at 120."""
    flat = head + flat_call(call) + tail
    if indent + len(flat) <= LINE_LENGTH:
        return [flat]
    lines = [f"{head}{call.callee}("]
    for keyword, value in call.args:
        prefix = f"{keyword}=" if keyword else ""
        if isinstance(value, Call):
            lines += ["    " + line for line in call_lines(prefix, value, ",", indent + 4)]
        else:
            lines.append(f"    {prefix}{value},")
    lines.append(")" + tail)
    return lines


def flat_call(call: Call) -> str:
    parts = [(f"{k}=" if k else "") + (flat_call(v) if isinstance(v, Call) else v) for k, v in call.args]
    return f"{call.callee}({', '.join(parts)})"


# ------------------------------------------------------------ expressions --


@dataclass(frozen=True)
class TorchExpressions(Expressions):
    """Spec expressions as Python for torch: an initializer is the dict `initialized` takes."""

    def _render(self, expr: ir.Expr) -> tuple[str, int]:
        if not isinstance(expr, ir.Call):
            return super()._render(expr)
        if expr.func not in ops.INITIALIZERS:
            raise ArchError(f"unknown initializer '{expr.func}'", expr.span)
        items = [f'"name": {py_string(expr.func)}']
        for arg in expr.args:
            if arg.name is None:
                raise ArchError(f"{expr.func} takes keyword arguments only, e.g. seed=0", arg.span)
            if arg.name not in ops.INITIALIZERS[expr.func] | {"seed"}:
                raise ArchError(f"{expr.func} has no option '{arg.name}'", arg.span)
            if arg.name == "seed" and expr.func in CONSTANT_INITIALIZERS:
                continue
            items.append(f"{py_string(arg.name)}: {self.source(arg.value)}")
        return "{" + ", ".join(items) + "}", 4


def torch_value(value: Any) -> str:
    """An evaluated value as source; an initializer as the dict `initialized` takes."""
    if isinstance(value, nw.Initializer):
        options = torch_layout.initializer_options(value)
        if isinstance(options, str):
            return py_string(options)
        return "{" + ", ".join(f"{py_string(k)}: {py_value(v)}" for k, v in options.items()) + "}"
    if isinstance(value, tuple):
        items = [torch_value(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    return py_value(value)


# ---------------------------------------------------------------- modules --


@dataclass(frozen=True)
class LayerSource:
    """How one layer is written: its config, and the sources of the options a block's
    parameters decide (config field -> source), which win over the config's values."""

    node: torch_layout.Node
    channels: str
    """The source of its input's channel count: `in_channels`, `4 * filters`, `64`."""
    symbolic: Mapping[str, str]

    def option(self, field: str) -> str:
        if field in self.symbolic:
            return self.symbolic[field]
        return torch_value(compact(getattr(self.node.layer.config, field)))

    def constructor(self, helpers: set[str]) -> Call:
        config = self.node.layer.config
        kind = config.kind
        if isinstance(config, nw.Conv2DConfig):
            return self.conv(config, helpers)
        if isinstance(config, nw.BatchNormConfig):
            norm = "nn.BatchNorm2d" if len(self.node.in_shape) == 3 else "nn.BatchNorm1d"
            args: list[tuple[str, str | Call]] = [("", self.channels)]
            if config.epsilon != 1e-5 or "epsilon" in self.symbolic:
                args.append(("eps", self.option("epsilon")))
            momentum = self.symbolic.get("momentum")
            if momentum is not None:
                args.append(("momentum", f"1 - {momentum}" if momentum.isidentifier() else f"1 - ({momentum})"))
            elif round(1 - config.momentum, 12) != 0.1:
                args.append(("momentum", py_value(round(1 - config.momentum, 12))))
            return Call(norm, tuple(args))
        if isinstance(config, nw.ActivationConfig):
            return self.activation("activation", helpers)
        if isinstance(config, nw.ZeroPaddingConfig):
            (top, bottom), (left, right) = config.padding
            sides = (left, right, top, bottom)
            return Call("nn.ZeroPad2d", (("", py_value(sides[0] if len(set(sides)) == 1 else sides)),))
        if isinstance(config, nw.PoolConfig):
            same = "Same" if config.padding == "same" else ""
            pool = f"MaxPool2d{same}" if kind == "maxpool" else f"AvgPool2d{same}"
            if same:
                helpers.add(pool)
            return Call(pool if same else f"nn.{pool}", (("", self.option("pool_size")), ("", self.option("strides"))))
        if isinstance(config, nw.GlobalPoolConfig):
            pool = "nn.AdaptiveAvgPool2d" if kind == "global_avgpool" else "nn.AdaptiveMaxPool2d"
            if config.keepdims:
                return Call(pool, (("", "1"),))
            return Call("nn.Sequential", (("", Call(pool, (("", "1"),))), ("", Call("nn.Flatten"))))
        if isinstance(config, nw.FlattenConfig):
            helpers.add("FlattenChannelsLast")
            return Call("FlattenChannelsLast")
        if isinstance(config, nw.DenseConfig):
            return self.dense(config, helpers)
        if isinstance(config, nw.DropoutConfig):
            return Call("nn.Dropout", (("", self.option("rate")),))
        if isinstance(config, nw.ChannelPaddingConfig):
            helpers.add("ChannelPad")
            if "padding" in self.symbolic:  # [low, high], from the block's parameters
                return Call("ChannelPad", (("", f"*{self.symbolic['padding']}"),))
            low, high = config.padding[1]
            return Call("ChannelPad", (("", str(low)), ("", str(high))))
        if isinstance(config, nw.SubsampleConfig):
            return Call("nn.MaxPool2d", (("", self.option("pool_size")), ("", self.option("strides"))))
        if isinstance(config, nw.UpSamplingConfig):
            args = [("scale_factor", self.option("size"))]
            if "interpolation" in self.symbolic or config.interpolation != "nearest":
                args.append(("mode", self.option("interpolation")))
            return Call("nn.Upsample", tuple(args))
        if isinstance(config, nw.DepthwiseConv2DConfig):
            return self.depthwise(config, self.symbolic.get("use_bias") or py_value(config.use_bias), helpers)
        if isinstance(config, nw.SeparableConv2DConfig):
            helpers.add("SeparableConv2d")
            pointwise = [("", self.channels_times_multiplier()), ("", self.option("filters")), ("", "1")]
            if "use_bias" in self.symbolic or not config.use_bias:
                pointwise.append(("bias", self.option("use_bias")))
            made = self.initialized(Call("nn.Conv2d", tuple(pointwise)), helpers, "pointwise_initializer")
            return Call("SeparableConv2d", (("", self.depthwise(config, "False", helpers)), ("", made)))
        if isinstance(config, (nw.GroupNormConfig, nw.LayerNormConfig)):
            if config.axis not in (-1, len(self.node.in_shape)):
                raise ArchError(f"cannot generate torch code for layer '{self.node.name}': axis {config.axis}")
            eps = ("eps", self.option("epsilon"))
            if isinstance(config, nw.GroupNormConfig):
                return Call("nn.GroupNorm", (("", self.option("groups")), ("", self.channels), eps))
            helpers.add("LayerNormChannels")
            return Call("LayerNormChannels", (("", self.channels), eps))
        if isinstance(config, nw.ReshapeConfig):
            helpers.add("ReshapeChannelsLast")
            return Call("ReshapeChannelsLast", (("", py_value(self.node.layer.output_shape)),))
        raise ArchError(f"cannot generate torch code for layer '{self.node.name}' ({kind})")

    def conv(self, config: nw.Conv2DConfig, helpers: set[str]) -> Call:
        args: list[tuple[str, str | Call]] = [
            ("", self.channels),
            ("", self.option("filters")),
            ("", self.option("kernel_size")),
        ]
        callee = "nn.Conv2d"
        for field, keyword, default in (("strides", "stride", (1, 1)), ("dilation_rate", "dilation", (1, 1))):
            if field in self.symbolic or getattr(config, field) != default:
                args.append((keyword, self.option(field)))
        fixed = self.symbolic.keys().isdisjoint({"strides", "kernel_size", "dilation_rate"})
        if config.padding == "same" and fixed and config.strides == (1, 1) and torch_layout.symmetric(config):
            args.append(("padding", '"same"'))
        elif config.padding == "same":
            callee = "Conv2dSame"
        elif self.node.padding != (0, 0):
            args.append(("padding", py_value(compact(self.node.padding))))
        if "groups" in self.symbolic or config.groups != 1:
            args.append(("groups", self.option("groups")))
        if "use_bias" in self.symbolic or not config.use_bias:
            args.append(("bias", self.option("use_bias")))
        if callee == "Conv2dSame":
            helpers.add(callee)
        return self.initialized(Call(callee, tuple(args)), helpers)

    def channels_times_multiplier(self) -> str:
        config = self.node.layer.config
        assert isinstance(config, (nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig))
        multiplier = self.option("depth_multiplier")
        return self.channels if multiplier == "1" else f"{_operand(self.channels)} * {_operand(multiplier)}"

    def depthwise(
        self, config: nw.DepthwiseConv2DConfig | nw.SeparableConv2DConfig, bias: str, helpers: set[str]
    ) -> Call:
        """The depthwise convolution: one group per input channel, `depth_multiplier` filters each."""
        args: list[tuple[str, str | Call]] = [
            ("", self.channels),
            ("", self.channels_times_multiplier()),
            ("", self.option("kernel_size")),
        ]
        callee = "nn.Conv2d"
        for field, keyword, default in (("strides", "stride", (1, 1)), ("dilation_rate", "dilation", (1, 1))):
            if field in self.symbolic or getattr(config, field) != default:
                args.append((keyword, self.option(field)))
        fixed = self.symbolic.keys().isdisjoint({"strides", "kernel_size", "dilation_rate"})
        if config.padding == "same" and fixed and config.strides == (1, 1) and torch_layout.symmetric(config):
            args.append(("padding", '"same"'))
        elif config.padding == "same":
            callee = "Conv2dSame"
            helpers.add(callee)
        args += [("groups", self.channels)]
        if bias != "True":
            args.append(("bias", bias))
        made = self.initialized(Call(callee, tuple(args)), helpers, "depthwise_initializer")
        return Call(made.callee, (*made.args, ("depthwise", "True")))

    def dense(self, config: nw.DenseConfig, helpers: set[str]) -> Call:
        args: list[tuple[str, str | Call]] = [("", self.channels), ("", self.option("units"))]
        plain = config.activation == "linear" and len(self.node.in_shape) == 1 and "activation" not in self.symbolic
        if plain:
            if "use_bias" in self.symbolic or not config.use_bias:
                args.append(("bias", self.option("use_bias")))
            return self.initialized(Call("nn.Linear", tuple(args)), helpers)
        helpers.add("Dense")
        args += [("bias", self.option("use_bias")), ("activation", self.activation("activation", helpers))]
        return self.initialized(Call("Dense", tuple(args)), helpers)

    def activation(self, field: str, helpers: set[str]) -> Call:
        """`nn.ReLU()`; a function a parameter names is looked up when the block is made."""
        if field in self.symbolic:
            helpers.update({"activation", "Exponential"})
            return Call("activation", (("", self.symbolic[field]),))
        config = self.node.layer.config
        class_name, args = torch_layout.ACTIVATIONS[getattr(config, field)]
        if class_name == "Exponential":
            helpers.add("Exponential")
            return Call("Exponential")
        return Call(f"nn.{class_name}", tuple((k, py_value(v)) for k, v in args))

    def initialized(self, layer: Call, helpers: set[str], field: str = "kernel_initializer") -> Call:
        helpers.add("initialized")
        if field in self.symbolic:
            return Call("initialized", (("", layer), ("", self.symbolic[field])))
        spec = getattr(self.node.layer.config, field)
        if spec == nw.Initializer.model_construct(name="glorot_uniform"):
            return Call("initialized", (("", layer),))
        return Call("initialized", (("", layer), ("", torch_value(spec))))


def channels_after(layer: nw.Layer, operands: Sequence[str], written: Mapping[str, str]) -> str:
    """The source of a layer's output channels, given its inputs' and its own options."""
    config = layer.config
    before = operands[0]
    if isinstance(config, (nw.Conv2DConfig, nw.SeparableConv2DConfig)):
        return written.get("filters", str(config.filters))
    if isinstance(config, nw.DenseConfig):
        return written.get("units", str(config.units))
    if isinstance(config, nw.DepthwiseConv2DConfig):
        multiplier = written.get("depth_multiplier", str(config.depth_multiplier))
        return before if multiplier == "1" else f"{_operand(before)} * {_operand(multiplier)}"
    if isinstance(config, nw.ChannelPaddingConfig):
        return f"{before} + " + (f"sum({written['padding']})" if "padding" in written else str(sum(config.padding[1])))
    if isinstance(config, nw.ConcatConfig):
        return " + ".join(operands)
    if isinstance(config, nw.ReshapeConfig):
        return str(layer.output_shape[-1])
    return before


def _operand(source: str) -> str:
    """A source as an operand of `*`: parenthesized unless a name, a number or a call."""
    return source if source.replace("_", "a").isalnum() else f"({source})"


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
        builder = BlockBuilder(self.block, self.idents, self.instances, self.layers, self.defaults)
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


# ------------------------------------------------------------------ model --


def class_name(name: str, taken: set[str]) -> str:
    """`bottleneck_v1` -> `BottleneckV1`: a class name, distinct from everything taken."""
    camel = "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Block"
    return identifier(camel, taken)


@dataclass(frozen=True)
class ModelClass:
    """The network's class: stem and head layers from their configs, stages of blocks."""

    network: nw.Network
    layout: torch_layout.Layout
    name: str
    block_classes: Mapping[str, str]
    blocks: Mapping[str, ir.BlockDef]
    param_idents: Mapping[str, Mapping[str, str]]
    classes_layer: str | None

    def build(self, helpers: set[str]) -> ClassView:
        network = self.network
        init = ["super().__init__()"]
        for section, scope in (("stem", self.layout.stem), ("head", self.layout.head)):
            if section == "head":
                init += self.stages()
            sources = {
                node.name: LayerSource(
                    node, str(node.in_channels), {"units": "classes"} if node.name == self.classes_layer else {}
                )
                for node in scope.nodes
            }
            init += init_body(scope, sources, helpers, section)
        forward = chain_forward(self.layout.stem)
        forward += [f"x = self.{stage.attribute}(x)" for stage in self.layout.stages if stage.blocks]
        forward += chain_forward(self.layout.head)
        params = (
            ("self", f"classes: int = {py_value(dict(network.params)['classes'])}") if self.classes_layer else ("self",)
        )
        doc = [
            f"{doc_text(network.name)}: {network.total_params.trainable:,} parameters and "
            f"{torch_layout_buffers(network):,} buffer elements with the defaults.",
        ]
        methods = (
            Method("__init__", params, " -> None", (), tuple(init)),
            Method("forward", ("self", "x: torch.Tensor"), " -> torch.Tensor", (), (*forward, "return x")),
        )
        return ClassView(self.name, tuple(doc), methods)

    def stages(self) -> list[str]:
        lines = []
        for stage in self.layout.stages:
            if not stage.blocks:
                continue
            lines.append(f"# stage {escape(stage.stage.label)}")
            items: list[tuple[str, str | Call]] = []
            instances = list(zip(stage.stage.blocks, stage.blocks, strict=True))
            for _, run in itertools.groupby(instances, key=lambda pair: self.run_key(*pair)):
                run = list(run)
                instance, scope = run[0]
                call = Call(self.block_classes[instance.name], self.block_args(instance, scope))
                if len(run) == 1:
                    items.append(("", call))
                else:
                    items.append(("", f"*({flat_call(call)} for _ in range({len(run)}))"))
            lines += call_lines(f"self.{stage.attribute} = ", Call("nn.Sequential", tuple(items)), "", 8)
        return lines

    def run_key(self, instance: nw.BlockInstance, scope: torch_layout.Scope) -> Any:
        return (
            self.block_classes[instance.name],
            torch_value(instance.args),
            scope.nodes[0].in_channels if scope.nodes else 0,
        )

    def block_args(self, instance: nw.BlockInstance, scope: torch_layout.Scope) -> tuple[tuple[str, str], ...]:
        """`in_channels`, required parameters by position, the others by keyword where not the default."""
        block = self.blocks[instance.block]
        idents = self.param_idents[instance.block]
        values = dict(instance.args)
        args = [("", str(self.layers_in(instance)))]
        bound: dict[str, Any] = {}
        by_keyword = False
        for param in block.params:
            value = values[param.name]
            if param.default is None and not by_keyword:
                args.append(("", torch_value(value)))
            elif param.default is None or not same_value(value, default_value(param.default, bound)):
                args.append((idents[param.name], torch_value(value)))
                by_keyword = True
            else:
                by_keyword = True
            bound[param.name] = value
        return tuple(args)

    def layers_in(self, instance: nw.BlockInstance) -> int:
        first = self.network.layer(instance.layers[0])
        return self.network.layer(first.inputs[0]).output_shape[-1]


def torch_layout_buffers(network: nw.Network) -> int:
    from resnet_dsl.analysis.summary import torch_counts

    return torch_counts(network)["buffers"]


# -------------------------------------------------------------- rendering --


@cache
def helper_sources() -> dict[str, str]:
    """The source of each helper in `backends/torch.py`, read as text (torch is not imported)."""
    path = Path(__file__).parent.parent / "backends" / "torch.py"
    text = path.read_text(encoding="utf-8")
    sources = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        if name in HELPERS:
            sources[name] = ast.get_source_segment(text, node) or ""
    return sources


def needed(direct: set[str]) -> list[str]:
    """The helpers used and those they use, in `HELPERS`' order."""
    wanted = set()
    stack = [name for name in direct if name in HELPERS]
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack += HELPERS[name]
    return [name for name in HELPERS if name in wanted]


def activation_helper() -> str:
    """`activation(name)`: Keras's activation of that name, for a block that takes it as a parameter."""
    entries = []
    for name, (class_name, args) in torch_layout.ACTIVATIONS.items():
        arguments = ", ".join(f"{py_string(k)}: {py_value(v)}" for k, v in args)
        made = "Exponential" if class_name == "Exponential" else f"nn.{class_name}"
        entries.append(f"        {py_string(name)}: ({made}, {{{arguments}}}),")
    return "\n".join(
        [
            "def activation(name: str) -> nn.Module:",
            '    """Keras\'s activation `name` as a torch module."""',
            "    modules = {",
            *entries,
            "    }",
            "    module, arguments = modules[name]",
            "    return module(**arguments)",
        ]
    )


def module_view(network: nw.Network, source: str) -> TorchModuleView:
    """The typed view of the whole generated file."""
    layout = torch_layout.layout(network)
    defaults = evaluate_defaults(network.defaults, dict(network.params))
    layers = {layer.name: layer for layer in network.layers}
    instances: dict[str, list[tuple[nw.BlockInstance, torch_layout.Scope]]] = {}
    for stage in layout.stages:
        for instance, scope in zip(stage.stage.blocks, stage.blocks, strict=True):
            instances.setdefault(instance.block, []).append((instance, scope))
    used = [block for block in network.blocks if instances.get(block.name)]
    taken = set(MODULE_NAMES) | set(HELPERS)
    network_class = class_name(network.name, taken)
    param_idents = {block.name: _param_identifiers(block) for block in used}
    block_classes: dict[str, str] = {}
    helpers: set[str] = set()
    classes = []
    for block in used:
        # Instances whose modules differ (a path a condition leaves out) get a class each.
        groups: dict[tuple, list[tuple[nw.BlockInstance, torch_layout.Scope]]] = {}
        for pair in instances[block.name]:
            groups.setdefault(tuple(layout_shape(pair[1])), []).append(pair)
        for number, pairs in enumerate(groups.values(), start=1):
            name = class_name(block.name if number == 1 else f"{block.name}_{number}", taken)
            block_classes.update((instance.name, name) for instance, _ in pairs)
            builder = BlockClass(
                block,
                name,
                param_idents[block.name],
                [instance for instance, _ in pairs],
                [scope for _, scope in pairs],
                layers,
                defaults,
            )
            classes.append(builder.build(helpers))
    classes_layer = _classes_layer(network)
    model = ModelClass(
        network,
        layout,
        network_class,
        block_classes,
        {b.name: b for b in used},
        param_idents,
        classes_layer,
    ).build(helpers)
    classes.append(model)
    helper_names = needed(helpers)
    texts = [helper_sources()[name] for name in helper_names]
    if "activation" in helpers:
        texts.append(activation_helper())
    imports = []
    if NEEDS_MATH & set(helper_names):
        imports.append("import math")
    imports += ["", "import torch"] if imports else ["import torch"]
    if NEEDS_FUNCTIONAL & set(helper_names):
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    build = _build_model(network, network_class, classes_layer is not None)
    return TorchModuleView(
        escape(__version__), escape(source), doc_text(network.name), tuple(imports), tuple(texts), tuple(classes), build
    )


def _param_identifiers(block: ir.BlockDef) -> dict[str, str]:
    taken = set(BLOCK_LOCALS)
    return {param.name: identifier(param.name, taken) for param in block.params}


def _classes_layer(network: nw.Network) -> str | None:
    from resnet_dsl.codegen.keras import ModelBuilder

    found = ModelBuilder(network, {}, {}, {}).classes_layer()
    return found.name if found is not None else None


def _build_model(network: nw.Network, network_class: str, has_classes: bool) -> Method:
    if has_classes:
        classes = py_value(dict(network.params)["classes"])
        doc = (
            f"{doc_text(network.name)} as a torch module, in NCHW; {network.input_shape[-1]} input channels.",
            "",
            "Args:",
            "    classes: the number of classes.",
        )
        body = (f"return {network_class}(classes)",)
        return Method("build_model", (f"classes: int = {classes}",), " -> nn.Module", doc, body, indent=0)
    doc = (f"{doc_text(network.name)} as a torch module, in NCHW; {network.input_shape[-1]} input channels.",)
    return Method("build_model", (), " -> nn.Module", doc, (f"return {network_class}()",), indent=0)


def render(network: nw.Network, source: str | None = None) -> str:
    """The generated torch module of a network; `source` names its spec in the header."""
    view = module_view(network, network.source if source is None else source)
    return environment().get_template(TEMPLATE).render(module=view)
