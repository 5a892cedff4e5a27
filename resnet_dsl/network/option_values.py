"""What a layer option may hold: the converters that check each value's type and range, the
activation and initializer vocabularies, and the Keras keywords that are no option of ours.

`ops.OPS` pairs every option of every layer with one of these converters; a converter raises
`BadValue`, and the expander adds the location.
"""

from __future__ import annotations

from collections.abc import Callable
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

VARIANCE_SCALINGS: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}
"""Keras's named fan-scaled initializers as `variance_scaling(scale, mode, distribution)`."""


def variance_scaling_of(name: str, args: dict[str, Any]) -> tuple[float, str, str] | None:
    """(scale, mode, distribution) of a fan-scaled initializer, with Keras's defaults; None for
    any other. Every backend draws the named ones as their general form."""
    if name in VARIANCE_SCALINGS:
        return VARIANCE_SCALINGS[name]
    if name == "variance_scaling":
        return (
            float(args.get("scale", 1.0)),
            str(args.get("mode", "fan_in")),
            str(args.get("distribution", "truncated_normal")),
        )
    return None


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


def pool_padding(value: Any) -> str | tuple[int, int]:
    """A max pool's `valid`, Keras's `same`, or torch's `padding=1` (`[rows, columns]`): that many
    pixels of -inf on each side, so a padded pixel never wins (timm's and torchvision's pools)."""
    if isinstance(value, str):
        if value not in ("valid", "same"):
            raise BadValue(f"expected valid, same or an integer padding; got {describe(value)}")
        return value
    values = value if isinstance(value, tuple) else (value, value)
    if len(values) != 2:
        raise BadValue(f"expected one integer or two, got {len(values)} values")
    amounts = tuple(integer(v) for v in values)
    if min(amounts) < 0:
        raise BadValue(f"padding cannot be negative, got {describe(value)}")
    return amounts[0], amounts[1]


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


def numbers(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float | tuple[float, ...]]:
    """A number, or a list of them, one per channel (`[0.485, 0.456, 0.406]`), each in range."""
    one = number(low, high, low_open=low_open)

    def convert(value: Any) -> float | tuple[float, ...]:
        if isinstance(value, tuple):
            if not value:
                raise BadValue("expected a number or one per channel, got an empty list")
            return tuple(one(item) for item in value)
        return one(value)

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
    "bias_initializer": "write bias_init=",
    "name": 'name a layer with as "name" after it: {op}(...) as "name"',
    "trainable": "only a fixed filter is not trainable: write it with weights=[...]",
    "data_format": "layers are channels-last as written; the torch back end converts",
}
"""Keras keywords that are not options of the language's layers, and what to write instead."""


def keras_keyword_hint(op: str, option: str) -> str | None:
    """What to write instead of a Keras keyword given to a layer that has no such option."""
    hint = KERAS_KEYWORDS.get(option)
    return None if hint is None else hint.format(op=op)
