"""The layer primitives of the language: their options, types, defaults and names.

One table, `OPS`, says what `conv(64, 3, stride=2)` may take and which typed config it
becomes. The expander binds arguments with it; the formatter and docs read it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resnet_dsl.network import model as nw

ACTIVATIONS = frozenset(
    {
        "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "mish",
        "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish", "tanh", "softmax",
        "log_softmax", "softplus", "softsign", "exponential", "linear",
    }
)  # fmt: skip

_SEEDED = frozenset({"seed"})
INITIALIZERS: dict[str, frozenset[str]] = {
    "glorot_uniform": _SEEDED,
    "glorot_normal": _SEEDED,
    "he_uniform": _SEEDED,
    "he_normal": _SEEDED,
    "lecun_uniform": _SEEDED,
    "lecun_normal": _SEEDED,
    "random_uniform": _SEEDED | {"minval", "maxval"},
    "random_normal": _SEEDED | {"mean", "stddev"},
    "truncated_normal": _SEEDED | {"mean", "stddev"},
    "orthogonal": _SEEDED | {"gain"},
    "zeros": frozenset(),
    "ones": frozenset(),
    "variance_scaling": _SEEDED | {"scale", "mode", "distribution"},
    "constant": frozenset({"value"}),
}
"""Keras initializers by name, with the options each takes (constant ones take no seed).
`variance_scaling(2.0, mode=fan_out, distribution=untruncated_normal)` is torchvision's
`kaiming_normal_(mode="fan_out", nonlinearity="relu")`; `constant(0.0)` timm's zeroed last BN."""

INITIALIZER_FIRST: dict[str, str] = {"variance_scaling": "scale", "constant": "value"}
"""The option an initializer's one positional argument gives: `variance_scaling(2.0, ...)`."""

INITIALIZER_SYMBOLS: dict[str, frozenset[str]] = {
    "mode": frozenset({"fan_in", "fan_out", "fan_avg"}),
    "distribution": frozenset({"truncated_normal", "untruncated_normal", "uniform"}),
}
"""Initializer options that take a symbol, and the symbols each takes (Keras's VarianceScaling)."""

REQUIRED = object()


class BadValue(ValueError):
    """An option got a value of the wrong type or range; the expander adds the location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def portable_window(what: str, strides: tuple[int, int], dilation: tuple[int, int]) -> None:
    """What every back end can build: Keras's convolutions refuse a stride and a dilation
    above 1 together (torch takes them), so `check` refuses them before any framework starts."""
    if max(strides) > 1 and max(dilation) > 1:
        raise BadValue(
            f"{what} with stride {strides[0]}x{strides[1]} and dilation {dilation[0]}x{dilation[1]} cannot be"
            f" built by the Keras back end (its convolutions refuse strides > 1 with dilation_rate > 1)",
            f"dilate without the stride and subsample after it: {what}(..., dilation=...) -> subsample(2)",
        )


# ------------------------------------------------------------- converters --


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"expected a positive integer, got {describe(value)}")
    if value <= 0:
        raise BadValue(f"must be positive, got {value}")
    return value


def integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"expected an integer, got {describe(value)}")
    return value


def pair(value: Any) -> tuple[int, int]:
    """`3` or `[3, 1]`: a kernel, stride or pool size."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise BadValue(f"expected one integer or two, got {len(value)} values")
        return positive_int(value[0]), positive_int(value[1])
    size = positive_int(value)
    return size, size


