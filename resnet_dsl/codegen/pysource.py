"""Python source for spec values: safe identifiers, literals and expressions.

The code generator writes everything that comes from a spec through these functions,
so no name a spec holds can become a keyword, shadow a builtin or a generated local, and
every string is an escaped ASCII literal. Expressions keep the language's precedence,
which is Python's, so a tree renders with minimal parentheses.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import functions, option_values
from resnet_dsl.network import model as nw
from resnet_dsl.network.evaluate import initializer_arguments

INITIALIZER_CLASSES: dict[str, str] = {
    "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal",
    "he_uniform": "HeUniform",
    "he_normal": "HeNormal",
    "lecun_uniform": "LecunUniform",
    "lecun_normal": "LecunNormal",
    "random_uniform": "RandomUniform",
    "random_normal": "RandomNormal",
    "truncated_normal": "TruncatedNormal",
    "orthogonal": "Orthogonal",
    "zeros": "Zeros",
    "ones": "Ones",
    "variance_scaling": "VarianceScaling",
    "constant": "Constant",
}
"""`keras.initializers` class of each initializer the language knows (`option_values.INITIALIZERS`)."""

CONSTANT_INITIALIZERS = frozenset({"zeros", "ones", "constant"})
"""Keras's constant initializers take no `seed`; a seed given to them changes nothing."""


# ---------------------------------------------------------- identifiers --

RESERVED = frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"l", "O", "I"} | {"math", *functions.SOURCES}
"""Never an identifier of ours: keywords, builtins (the module calls `range` and `float`),
the names pycodestyle calls ambiguous (E741), and the spec functions generated code defines
(`make_divisible`) or imports (`math`)."""

BUILD_MODEL_LOCALS = frozenset({"x", "inputs", "index", "input_shape", "classes"})
"""`build_model`'s parameters and locals: a block function named like one would be shadowed
inside `build_model` (`x = x(x, ...)` fails), so module-level names avoid them too."""
MODULE_NAMES = frozenset({"keras", "layers", "build_model"}) | BUILD_MODEL_LOCALS
BLOCK_LOCALS = frozenset({"x", "name", "shortcut", "inputs", "preact", "keras", "layers"})
"""Names the generated code itself uses, at module level and inside block functions."""


def identifier(name: str, taken: set[str]) -> str:
    """A Python identifier for a spec name, distinct from everything in `taken` (then added).

    Spec names are ASCII identifiers already, but may be keywords, builtins or our own
    locals: `class` -> `class_`, `x` -> `x_`. Anything else is made one, to be safe.
    """
    ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    while ident in RESERVED or ident in taken:
        ident += "_"
    taken.add(ident)
    return ident


# ------------------------------------------------- values and expressions --


def escape(text: str, quote: str = "") -> str:
    """`text` as printable ASCII: backslash escapes for the rest, and for `quote`."""
    out = []
    for char in text:
        if char == "\\" or char == quote:
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def py_string(text: str) -> str:
    """A string literal in ASCII, in double quotes unless single ones need fewer escapes (as ruff)."""
    quote = "'" if text.count('"') > text.count("'") else '"'
    return quote + escape(text, quote) + quote


def py_tuple(items: Sequence[str]) -> str:
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def py_value(value: Any) -> str:
    """An evaluated value as source: numbers, bools, strings, tuples, initializers."""
    if value is None or isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'float("{value}")'
    if isinstance(value, str):
        return py_string(value)
    if isinstance(value, tuple):
        return py_tuple([py_value(item) for item in value])
    if isinstance(value, nw.Initializer):
        keywords = [(name, py_value(number)) for name, number in value.args]
        if value.seed is not None:
            keywords.append(("seed", py_value(value.seed)))
        return initializer_source(value.name, keywords, ir.NO_SPAN)
    raise TypeError(f"no Python literal for {value!r}")


def initializer_source(name: str, keywords: Iterable[tuple[str, str]], span: ir.Span) -> str:
    """`keras.initializers.GlorotUniform(seed=0)`: a fresh initializer, one per layer."""
    if name not in INITIALIZER_CLASSES:
        raise ArchError(f"unknown initializer '{name}'", span)
    allowed = option_values.INITIALIZERS.get(name, frozenset()) | {"seed"}
    arguments = []
    for option, source in keywords:
        if option not in allowed:
            raise ArchError(f"{name} has no option '{option}'", span)
        if option == "seed" and name in CONSTANT_INITIALIZERS:
            continue
        arguments.append(f"{option}={source}")
    return f"keras.initializers.{INITIALIZER_CLASSES[name]}({', '.join(arguments)})"


TEST, OR, AND, NOT, COMPARE, SUM, PRODUCT, UNARY, ATOM = range(9)
PRECEDENCE = {
    "+": SUM, "-": SUM, "*": PRODUCT, "//": PRODUCT, "/": PRODUCT, "and": AND, "or": OR,
    **dict.fromkeys(ir.COMPARISONS, COMPARE),
}  # fmt: skip
"""The language's operators bind as Python's do, so a tree renders with minimal parentheses."""


