"""Expressions -> values: arithmetic, indexing, initializers, and binding call arguments.

Values are plain Python: ints, floats, bools, strings (symbols such as `same`), tuples,
and `Initializer`s. A bare name is a parameter when one is in scope, else a symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.network import functions, option_values
from resnet_dsl.network import model as nw

Env = Mapping[str, Any]


def evaluate(expr: ir.Expr, env: Env) -> Any:
    """An expression's value: ints, floats, bools, strings (symbols), tuples, initializers."""
    if isinstance(expr, (ir.Int, ir.Float, ir.Bool, ir.Str)):
        return expr.value
    if isinstance(expr, ir.Shape):
        return expr.dims
    if isinstance(expr, ir.Name):
        return env.get(expr.id, expr.id)
    if isinstance(expr, ir.ListExpr):
        return limits.check_value(tuple(evaluate(item, env) for item in expr.items), expr.span)
    if isinstance(expr, ir.Index):
        target = _operand(expr.target, env)
        index = _operand(expr.index, env)
        if not isinstance(target, tuple):
            raise ArchError(f"cannot index {option_values.describe(target)}: it is not a list", expr.target.span)
        if isinstance(index, bool) or not isinstance(index, int):
            raise ArchError(f"a list index must be an integer, got {option_values.describe(index)}", expr.index.span)
        if not -len(target) <= index < len(target):
            raise ArchError(
                f"index {index} is out of range for a list of {len(target)}",
                expr.index.span,
                f"indices run from 0 to {len(target) - 1}",
            )
        return target[index]
    if isinstance(expr, ir.Neg):
        value = _operand(expr.operand, env)
        _require_number(value, expr.operand)
        return -value
    if isinstance(expr, ir.BinOp):
        if expr.op in ("and", "or"):
            left = condition(expr.left, env, expr.op)
            if left == (expr.op == "or"):  # decided by the left side, as Python does
                return left
            return condition(expr.right, env, expr.op)
        if expr.op in ir.COMPARISONS:
            return _compare(expr, _side(expr.left, expr.right, env), _side(expr.right, expr.left, env))
        return limits.check_number(_binop(expr, _operand(expr.left, env), _operand(expr.right, env)), expr.span)
    if isinstance(expr, ir.Not):
        return not condition(expr.operand, env, "not")
    if isinstance(expr, ir.IfElse):
        return evaluate(expr.then if condition(expr.condition, env) else expr.otherwise, env)
    if isinstance(expr, ir.Call):
        if expr.func in functions.FUNCTIONS:
            return _function(expr, env)
        return _initializer(expr, env)
    raise AssertionError(f"unknown expression {expr!r}")  # the IR has no other kinds


def _operand(expr: ir.Expr, env: Env) -> Any:
    """A value used in arithmetic or indexing, where a bare symbol can only be a typo."""
    if isinstance(expr, ir.Name) and expr.id not in env:
        raise ArchError(f"unknown name '{expr.id}'", expr.span, did_you_mean(expr.id, env))
    return evaluate(expr, env)


def condition(expr: ir.Expr, env: Env, what: str = "a condition") -> bool:
    """A value that must be true or false: a condition, or an operand of and / or / not."""
    value = evaluate(expr, env)
    if not isinstance(value, bool):
        hint = did_you_mean(expr.id, env) if isinstance(expr, ir.Name) and expr.id not in env else None
        owner = what if what == "a condition" else f"'{what}'"
        raise ArchError(
            f"{owner} needs true or false, got {option_values.describe(value)}",
            expr.span,
            hint or "compare it, e.g. stride != 1",
        )
    return value


def _compare(expr: ir.BinOp, left: Any, right: Any) -> bool:
    if expr.op == "==":
        return left == right
    if expr.op == "!=":
        return left != right
    _require_number(left, expr.left)
    _require_number(right, expr.right)
    if expr.op == "<":
        return left < right
    if expr.op == "<=":
        return left <= right
    if expr.op == ">":
        return left > right
    return left >= right


def _side(expr: ir.Expr, other: ir.Expr, env: Env) -> Any:
    """A side of a comparison: a bare symbol (`same`) may stand opposite a parameter
    (`padding == same`); anywhere else an unknown name is a typo."""
    if isinstance(other, ir.Name) and other.id in env:
        return evaluate(expr, env)
    return _operand(expr, env)


def _require_number(value: Any, expr: ir.Expr) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchError(f"expected a number, got {option_values.describe(value)}", expr.span)


def _binop(expr: ir.BinOp, left: Any, right: Any) -> Any:
    _require_number(left, expr.left)
    _require_number(right, expr.right)
    if expr.op in ("//", "/") and right == 0:
        raise ArchError("division by zero", expr.right.span)
    if expr.op == "+":
        return left + right
    if expr.op == "-":
        return left - right
    if expr.op == "*":
        return left * right
    if expr.op == "//":
        return left // right
    return left / right


