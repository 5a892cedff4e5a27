"""The torch target's vocabulary: the typed views `templates/torch_model.py.jinja` lays out
(methods, classes, the module), calls laid out as `ruff format` does, spec expressions as torch
source, and each layer's constructor (`LayerSource`: `nn.Conv2d(filters, 4 * filters, 1)`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import (
    CONSTANT_INITIALIZERS,
    Expressions,
    py_string,
    py_value,
)
from resnet_dsl.codegen.views import (
    LINE_LENGTH,
    compact,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import functions, option_values
from resnet_dsl.network import model as nw
from resnet_dsl.network.evaluate import initializer_arguments

MODULE_NAMES = frozenset({"torch", "nn", "F", "math", "build_model", "ACTIVATIONS", "activation"})
BLOCK_LOCALS = frozenset({"self", "in_channels", "x", "out", "identity", "shortcut", "torch", "nn", "F", "math"})
"""Names the generated code uses itself, at module level and in block classes."""


# ------------------------------------------------------------------ views --


@dataclass(frozen=True)
class Call:
    """A call whose arguments may be calls: (keyword or "", value)."""

    callee: str
    args: tuple[tuple[str, str | Call | Chosen], ...] = ()
    brackets: str = "()"
    """`[]` with no callee: a list (of pairs, for an OrderedDict)."""


@dataclass(frozen=True)
class Chosen:
    """A module made only where `condition` holds, else `otherwise` (`nn.Identity()`, `None`)."""

    call: Call
    condition: str
    otherwise: str = "nn.Identity()"

    def flat(self) -> str:
        return f"{flat_call(self.call)} if {self.condition} else {self.otherwise}"

    def lines(self, head: str, tail: str, indent: int) -> list[str]:
        """As `ruff format` lays it out: on one line if it fits, else parenthesised, one part a line."""
        flat = head + self.flat() + tail
        if indent + len(flat) <= LINE_LENGTH:
            return [flat]
        made = exploded_lines("", self.call, "", indent + 4) if self.call.args else [flat_call(self.call)]
        return [  # the call exploded, so that ruff keeps the parts apart at 120 columns too
            f"{head}(",
            *("    " + line for line in made),
            f"    if {self.condition}",
            f"    else {self.otherwise}",
            ")" + tail,
        ]


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
    zoo_tree: bool = False
    """The model builds the module tree its spec states (`torch_tree`), not torchvision's ResNet's."""


# ------------------------------------------------------------ layout text --


def call_lines(head: str, call: Call, tail: str, indent: int) -> list[str]:
    """`head` + the call + `tail`, on one line if it fits, else one argument per line with a
    trailing comma (recursively), as `ruff format` lays it out at 88 columns and keeps at 120."""
    flat = head + flat_call(call) + tail
    if indent + len(flat) <= LINE_LENGTH:
        return [flat]
    return exploded_lines(head, call, tail, indent)


def exploded_lines(head: str, call: Call, tail: str, indent: int) -> list[str]:
    """`call_lines` one argument per line, whatever fits: a trailing comma ruff keeps at any width."""
    lines = [f"{head}{call.callee}{call.brackets[0]}"]
    for keyword, value in call.args:
        prefix = f"{keyword}=" if keyword else ""
        if isinstance(value, Call):
            lines += ["    " + line for line in call_lines(prefix, value, ",", indent + 4)]
        elif isinstance(value, Chosen):
            lines += ["    " + line for line in value.lines(prefix, ",", indent + 4)]
        elif indent + 4 + len(prefix) + len(value) + 1 > LINE_LENGTH and value.startswith("{"):
            lines += [f"    {prefix}{{", *(f"        {item}," for item in dict_items(value)), "    },"]
        else:
            lines.append(f"    {prefix}{value},")
    lines.append(call.brackets[1] + tail)
    return lines


def dict_items(literal: str) -> list[str]:
    """`{"a": 1, "b": (2, 3)}` -> its items, split at the commas outside brackets and strings."""
    items, depth, start, quoted = [], 0, 1, False
    for position, char in enumerate(literal[1:-1], start=1):
        if char == '"' and literal[position - 1] != "\\":
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            items.append(literal[start:position].strip())
            start = position + 1
    return [*items, literal[start:-1].strip()]


def flat_call(call: Call) -> str:
    parts = [
        (f"{k}=" if k else "") + (flat_call(v) if isinstance(v, Call) else v.flat() if isinstance(v, Chosen) else v)
        for k, v in call.args
    ]
    return f"{call.callee}{call.brackets[0]}{', '.join(parts)}{call.brackets[1]}"


# ------------------------------------------------------------ expressions --


@dataclass(frozen=True)
class TorchExpressions(Expressions):
    """Spec expressions as Python for torch: an initializer (a block's argument) is a dict of its
    options; the model's `init_weights` (`torch_init`) states each layer's from the network."""

    def _render(self, expr: ir.Expr) -> tuple[str, int]:
        if not isinstance(expr, ir.Call) or expr.func in functions.FUNCTIONS:
            return super()._render(expr)
        if expr.func not in option_values.INITIALIZERS:
            raise ArchError(f"unknown initializer '{expr.func}'", expr.span)
        items = [f'"name": {py_string(expr.func)}']
        for name, value in initializer_arguments(expr):
            if name not in option_values.INITIALIZERS[expr.func] | {"seed"}:
                raise ArchError(f"{expr.func} has no option '{name}'", value.span)
            if name == "seed" and expr.func in CONSTANT_INITIALIZERS:
                continue
            items.append(f"{py_string(name)}: {self.source(value)}")
        return "{" + ", ".join(items) + "}", 4


def torch_value(value: Any) -> str:
    """An evaluated value as source; an initializer as its name, or a dict of its options."""
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
    padding_mode: str = ""
    """Where a convolution's instances pad differently: `dynamic` (Keras's `same` at every
    instance, asymmetric at each: Conv2dSame), `chosen` (Keras's `same` at every instance,
    symmetric at some: `conv2d_same`, which makes nn.Conv2d or Conv2dSame as the instance's
    stride and kernel need), `written` (`valid` or a symmetric `same` at stride 1: the spec's
    option as the string torch takes)."""

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
            written = self.symbolic.get("padding")
            if written is not None and not written.startswith("(") and len(set(sides)) == 1:
                return Call("nn.ZeroPad2d", (("", written),))  # one amount for every side, `kernel // 2`
            return Call("nn.ZeroPad2d", (("", py_value(sides[0] if len(set(sides)) == 1 else sides)),))
        if isinstance(config, nw.PadConfig):
            if "padding" in self.symbolic or "mode" in self.symbolic:  # chosen per instance
                helpers.add("pad_module")
                return Call("pad_module", (("", self.option("padding")), ("", self.option("mode"))))
            (top, bottom), (left, right) = config.padding
            sides = (left, right, top, bottom)
            pad = "nn.ReflectionPad2d" if config.mode == "reflect" else "nn.ReplicationPad2d"
            return Call(pad, (("", py_value(sides[0] if len(set(sides)) == 1 else sides)),))
        if isinstance(config, nw.SplitConfig):
            helpers.add("ChannelSplit")
            return Call("ChannelSplit", (("", self.option("groups")), ("", self.option("index"))))
        if isinstance(config, nw.BlurConfig):
            helpers.add("Blur2d")
            size, stride = self.option("kernel_size"), self.option("strides")
            return Call("Blur2d", (("", self.channels), ("", size), ("", stride)))
        if isinstance(config, nw.PoolConfig):
            same = "Same" if config.padding == "same" else ""
            pool = f"MaxPool2d{same}" if kind == "maxpool" else f"AvgPool2d{same}"
            if same:
                helpers.add(pool)
            args = [("", self.option("pool_size")), ("", self.option("strides"))]
            if isinstance(config.padding, tuple):  # torch's own: -inf on each side
                args.append(("padding", self.option("padding")))
            elif self.node.padding != (0, 0):  # a zero padding folded in (see `torch_layout`)
                args.append(("padding", py_value(compact(self.node.padding))))
            return Call(pool if same else f"nn.{pool}", tuple(args))
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
        if isinstance(config, nw.LayerScaleConfig):
            helpers.add("LayerScale")
            return Call("LayerScale", (("", self.channels), ("", self.option("value"))))
        if isinstance(config, nw.RescaleConfig):
            helpers.add("Rescale")
            return Call("Rescale", (("", self.option("scale")), ("", self.option("offset"))))
        if isinstance(config, nw.NormalizeConfig):
            helpers.add("Normalize")
            return Call("Normalize", (("", self.channels), ("", self.option("mean")), ("", self.option("variance"))))
        if isinstance(config, nw.DropPathConfig):
            helpers.add("DropPath")
            return Call("DropPath", (("", self.option("rate")),))
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
            made = Call("nn.Conv2d", tuple(pointwise))
            return Call("SeparableConv2d", (("", self.depthwise(config, "False", helpers)), ("", made)))
        if isinstance(config, (nw.GroupNormConfig, nw.LayerNormConfig)):
            if config.axis not in (-1, len(self.node.in_shape)):
                raise ArchError(f"cannot generate torch code for layer '{self.node.name}': axis {config.axis}")
            eps = ("eps", self.option("epsilon"))
            if isinstance(config, nw.GroupNormConfig):
                return Call("nn.GroupNorm", (("", self.option("groups")), ("", self.channels), eps))
            helpers.add("LayerNormChannels")
            return Call("LayerNormChannels", (("", self.channels), eps))
        if isinstance(config, nw.Conv1DConfig):
            helpers.add("Conv1dChannelsLast")
            args: list[tuple[str, str | Call]] = [
                ("", self.channels),
                ("", self.option("filters")),
                ("", self.option("kernel_size")),
                ("padding", self.option("padding")),
            ]
            if "use_bias" in self.symbolic or not config.use_bias:
                args.append(("bias", self.option("use_bias")))
            return Call("Conv1dChannelsLast", tuple(args))
        if isinstance(config, nw.ReshapeConfig):
            helpers.add("ReshapeChannelsLast")
            # As written (one dimension may be -1), so a block whose instances differ in
            # channels reshapes each of them right.
            shape = self.symbolic.get("target_shape") or torch_value(config.target_shape)
            return Call("ReshapeChannelsLast", (("", shape),))
        raise ArchError(f"cannot generate torch code for layer '{self.node.name}' ({kind})")

    def conv(self, config: nw.Conv2DConfig, helpers: set[str]) -> Call:
        args: list[tuple[str, str | Call]] = [
            ("", self.channels),
            ("", self.option("filters")),
            ("", self.option("kernel_size")),
        ]
        for field, keyword, default in (("strides", "stride", (1, 1)), ("dilation_rate", "dilation", (1, 1))):
            if field in self.symbolic or getattr(config, field) != default:
                args.append((keyword, self.option(field)))
        callee = self.padded(args)
        if "groups" in self.symbolic or config.groups != 1:
            args.append(("groups", self.option("groups")))
        if "use_bias" in self.symbolic or not config.use_bias:
            args.append(("bias", self.option("use_bias")))
        if callee != "nn.Conv2d":
            helpers.add(callee)
        return Call(callee, tuple(args))

    def padded(self, args: list[tuple[str, str | Call]]) -> str:
        """The convolution's class (or `conv2d_same`, which chooses it per instance), its
        padding appended to `args` where torch's own: every instance of a class pads alike, or
        as its mode says."""
        padding = torch_layout.conv_padding(self.node)
        if self.padding_mode == "written":
            args.append(("padding", self.symbolic["padding"]))
        elif self.padding_mode == "chosen":
            return "conv2d_same"
        elif padding is None or self.padding_mode == "dynamic":
            return "Conv2dSame"
        elif padding != (0, 0):
            args.append(("padding", py_value(compact(padding))))
        return "nn.Conv2d"

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
        for field, keyword, default in (("strides", "stride", (1, 1)), ("dilation_rate", "dilation", (1, 1))):
            if field in self.symbolic or getattr(config, field) != default:
                args.append((keyword, self.option(field)))
        callee = self.padded(args)
        if callee != "nn.Conv2d":
            helpers.add(callee)
        args += [("groups", self.channels)]
        if bias != "True":
            args.append(("bias", bias))
        return Call(callee, tuple(args))

    def dense(self, config: nw.DenseConfig, helpers: set[str]) -> Call:
        args: list[tuple[str, str | Call]] = [("", self.channels), ("", self.option("units"))]
        plain = config.activation == "linear" and len(self.node.in_shape) == 1 and "activation" not in self.symbolic
        if plain:
            if "use_bias" in self.symbolic or not config.use_bias:
                args.append(("bias", self.option("use_bias")))
            return Call("nn.Linear", tuple(args))
        helpers.add("Dense")
        args += [("bias", self.option("use_bias")), ("activation", self.activation("activation", helpers))]
        return Call("Dense", tuple(args))

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
        inplace = (("inplace", "True"),) if self.node.inplace else ()
        return Call(f"nn.{class_name}", (*((k, py_value(v)) for k, v in args), *inplace))


def channels_after(layer: nw.Layer, operands: Sequence[str], written: Mapping[str, str]) -> str:
    """The source of a layer's output channels, given its inputs' and its own options."""
    config = layer.config
    before = operands[0]
    if isinstance(config, (nw.Conv2DConfig, nw.Conv1DConfig, nw.SeparableConv2DConfig)):
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
    if isinstance(config, nw.SplitConfig):
        return f"{_operand(before)} // {_operand(written.get('groups', str(config.groups)))}"
    if isinstance(config, nw.SelectConfig):
        return operands[1]
    if isinstance(config, nw.ReshapeConfig):
        return str(layer.output_shape[-1])
    return before


def _operand(source: str) -> str:
    """A source as an operand of `*`: parenthesized unless a name, a number or a call."""
    return source if source.replace("_", "a").isalnum() else f"({source})"
