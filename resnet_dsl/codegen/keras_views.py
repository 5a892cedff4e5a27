"""The Keras target's vocabulary: `keras.layers` classes and keywords, and the typed views
(statements, functions, the module) that `templates/keras_model.py.jinja` lays out.

A layer is written from its typed config (stem and head: `layer_from_config`) or from its
call in a block definition, symbolically (`LayerRenderer`: `conv(filters[0], 1, stride=s)`
becomes `layers.Conv2D(filters[0], 1, strides=s, ...)`), network defaults baked in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from resnet_dsl.codegen.pysource import (
    Expressions,
    free_names,
    py_string,
    py_value,
)
from resnet_dsl.codegen.views import compact, keras_keyword
from resnet_dsl.language import ir
from resnet_dsl.network import model as nw
from resnet_dsl.network import ops, option_values
from resnet_dsl.network.expand import (
    Defaults,
)
from resnet_dsl.network.shapes import kernel_shape

# ------------------------------------------------------------ Keras tables --

KERAS_CLASSES: dict[str, str] = {
    "conv2d": "Conv2D",
    "conv1d": "Conv1D",
    "batchnorm": "BatchNormalization",
    "activation": "Activation",
    "zeropad": "ZeroPadding2D",
    "channelpad": "ZeroPadding2D",
    "pad": "Pad2D",
    "blur": "DepthwiseConv2D",
    "split": "ChannelSplit",
    "select": "Select",
    "subsample": "MaxPooling2D",
    "upsample": "UpSampling2D",
    "depthwise_conv2d": "DepthwiseConv2D",
    "separable_conv2d": "SeparableConv2D",
    "groupnorm": "GroupNormalization",
    "layernorm": "LayerNormalization",
    "reshape": "Reshape",
    "maxpool": "MaxPooling2D",
    "avgpool": "AveragePooling2D",
    "global_avgpool": "GlobalAveragePooling2D",
    "global_maxpool": "GlobalMaxPooling2D",
    "flatten": "Flatten",
    "dense": "Dense",
    "dropout": "Dropout",
    "drop_path": "Dropout",
    "layer_scale": "DepthwiseConv2D",
    "rescale": "Rescaling",
    "normalize": "Normalize",
    "add": "Add",
    "multiply": "Multiply",
    "concat": "Concatenate",
}
"""The `keras.layers` class of each config kind (`network.LayerConfig`'s discriminator)."""


def _channelpad_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    return Arg(f"((0, 0), {sources['channels']})"), Arg('"channels_first"', "data_format")


def _subsample_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    return Arg("1"), Arg(sources["stride"], "strides")


def _pad_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    return (Arg(sources["padding"]), *([Arg(sources["mode"], "mode")] if "mode" in sources else []))


def _blur_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    """A depthwise convolution that is not trained, its kernel the binomial filter (`blur_kernel`)."""
    size = sources.get("size", "3")
    return (
        Arg(size),
        Arg(sources.get("stride", "2"), "strides"),
        Arg("False", "use_bias"),
        Arg("False", "trainable"),
        Arg(f"keras.initializers.Constant(blur_kernel({size}))", "depthwise_initializer"),
    )


def _drop_path_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    """Drop path is a `Dropout` with one noise value per sample."""
    return Arg(sources["rate"]), Arg("(None, 1, 1, 1)", "noise_shape")


def _layer_scale_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    """A layer scale is a 1x1 depthwise kernel without bias, starting at its value."""
    value = sources.get("value", "1e-06")
    return Arg("1"), Arg("False", "use_bias"), Arg(f"keras.initializers.Constant({value})", "depthwise_initializer")


CUSTOM_ARGS: dict[str, Callable[[Mapping[str, str]], tuple[Arg, ...]]] = {
    "drop_path": _drop_path_args,
    "layer_scale": _layer_scale_args,
    "channelpad": _channelpad_args,
    "subsample": _subsample_args,
    "pad": _pad_args,
    "blur": _blur_args,
}
"""Kinds whose Keras arguments are not their options one for one (see `network.py`'s configs):
the arguments from the options' source, by option name."""

HELPER_KINDS: dict[str, str] = {
    "pad": "Pad2D",
    "blur": "blur_kernel",
    "split": "ChannelSplit",
    "select": "Select",
    "normalize": "Normalize",
}
"""The helper of `backends/keras_layers.py` each kind of layer needs in a generated module."""


OWN_CLASSES = frozenset({"pad", "split", "select", "normalize"})
"""Kinds whose Keras class is not in `keras.layers` but in the generated module itself."""


def keras_callee(kind: str) -> str:
    """`layers.Conv2D`, or a class the generated module defines (`Pad2D`)."""
    name = KERAS_CLASSES[kind]
    return name if kind in OWN_CLASSES else f"layers.{name}"


CONFIG_SOURCED = frozenset({"drop_path", "layer_scale"})
"""Kinds of CUSTOM_ARGS whose options are their config's fields, name for name: a stem or head
layer of theirs is written from its config through the same function."""

CALL_KEYWORDS = frozenset({"training"})
"""Options passed when the layer is called, as the seed does: `BatchNormalization()(x, training=True)`."""

POSITIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "conv2d": ("filters", "kernel_size"),
    "conv1d": ("filters", "kernel_size"),
    "dense": ("units",),
    "activation": ("activation",),
    "zeropad": ("padding",),
    "channelpad": ("padding",),
    "subsample": ("pool_size",),
    "upsample": ("size",),
    "depthwise_conv2d": ("kernel_size",),
    "separable_conv2d": ("filters", "kernel_size"),
    "groupnorm": ("groups",),
    "reshape": ("target_shape",),
    "maxpool": ("pool_size",),
    "avgpool": ("pool_size",),
    "dropout": ("rate",),
    "split": ("groups", "index"),
    "drop_path": ("rate",),
    "rescale": ("scale",),
    "normalize": ("mean", "variance"),
}
"""Config fields written by position when a layer is rendered from its config; each is
the leading parameter of its Keras class, in this order."""