@dataclass(frozen=True)
class Expressions:
    """Renders spec expressions as Python; `names` maps the parameters in scope to identifiers.

    A name not in scope is a symbol (`same`, `relu`) and becomes a string, as `evaluate` reads it.
    """

    names: Mapping[str, str]

    def source(self, expr: ir.Expr, level: int = TEST) -> str:
        """`expr` as Python, in parentheses where it binds more loosely than `level`."""
        return self._operand(expr, level)

    def _render(self, expr: ir.Expr) -> tuple[str, int]:
        if isinstance(expr, (ir.Int, ir.Float)):
            text = py_value(expr.value)
            return text, UNARY if text.startswith("-") else ATOM
        if isinstance(expr, (ir.Bool, ir.Str)):
            return py_value(expr.value), ATOM
        if isinstance(expr, ir.Shape):
            return py_value(expr.dims), ATOM
        if isinstance(expr, ir.Name):
            return (self.names[expr.id] if expr.id in self.names else py_string(expr.id)), ATOM
        if isinstance(expr, ir.ListExpr):
            return py_tuple([self.source(item) for item in expr.items]), ATOM
        if isinstance(expr, ir.Index):
            return f"{self._operand(expr.target, ATOM)}[{self.source(expr.index)}]", ATOM
        if isinstance(expr, ir.Neg):
            return f"-{self._operand(expr.operand, UNARY)}", UNARY
        if isinstance(expr, ir.BinOp):
            level = PRECEDENCE[expr.op]
            left = level + 1 if level == COMPARE else level  # Python would chain `a < b < c`
            return f"{self._operand(expr.left, left)} {expr.op} {self._operand(expr.right, level + 1)}", level
        if isinstance(expr, ir.Not):
            return f"not {self._operand(expr.operand, NOT)}", NOT
        if isinstance(expr, ir.IfElse):
            then = self._operand(expr.then, OR)
            return f"{then} if {self._operand(expr.condition, OR)} else {self._operand(expr.otherwise, TEST)}", TEST
        if isinstance(expr, ir.Call) and expr.func in functions.FUNCTIONS:
            arguments = ", ".join(self.source(arg.value) for arg in expr.args)
            return f"{functions.PYTHON.get(expr.func, expr.func)}({arguments})", ATOM
        if isinstance(expr, ir.Call):
            keywords = [(name, self.source(value)) for name, value in initializer_arguments(expr)]
            return initializer_source(expr.func, keywords, expr.span), ATOM
        raise AssertionError(f"unknown expression {expr!r}")  # the IR has no other kinds

    def _operand(self, expr: ir.Expr, level: int) -> str:
        text, own = self._render(expr)
        return text if own >= level else f"({text})"


def free_names(expr: ir.Expr) -> Iterator[str]:
    """Every bare name in an expression, parameters and symbols alike."""
    if isinstance(expr, ir.Name):
        yield expr.id
    for child in ir.subexpressions(expr):
        yield from free_names(child)


def block_expressions(block: ir.BlockDef) -> Iterator[ir.Expr]:
    """Every expression a block definition holds: defaults, values, arguments and conditions."""
    layers = [call for path in block.paths for unit in path.units for call in unit.layers] + list(block.after)
    yield from (param.default for param in block.params if param.default is not None)
    yield from (let.value for let in block.lets)
    yield from (e for path in block.paths for e in (path.condition, path.source_if) if e is not None)
    if block.merge.condition is not None:
        yield block.merge.condition
    for call in layers:
        yield from (arg.value for arg in call.args)
        if call.condition is not None:
            yield call.condition


def functions_called(blocks: Iterable[ir.BlockDef]) -> set[str]:
    """The spec functions (`make_divisible`, `ceil`) the blocks' expressions call, which
    generated code, computing those expressions at run time, must define or import."""
    found: set[str] = set()

    def walk(expr: ir.Expr) -> None:
        if isinstance(expr, ir.Call) and expr.func in functions.FUNCTIONS:
            found.add(expr.func)
        for child in ir.subexpressions(expr):
            walk(child)

    for block in blocks:
        for expr in block_expressions(block):
            walk(expr)
    return found


def function_preamble(called: set[str]) -> tuple[list[str], list[str]]:
    """The imports (`import math`) and helper definitions generated code needs for `called`."""
    imports = ["import math"] if called & set(functions.PYTHON) else []
    return imports, [functions.SOURCES[name] for name in sorted(called & set(functions.SOURCES))]


def has_call(expr: ir.Expr) -> bool:
    return isinstance(expr, ir.Call) or any(has_call(child) for child in ir.subexpressions(expr))


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout: `true` is not `1`, `2` is not `2.0`."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def unseeded(value: Any) -> bool:
    """Holds an initializer without a seed, which Keras must not share between layers:
    an unseeded Keras initializer draws its seed once, so every layer would repeat its values."""
    if isinstance(value, tuple):
        return any(unseeded(item) for item in value)
    return isinstance(value, nw.Initializer) and value.seed is None and value.name not in CONSTANT_INITIALIZERS