def _function(call: ir.Call, env: Env) -> int | float:
    """A built-in function (`make_divisible(32 * width, 8)`) on numbers, positional arguments only."""
    function = functions.FUNCTIONS[call.func]
    fewest, most = function.arity
    for arg in call.args:
        if arg.name is not None:
            raise ArchError(f"{call.func} takes positional arguments only", arg.span, function.doc)
    if not fewest <= len(call.args) <= (most if most is not None else len(call.args)):
        wanted = f"{fewest} to {most}" if most != fewest else str(fewest)
        wanted = f"at least {fewest}" if most is None else wanted
        raise ArchError(f"{call.func} takes {wanted} arguments, got {len(call.args)}", call.span, function.doc)
    values = []
    for position, arg in enumerate(call.args):
        value = _operand(arg.value, env)
        _require_number(value, arg.value)
        if position in function.integers and (not isinstance(value, int) or value <= 0):
            raise ArchError(f"{call.func}'s argument {position + 1} must be a positive integer, got {value}", arg.span)
        values.append(value)
    try:
        result = function.run(*values)
    except (OverflowError, ValueError) as error:  # ceil of an infinity, int of a NaN
        raise ArchError(f"{call.func} cannot compute this: {error}", call.span) from None
    return limits.check_number(result, call.span)


def _initializer(call: ir.Call, env: Env) -> nw.Initializer:
    if call.func not in option_values.INITIALIZERS:
        known = [*option_values.INITIALIZERS, *functions.FUNCTIONS]
        raise ArchError(
            f"unknown initializer '{call.func}'",
            call.span,
            did_you_mean(call.func, known) or "known: " + ", ".join(sorted(known)),
        )
    allowed = option_values.INITIALIZERS[call.func]
    seed = None
    extra: list[tuple[str, float | str]] = []
    for (name, expr), arg in zip(initializer_arguments(call), call.args, strict=True):
        if name not in allowed:
            raise ArchError(
                f"{call.func} has no option '{name}'",
                arg.span,
                did_you_mean(name, allowed)
                or (f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes no options"),
            )
        value = evaluate(expr, env)
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ArchError(f"seed must be a non-negative integer, got {option_values.describe(value)}", expr.span)
            seed = value
        elif name in option_values.INITIALIZER_SYMBOLS:
            symbols = option_values.INITIALIZER_SYMBOLS[name]
            if value not in symbols:
                raise ArchError(
                    f"{name} must be one of {', '.join(sorted(symbols))}, got {option_values.describe(value)}",
                    expr.span,
                    did_you_mean(str(value), symbols),
                )
            extra.append((name, str(value)))
        else:
            _require_number(value, expr)
            extra.append((name, float(value)))
    return nw.Initializer.model_construct(name=call.func, seed=seed, args=tuple(sorted(extra)))


def initializer_arguments(call: ir.Call) -> list[tuple[str, ir.Expr]]:
    """An initializer call's arguments by option: keywords, and the one positional argument
    the initializer takes first (`variance_scaling(2.0, mode=fan_out)`: scale)."""
    found = []
    for position, arg in enumerate(call.args):
        if arg.name is None:
            first = option_values.INITIALIZER_FIRST.get(call.func)
            if first is None or position != 0:
                example = f"{first}=1.0" if first else "seed=0"
                raise ArchError(f"{call.func} takes keyword arguments only, e.g. {example}", arg.span)
            found.append((first, arg.value))
        else:
            found.append((arg.name, arg.value))
    return found


def bind_params(
    owner: str,
    params: tuple[ir.Param, ...],
    args: tuple[ir.Arg, ...],
    env: Env,
    span: ir.Span,
    fallback: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Match a call's arguments to parameters, Python-style; defaults see earlier parameters.

    `fallback` holds values that stand in for a parameter's default (a network's block defaults)."""
    names = [p.name for p in params]
    given: dict[str, tuple[Any, ir.Arg]] = {}
    for position, arg in enumerate(args):
        if arg.name is None:
            if any(a.name is not None for a in args[:position]):
                raise ArchError("a positional argument cannot follow a keyword argument", arg.span)
            if position >= len(params):
                raise ArchError(
                    f"{owner} takes {len(params)} argument{'s' if len(params) != 1 else ''}, got {len(args)}",
                    arg.span,
                    f"its parameters are ({', '.join(names)})",
                )
            key = names[position]
        else:
            if arg.name not in names:
                raise ArchError(
                    f"{owner} has no parameter '{arg.name}'",
                    arg.span,
                    did_you_mean(arg.name, names) or f"its parameters are ({', '.join(names)})",
                )
            key = arg.name
        if key in given:
            raise ArchError(f"{owner} got '{key}' twice", arg.span)
        given[key] = (evaluate(arg.value, env), arg)
    bound: dict[str, Any] = {}
    for param in params:
        if param.name in given:
            bound[param.name] = given[param.name][0]
        elif fallback and param.name in fallback:
            bound[param.name] = fallback[param.name]
        elif param.default is not None:
            bound[param.name] = evaluate(param.default, bound)
        else:
            raise ArchError(f"{owner} needs a value for '{param.name}'", span, f"pass {param.name}=...")
    return bound