# ------------------------------------------------------------------ views --


@dataclass(frozen=True)
class Arg:
    """One argument (or parameter) as source: `value`, or `keyword=value`."""

    value: str
    keyword: str = ""


@dataclass(frozen=True)
class Call:
    callee: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Statement:
    kind: ClassVar[str]
    indent: int
    """Columns in front of the statement, so the template can tell whether it fits a line."""


@dataclass(frozen=True)
class Comment(Statement):
    kind: ClassVar[str] = "comment"
    text: str


@dataclass(frozen=True)
class Blank(Statement):
    kind: ClassVar[str] = "blank"


@dataclass(frozen=True)
class Assign(Statement):
    """`target = value`, or `target = call` when `call` is given."""

    kind: ClassVar[str] = "assign"
    target: str
    value: str = ""
    call: Call | None = None


@dataclass(frozen=True)
class Default(Statement):
    """`if ident is None: ident = value`: a default that is computed, or sees earlier parameters."""

    kind: ClassVar[str] = "default"
    ident: str
    value: str


@dataclass(frozen=True)
class Apply(Statement):
    """`target = layers.X(...)(inputs, training=...)`: make a layer and call it."""

    kind: ClassVar[str] = "apply"
    target: str
    layer: Call
    inputs: tuple[str, ...]
    as_list: bool
    call_args: tuple[Arg, ...] = ()


@dataclass(frozen=True)
class Loop(Statement):
    kind: ClassVar[str] = "loop"
    variable: str
    start: int
    stop: int
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class If(Statement):
    """`if test:` and its statements."""

    kind: ClassVar[str] = "if"
    test: str
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class Return(Statement):
    kind: ClassVar[str] = "return"
    value: str = ""
    call: Call | None = None


@dataclass(frozen=True)
class Function:
    """A `def`: its signature as a call of parameters, its docstring lines and its body."""

    signature: Call
    doc: tuple[str, ...]
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class ModuleView:
    """What the template renders: the whole generated file."""

    version: str
    source: str
    network: str
    functions: tuple[Function, ...]
    imports: tuple[str, ...] = ()
    """Standard-library imports the spec's functions need (`import math` for `ceil`)."""
    helpers: tuple[str, ...] = ()
    """Definitions of the spec's functions the module computes with (`make_divisible`)."""


# ---------------------------------------------------------- layer calls --


def kernel_shape_source(kind: str, sources: Mapping[str, str], channels: str) -> str | None:
    """The source of a biased layer's kernel shape as Keras shapes it, for `kernel_fan_bias`
    (`channels`: the source of its input's channel count), or None for a layer without one."""
    kernel = sources.get("kernel", "1")
    pair = f"*{kernel}" if kernel.startswith("(") else f"{kernel}, {kernel}" if kernel.isdigit() else None
    pair = pair or f"*(({kernel}, {kernel}) if isinstance({kernel}, int) else {kernel})"
    if kind == "conv2d":
        groups = sources.get("groups", "1")
        inputs = channels if groups == "1" else f"{channels} // {groups}"
        return f"({pair}, {inputs}, {sources['filters']})"
    if kind == "conv1d":
        return f"({kernel}, {channels}, {sources['filters']})"
    if kind == "depthwise_conv2d":
        return f"({pair}, {channels}, {sources.get('depth_multiplier', '1')})"
    if kind == "separable_conv2d":
        multiplier = sources.get("depth_multiplier", "1")
        return f"(1, 1, {channels if multiplier == '1' else f'{channels} * {multiplier}'}, {sources['filters']})"
    if kind == "dense":
        return f"({channels}, {sources['units']})"
    return None


