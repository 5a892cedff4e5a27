"""The layer primitives of the language: their options, types, defaults and names.

One table, `OPS`, says what `conv(64, 3, stride=2)` may take and which typed config it
becomes. The expander binds arguments with it; the formatter and docs read it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resnet_dsl.network import model as nw
from resnet_dsl.network.option_values import (
    ACTIVATIONS,
    REQUIRED,
    BadValue,
    activation,
    boolean,
    choice,
    initializer,
    integer,
    low_high,
    number,
    numbers,
    padding2d,
    pair,
    pool_padding,
    portable_window,
    positive_int,
    target_shape,
)

# ---------------------------------------------------------------- the table --


@dataclass(frozen=True)
class Option:
    name: str
    convert: Callable[[Any], Any]
    default: Any = REQUIRED


@dataclass(frozen=True)
class Op:
    """A layer primitive: its options (the first `positional` may be given by position)."""

    name: str
    options: tuple[Option, ...]
    positional: int
    build: Callable[[dict[str, Any]], Any]
    suffix: Callable[[dict[str, Any]], str]

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)


@dataclass(frozen=True)
class SameAs:
    """A default taken from another option: a pool's stride defaults to its size."""

    option: str


def window_padding(value: Any) -> str:
    """`valid` or `same`; an integer padding is written in the call (`padding=1`), where the
    parser gives it a layer of its own (`language.transform.padded`)."""
    if isinstance(value, (int, tuple)) and not isinstance(value, bool):
        raise BadValue(
            f"an integer padding is written in the call itself, as a number, not computed: got {value!r}",
            "write conv(..., padding=1), or zeropad(p) -> conv(..., padding=valid)",
        )
    return _VALID_OR_SAME(value)


_VALID_OR_SAME = choice("valid", "same")
PADDING = window_padding

_ZEROS = nw.Initializer.model_construct(name="zeros")
"""A bias's default (Keras's); `bias_init=` draws it otherwise, its fans the layer kernel's."""


def unbiased(o: dict[str, Any]) -> nw.Initializer:
    """The bias initializer, zeros for a layer without a bias: there is nothing it draws, so
    `conv(use_bias=false)` layers compare equal whatever a default says (diff, summary)."""
    return o["bias_init"] if o["use_bias"] else _ZEROS


_conv = Op(
    "conv",
    (
        Option("filters", positive_int),
        Option("kernel", pair),
        Option("stride", pair, (1, 1)),
        Option("padding", PADDING, "valid"),
        Option("dilation", pair, (1, 1)),
        Option("groups", positive_int, 1),
        Option("use_bias", boolean, True),
        Option("init", initializer, nw.Initializer.model_construct(name="glorot_uniform")),
        Option("bias_init", initializer, _ZEROS),
    ),
    positional=2,
    build=lambda o: (
        portable_window("conv", o["stride"], o["dilation"])
        or nw.Conv2DConfig.model_construct(
            filters=o["filters"],
            kernel_size=o["kernel"],
            strides=o["stride"],
            padding=o["padding"],
            dilation_rate=o["dilation"],
            groups=o["groups"],
            use_bias=o["use_bias"],
            kernel_initializer=o["init"],
            bias_initializer=unbiased(o),
        )
    ),
    suffix=lambda o: "conv",
)

_conv1d = Op(
    "conv1d",
    (
        Option("filters", positive_int),
        Option("kernel", positive_int),
        Option("padding", PADDING, "valid"),
        Option("use_bias", boolean, True),
        Option("init", initializer, nw.Initializer.model_construct(name="glorot_uniform")),
        Option("bias_init", initializer, _ZEROS),
    ),
    positional=2,
    build=lambda o: nw.Conv1DConfig.model_construct(
        filters=o["filters"],
        kernel_size=o["kernel"],
        padding=o["padding"],
        use_bias=o["use_bias"],
        kernel_initializer=o["init"],
        bias_initializer=unbiased(o),
    ),
    suffix=lambda o: "conv1d",
)