def padding2d(value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """`3`, `[1, 2]` (rows, columns) or `[[top, bottom], [left, right]]`."""

    def amount(v: Any) -> int:
        v = integer(v)
        if v < 0:
            raise BadValue(f"padding cannot be negative, got {v}")
        return v

    if isinstance(value, tuple):
        if len(value) != 2:
            raise BadValue("expected an integer, [rows, columns] or [[top, bottom], [left, right]]")
        if all(isinstance(v, tuple) for v in value):
            (top, bottom), (left, right) = (_two(v) for v in value)
            return (amount(top), amount(bottom)), (amount(left), amount(right))
        rows, cols = amount(value[0]), amount(value[1])
        return (rows, rows), (cols, cols)
    size = amount(value)
    return (size, size), (size, size)


def _two(value: tuple) -> tuple[Any, Any]:
    if len(value) != 2:
        raise BadValue("each side of the padding needs two integers")
    return value[0], value[1]


def low_high(value: Any) -> tuple[int, int]:
    """`[low, high]`: how many zeros go before and after, along one axis."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise BadValue(f"expected [low, high], got {describe(value)}")
    low, high = integer(value[0]), integer(value[1])
    if low < 0 or high < 0:
        raise BadValue(f"padding cannot be negative, got {describe(value)}")
    return low, high


def target_shape(value: Any) -> tuple[int, ...]:
    """`[1, 1, 64]` or `1x1x64`, without the batch; one dimension may be -1 (inferred)."""
    if not isinstance(value, tuple) or not value:
        raise BadValue(f"expected a shape such as [1, 1, 64], got {describe(value)}")
    dims = tuple(integer(d) for d in value)
    if any(d == 0 or d < -1 for d in dims) or dims.count(-1) > 1:
        raise BadValue(f"dimensions must be positive, with at most one -1; got {describe(value)}")
    return dims


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue(f"expected true or false, got {describe(value)}")
    return value


def number(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadValue(f"expected a number, got {describe(value)}")
        too_low = value <= low if low_open else value < low
        too_high = value >= high if high_open else value > high
        if too_low or too_high:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise BadValue(f"must lie in {left}{low:g}, {high:g}{right}, got {value:g}")
        return float(value)

    return convert


def choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise BadValue(f"expected one of {', '.join(options)}; got {describe(value)}")
        return value

    return convert


def activation(value: Any) -> str:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise BadValue(f"unknown activation {describe(value)}")
    return value


def initializer(value: Any) -> nw.Initializer:
    if isinstance(value, nw.Initializer):
        return value
    if isinstance(value, str) and value in INITIALIZERS:
        return nw.Initializer.model_construct(name=value)
    raise BadValue(f"expected an initializer such as glorot_uniform(seed=0), got {describe(value)}")


def describe(value: Any) -> str:
    """A value as the user would have written it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, tuple):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, nw.Initializer):
        return value.name + "(...)"
    return repr(value)


KERAS_KEYWORDS: dict[str, str] = {
    "activation": "an activation is a layer of its own: write {op}(...) -> relu",
    "kernel_size": "write kernel= (or give it second: conv(64, 3))",
    "pool_size": "write size= (or give it first: maxpool(3))",
    "kernel_initializer": "write init=",
    "depthwise_initializer": "write init=",
    "bias_initializer": "biases start at zero; the language sets only init=",
    "name": 'name a layer with as "name" after it: {op}(...) as "name"',
    "trainable": "only a fixed filter is not trainable: write it with weights=[...]",
    "data_format": "layers are channels-last as written; the torch back end converts",
}
"""Keras keywords that are not options of the language's layers, and what to write instead."""


def keras_keyword_hint(op: str, option: str) -> str | None:
    """What to write instead of a Keras keyword given to a layer that has no such option."""
    hint = KERAS_KEYWORDS.get(option)
    return None if hint is None else hint.format(op=op)


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


PADDING = choice("valid", "same")

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
    ),
    positional=2,
    build=lambda o: nw.Conv1DConfig.model_construct(
        filters=o["filters"],
        kernel_size=o["kernel"],
        padding=o["padding"],
        use_bias=o["use_bias"],
        kernel_initializer=o["init"],
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


def _pool(name: str, kind: str) -> Op:
    return Op(
        name,
        (
            Option("size", pair),
            Option("stride", pair, SameAs("size")),
            Option("padding", PADDING, "valid"),
        ),
        positional=2,
        build=lambda o: nw.PoolConfig.model_construct(
            kind=kind, pool_size=o["size"], strides=o["stride"], padding=o["padding"]
        ),
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
        ),
        positional=2,
        build=lambda o: nw.DenseConfig.model_construct(
            units=o["units"], activation=o["activation"], use_bias=o["use_bias"], kernel_initializer=o["init"]
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
    "add": Op("add", (), 0, build=lambda o: nw.AddConfig.model_construct(), suffix=lambda o: "add"),
    "multiply": Op("multiply", (), 0, build=lambda o: nw.MultiplyConfig.model_construct(), suffix=lambda o: "multiply"),
    "concat": Op("concat", (), 0, build=lambda o: nw.ConcatConfig.model_construct(), suffix=lambda o: "concat"),
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

MERGES = frozenset({"add", "multiply", "concat"})
"""Ops that join paths; they stand first in a block's `out` chain and take path names."""

MERGE_KINDS = frozenset({"add", "multiply", "concat"})
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