def layer_from_config(
    config: nw.LayerConfig, name: str, channels: int = 0, outputs: str | None = None
) -> tuple[Call, tuple[Arg, ...]]:
    """A layer of the stem or head from its typed config, leaving out what Keras defaults to
    (`channels`: its input's, whose kernel's fans a bias initializer counts; `outputs`: the
    source of its outputs where a parameter gives them, `classes`).

    Config fields are Keras's keywords and their defaults Keras's (the equivalence tests
    hold both to that), so an omitted setting means the same layer.
    """
    if config.kind in CONFIG_ARGS:
        return Call(keras_callee(config.kind), (*CONFIG_ARGS[config.kind](config), Arg(py_string(name), "name"))), ()
    if config.kind in CONFIG_SOURCED:
        fields = {field: py_value(getattr(config, field)) for field in type(config).model_fields if field != "kind"}
        return Call(keras_callee(config.kind), (*CUSTOM_ARGS[config.kind](fields), Arg(py_string(name), "name"))), ()
    positional = POSITIONAL_FIELDS.get(config.kind, ())
    args = [Arg(py_value(compact(getattr(config, name_)))) for name_ in positional]
    call_args = []
    for name_, info in type(config).model_fields.items():
        value = getattr(config, name_)
        if name_ == "kind" or name_ in positional or (not info.is_required() and value == info.default):
            continue
        arg = Arg(py_value(compact(value)), name_)
        if name_ == "bias_initializer":
            if not getattr(config, "use_bias", False):
                continue
            shape = [str(size) for size in kernel_shape(config, channels) or ()]
            shape[-1] = outputs or shape[-1]
            arg = Arg(f"kernel_fan_bias({arg.value}, ({', '.join(shape)}))", name_)
        (call_args if name_ in CALL_KEYWORDS else args).append(arg)
    args.append(Arg(py_string(name), "name"))
    return Call(keras_callee(config.kind), tuple(args)), tuple(call_args)


def _config_sources(config: nw.PadConfig | nw.BlurConfig) -> dict[str, str]:
    """A pad's or a blur's options as source, from its config (a stem's or head's layer)."""
    if isinstance(config, nw.PadConfig):
        return {"padding": py_value(compact(config.padding)), "mode": py_value(config.mode)}
    return {"size": py_value(compact(config.kernel_size)), "stride": py_value(compact(config.strides))}


CONFIG_ARGS: dict[str, Callable[[Any], tuple[Arg, ...]]] = {
    kind: (lambda config, kind=kind: CUSTOM_ARGS[kind](_config_sources(config))) for kind in ("pad", "blur")
}
"""Stem and head layers whose Keras arguments are not their config's fields one for one."""


@dataclass(frozen=True)
class LayerRenderer:
    """Renders the layer calls of one block definition symbolically, network defaults baked in."""

    expressions: Expressions
    defaults: Defaults
    clone: frozenset[str]
    """Spec names of the parameters whose initializers every layer must copy (see `unseeded`)."""

    def call(self, call: ir.LayerCall, kind: str, name: str, tensor: str = "x") -> tuple[Call, tuple[Arg, ...]]:
        op = ops.lookup(call.op)
        assert op is not None  # the network was expanded, so every op is known
        positional: list[Arg] = []
        if kind == "activation" and not op.options:  # `relu` is `activation(relu)`
            positional.append(Arg(py_string(op.name)))
        keywords: dict[str, Arg] = {}
        sources: dict[str, str] = {}
        for position, arg in enumerate(call.args):
            option = arg.name or op.options[position].name
            source = sources[option] = self.value(op, option, arg.value)
            if arg.name is None:
                positional.append(Arg(source))
            else:
                keywords[option] = Arg(source, keras_keyword(kind, option))
        for option, value in self.defaults.get(op.name, {}).items():
            if option not in sources:
                keywords[option] = Arg(py_value(value), keras_keyword(kind, option))
                sources[option] = py_value(value)
        if "bias_init" in keywords:  # the kernel's fans, from the layer's input tensor
            shape = kernel_shape_source(kind, sources, f"{tensor}.shape[-1]")
            drawn = f"kernel_fan_bias({sources['bias_init']}, {shape})"
            keywords["bias_init"] = Arg(drawn, "bias_initializer")
            if sources.get("use_bias") == "False" or shape is None:
                del keywords["bias_init"]
        if kind in CUSTOM_ARGS:
            return Call(keras_callee(kind), (*CUSTOM_ARGS[kind](sources), Arg(name, "name"))), ()
        ordered = [keywords[o.name] for o in op.options if o.name in keywords]
        args = [*positional, *(a for a in ordered if a.keyword not in CALL_KEYWORDS), Arg(name, "name")]
        call_args = tuple(a for a in ordered if a.keyword in CALL_KEYWORDS)
        return Call(keras_callee(kind), tuple(args)), call_args

    def value(self, op: ops.Op, option: str, expr: ir.Expr) -> str:
        source = self.expressions.source(expr)
        spec = op.option(option)
        if (
            spec is not None
            and spec.convert is option_values.initializer
            and not self.clone.isdisjoint(free_names(expr))
        ):
            return f"keras.initializers.get({source}).clone()"
        return source