_bn = Op(
    "bn",
    (
        Option("axis", integer, -1),
        Option("epsilon", number(0, 1, low_open=True), 1e-3),
        Option("momentum", number(0, 1), 0.99),
        Option("training", boolean, None),
        Option("gamma_init", initializer, nw.Initializer.model_construct(name="ones")),
        Option("beta_init", initializer, nw.Initializer.model_construct(name="zeros")),
    ),
    positional=0,
    build=lambda o: nw.BatchNormConfig.model_construct(
        axis=o["axis"],
        epsilon=o["epsilon"],
        momentum=o["momentum"],
        training=o["training"],
        gamma_initializer=o["gamma_init"],
        beta_initializer=o["beta_init"],
    ),
    suffix=lambda o: "bn",
)

_activation = Op(
    "activation",
    (Option("function", activation),),
    positional=1,
    build=lambda o: nw.ActivationConfig.model_construct(activation=o["function"]),
    suffix=lambda o: o["function"],
)


def _named_activation(function: str) -> Op:
    """`relu` is short for `activation(relu)`."""
    return Op(
        function,
        (),
        positional=0,
        build=lambda o: nw.ActivationConfig.model_construct(activation=function),
        suffix=lambda o: function,
    )


def _pool_config(kind: str, o: dict[str, Any]) -> nw.PoolConfig:
    padding = o["padding"]
    if isinstance(padding, tuple) and any(2 * p > k for p, k in zip(padding, o["size"], strict=True)):
        raise BadValue(
            f"maxpool pads at most half its window: padding {list(padding)} for size {list(o['size'])}",
            "a padding of 1 for a 3x3 pool, as torchvision's",
        )
    return nw.PoolConfig.model_construct(kind=kind, pool_size=o["size"], strides=o["stride"], padding=padding)


def _pool(name: str, kind: str) -> Op:
    return Op(
        name,
        (
            Option("size", pair),
            Option("stride", pair, SameAs("size")),
            Option("padding", pool_padding if kind == "maxpool" else PADDING, "valid"),
        ),
        positional=2,
        build=lambda o: _pool_config(kind, o),
        suffix=lambda o: "pool",
    )


def _global_pool(name: str, kind: str, suffix: str) -> Op:
    return Op(
        name,
        (Option("keepdims", boolean, False),),
        0,
        build=lambda o: nw.GlobalPoolConfig.model_construct(kind=kind, keepdims=o["keepdims"]),
        suffix=lambda o: suffix,
    )


def _zeropad(o: dict[str, Any]) -> Any:
    """Height and width, or (option A shortcuts) the channels: one Keras layer pads one or the other."""
    if o["channels"] is None:
        if o["padding"] is None:
            raise BadValue("zeropad needs 'padding' (height and width) or 'channels'")
        return nw.ZeroPaddingConfig.model_construct(padding=o["padding"])
    if o["padding"] not in (None, ((0, 0), (0, 0))):
        raise BadValue("zeropad pads height and width or the channels, not both in one layer")
    return nw.ChannelPaddingConfig.model_construct(padding=((0, 0), o["channels"]), data_format="channels_first")


_GLOROT = nw.Initializer.model_construct(name="glorot_uniform")

_depthwise_conv = Op(
    "depthwise_conv",
    (
        Option("kernel", pair),
        Option("stride", pair, (1, 1)),
        Option("padding", PADDING, "valid"),
        Option("depth_multiplier", positive_int, 1),
        Option("dilation", pair, (1, 1)),
        Option("use_bias", boolean, True),
        Option("init", initializer, _GLOROT),
        Option("bias_init", initializer, _ZEROS),
    ),
    positional=1,
    build=lambda o: (
        portable_window("depthwise_conv", o["stride"], o["dilation"])
        or nw.DepthwiseConv2DConfig.model_construct(
            kernel_size=o["kernel"],
            strides=o["stride"],
            padding=o["padding"],
            depth_multiplier=o["depth_multiplier"],
            dilation_rate=o["dilation"],
            use_bias=o["use_bias"],
            depthwise_initializer=o["init"],
            bias_initializer=unbiased(o),
        )
    ),
    suffix=lambda o: "dwconv",
)

