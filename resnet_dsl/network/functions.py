"""The functions a spec's expressions may call: widths and depths computed as the zoos compute them.

torchvision and keras.applications derive a family's sizes from a base by formula:
`_make_divisible(32 * width_mult, 8)` rounds a width to a multiple of 8 (MobileNetV2,
EfficientNet), `int(math.ceil(repeats * depth_mult))` scales a stage's depth (EfficientNet),
`int(round(inp * expand_ratio))` an inverted residual's width. The same formulas in a spec
(`make_divisible(32 * width, 8)`, `ceil(2 * depth)`) give the same integers, so the next size of
a family is one derivation. Each function is plain Python on numbers, the same in the
expander and in generated code (`SOURCES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's and keras.applications' `_make_divisible`: `value` rounded to the nearest
    multiple of `divisor` (halves up), at least `min_value` (default `divisor`), and never more
    than 10% below `value` (then one `divisor` more)."""
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class Function:
    """A built-in function: its Python implementation, how many arguments it takes, and its doc."""

    run: Callable[..., int | float]
    arity: tuple[int, int | None]
    """The fewest and most positional arguments (None: any number)."""
    doc: str
    integers: tuple[int, ...] = ()
    """The positions that must hold integers (make_divisible's divisor and minimum)."""


FUNCTIONS: dict[str, Function] = {
    "make_divisible": Function(
        make_divisible,
        (1, 3),
        "make_divisible(value, divisor = 8, min_value = divisor): the nearest multiple of divisor, "
        "at least min_value and not 10% below value (torchvision's and Keras's _make_divisible)",
        (1, 2),
    ),
    "ceil": Function(math.ceil, (1, 1), "ceil(x): the least integer >= x (EfficientNet's depths)"),
    "floor": Function(math.floor, (1, 1), "floor(x): the greatest integer <= x"),
    "round": Function(round, (1, 1), "round(x): the nearest integer, halves to even, as Python's round"),
    "int": Function(int, (1, 1), "int(x): x truncated toward zero, as Python's int"),
    "max": Function(max, (2, None), "max(a, b, ...): the largest"),
    "min": Function(min, (2, None), "min(a, b, ...): the smallest"),
}
"""What `name(...)` computes in an expression; any other call is an initializer."""


SOURCES: dict[str, str] = {
    "make_divisible": (
        "def make_divisible(value, divisor=8, min_value=None):\n"
        '    """torchvision\'s and Keras\'s `_make_divisible`: the nearest multiple of `divisor`,\n'
        '    at least `min_value` (default `divisor`) and never 10% below `value`."""\n'
        "    if min_value is None:\n"
        "        min_value = divisor\n"
        "    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)\n"
        "    if rounded < 0.9 * value:\n"
        "        rounded += divisor\n"
        "    return rounded"
    ),
}
"""Functions generated code defines itself (the others are Python's builtins or `math`'s)."""

PYTHON: dict[str, str] = {"ceil": "math.ceil", "floor": "math.floor"}
"""Functions generated code calls under another name (and so imports `math`)."""