_separable_conv = Op(
    "separable_conv",
    (
        Option("filters", positive_int),
        Option("kernel", pair),
        Option("stride", pair, (1, 1)),
        Option("padding", PADDING, "valid"),
        Option("dilation", pair, (1, 1)),
        Option("depth_multiplier", positive_int, 1),
        Option("use_bias", boolean, True),
        Option("depthwise_init", initializer, _GLOROT),
        Option("pointwise_init", initializer, _GLOROT),
        Option("bias_init", initializer, _ZEROS),
    ),
    positional=2,
    build=lambda o: (
        portable_window("separable_conv", o["stride"], o["dilation"])
        or nw.SeparableConv2DConfig.model_construct(
            filters=o["filters"],
            kernel_size=o["kernel"],
            strides=o["stride"],
            padding=o["padding"],
            dilation_rate=o["dilation"],
            depth_multiplier=o["depth_multiplier"],
            use_bias=o["use_bias"],
            depthwise_initializer=o["depthwise_init"],
            pointwise_initializer=o["pointwise_init"],
            bias_initializer=unbiased(o),
        )
    ),
    suffix=lambda o: "sepconv",
)


OPS: dict[str, Op] = {
    "conv": _conv,
    "conv1d": _conv1d,
    "bn": _bn,
    "activation": _activation,
    "zeropad": Op(
        "zeropad",
        (Option("padding", padding2d, None), Option("channels", low_high, None)),
        positional=1,
        build=_zeropad,
        suffix=lambda o: "pad",
    ),
    "pad": Op(
        "pad",
        (Option("padding", padding2d), Option("mode", choice("reflect", "replicate"), "reflect")),
        positional=1,
        build=lambda o: nw.PadConfig.model_construct(padding=o["padding"], mode=o["mode"]),
        suffix=lambda o: "pad",
    ),
    "blur": Op(
        "blur",
        (Option("size", pair, (3, 3)), Option("stride", pair, (2, 2))),
        positional=1,
        build=lambda o: nw.BlurConfig.model_construct(kernel_size=o["size"], strides=o["stride"]),
        suffix=lambda o: "blur",
    ),
    "split": Op(
        "split",
        (Option("groups", positive_int), Option("index", integer)),
        positional=2,
        build=lambda o: nw.SplitConfig.model_construct(groups=o["groups"], index=o["index"]),
        suffix=lambda o: "split",
    ),
    "subsample": Op(
        "subsample",
        (Option("stride", pair),),
        positional=1,
        build=lambda o: nw.SubsampleConfig.model_construct(pool_size=(1, 1), strides=o["stride"]),
        suffix=lambda o: "pool",
    ),
    "upsample": Op(
        "upsample",
        (Option("size", pair), Option("interpolation", choice("nearest", "bilinear"), "nearest")),
        positional=1,
        build=lambda o: nw.UpSamplingConfig.model_construct(size=o["size"], interpolation=o["interpolation"]),
        suffix=lambda o: "upsample",
    ),
    "depthwise_conv": _depthwise_conv,
    "separable_conv": _separable_conv,
    "gn": Op(
        "gn",
        (
            Option("groups", positive_int, 32),
            Option("axis", integer, -1),
            Option("epsilon", number(0, 1, low_open=True), 1e-3),
        ),
        positional=1,
        build=lambda o: nw.GroupNormConfig.model_construct(groups=o["groups"], axis=o["axis"], epsilon=o["epsilon"]),
        suffix=lambda o: "gn",
    ),
    "ln": Op(
        "ln",
        (Option("axis", integer, -1), Option("epsilon", number(0, 1, low_open=True), 1e-3)),
        positional=0,
        build=lambda o: nw.LayerNormConfig.model_construct(axis=o["axis"], epsilon=o["epsilon"]),
        suffix=lambda o: "ln",
    ),
    "reshape": Op(
        "reshape",
        (Option("shape", target_shape),),
        positional=1,
        build=lambda o: nw.ReshapeConfig.model_construct(target_shape=o["shape"]),
        suffix=lambda o: "reshape",
    ),
    "maxpool": _pool("maxpool", "maxpool"),
    "avgpool": _pool("avgpool", "avgpool"),
    "global_avgpool": _global_pool("global_avgpool", "global_avgpool", "avg_pool"),
    "global_maxpool": _global_pool("global_maxpool", "global_maxpool", "max_pool"),
    "flatten": Op("flatten", (), 0, build=lambda o: nw.FlattenConfig.model_construct(), suffix=lambda o: "flatten"),
    "dense": Op(
        "dense",
        (
            Option("units", positive_int),
            Option("activation", activation, "linear"),
            Option("use_bias", boolean, True),
            Option("init", initializer, nw.Initializer.model_construct(name="glorot_uniform")),
            Option("bias_init", initializer, _ZEROS),
        ),
        positional=2,
        build=lambda o: nw.DenseConfig.model_construct(
            units=o["units"],
            activation=o["activation"],
            use_bias=o["use_bias"],
            kernel_initializer=o["init"],
            bias_initializer=unbiased(o),
        ),
        suffix=lambda o: "dense",
    ),
    "dropout": Op(
        "dropout",
        (Option("rate", number(0, 1, high_open=True)),),
        positional=1,
        build=lambda o: nw.DropoutConfig.model_construct(rate=o["rate"]),
        suffix=lambda o: "dropout",
    ),
    "drop_path": Op(
        "drop_path",
        (Option("rate", number(0, 1, high_open=True)),),
        positional=1,
        build=lambda o: nw.DropPathConfig.model_construct(rate=o["rate"]),
        suffix=lambda o: "drop_path",
    ),
    "layer_scale": Op(
        "layer_scale",
        (Option("value", number(-1e30, 1e30), 1e-6),),
        positional=1,
        build=lambda o: nw.LayerScaleConfig.model_construct(value=o["value"]),
        suffix=lambda o: "layer_scale",
    ),
    "rescale": Op(
        "rescale",
        (Option("scale", numbers(-1e30, 1e30)), Option("offset", numbers(-1e30, 1e30), 0.0)),
        positional=2,
        build=lambda o: nw.RescaleConfig.model_construct(scale=o["scale"], offset=o["offset"]),
        suffix=lambda o: "rescaling",
    ),
    "normalize": Op(
        "normalize",
        (Option("mean", numbers(-1e30, 1e30), 0.0), Option("variance", numbers(0, 1e30, low_open=True), 1.0)),
        positional=2,
        build=lambda o: nw.NormalizeConfig.model_construct(mean=o["mean"], variance=o["variance"]),
        suffix=lambda o: "normalization",
    ),
    "add": Op("add", (), 0, build=lambda o: nw.AddConfig.model_construct(), suffix=lambda o: "add"),
    "multiply": Op("multiply", (), 0, build=lambda o: nw.MultiplyConfig.model_construct(), suffix=lambda o: "multiply"),
    "concat": Op("concat", (), 0, build=lambda o: nw.ConcatConfig.model_construct(), suffix=lambda o: "concat"),
    "select": Op("select", (), 0, build=lambda o: nw.SelectConfig.model_construct(), suffix=lambda o: "select"),
}
OPS.update({name: _named_activation(name) for name in sorted(ACTIVATIONS) if name != "linear"})

ALIASES = {
    "batchnorm": "bn",
    "act": "activation",
    "conv2d": "conv",
    "gap": "global_avgpool",
    "groupnorm": "gn",
    "layernorm": "ln",
}

MERGES = frozenset({"add", "multiply", "concat", "select"})
"""Ops that join paths; they stand first in a block's `out` chain and take path names."""

MERGE_KINDS = frozenset({"add", "multiply", "concat", "select"})
"""The config kinds those ops make: layers with several inputs, called on a list of tensors."""


def lookup(name: str) -> Op | None:
    return OPS.get(ALIASES.get(name, name))


def known_names() -> list[str]:
    return sorted([*OPS, *ALIASES])


def bind(op: Op, values: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into bound option values; `values` holds what was given, converted."""
    bound = dict(values)
    for option in op.options:
        if option.name in bound:
            continue
        default = option.default
        bound[option.name] = bound[default.option] if isinstance(default, SameAs) else default
    return bound
