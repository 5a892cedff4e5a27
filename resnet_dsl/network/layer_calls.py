"""Layer calls -> (op, typed config, name suffix): options checked by name and position, defaults applied.

The one place a written `conv(64, 3, stride=2)` or a `defaults { conv(use_bias=false) }` entry
becomes a checked configuration; blocks, stems and heads and the code generators all ask it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.network import naming, ops, option_values
from resnet_dsl.network.evaluate import Env, evaluate

Defaults = Mapping[str, Mapping[str, Any]]


def layer_defaults(calls: tuple[ir.LayerCall, ...]) -> tuple[ir.LayerCall, ...]:
    """The entries of a `defaults` section that set layer options (the others name blocks)."""
    return tuple(call for call in calls if ops.lookup(call.op) is not None)


def evaluate_defaults(calls: tuple[ir.LayerCall, ...], env: Env) -> dict[str, dict[str, Any]]:
    """`defaults { conv(use_bias=false) }` -> {"conv": {"use_bias": False}}, checked.

    Entries that name a block rather than a layer are left to `evaluate_block_defaults`."""
    table: dict[str, dict[str, Any]] = {}
    for call in layer_defaults(calls):
        if call.condition is not None:
            raise ArchError("a default cannot be conditional", call.condition.span)
        op = _lookup(call)
        if call.name is not None:
            raise ArchError("a default cannot name or place layers", call.span, 'write as "..." on the layer')
        options = table.setdefault(op.name, {})
        for arg in call.args:
            if arg.name is None:
                raise ArchError("defaults take named options only", arg.span, f"write {call.op}(option=value)")
            options[arg.name] = _convert(op, arg.name, evaluate(arg.value, env), arg, env)
    return table


def _lookup(call: ir.LayerCall) -> ops.Op:
    op = ops.lookup(call.op)
    if op is None:
        raise ArchError(f"unknown layer '{call.op}'", call.span, did_you_mean(call.op, ops.known_names()))
    return op


def _convert(op: ops.Op, option_name: str, value: Any, arg: ir.Arg, env: Env) -> Any:
    option = op.option(option_name)
    if option is None:
        known = [o.name for o in op.options]
        raise ArchError(
            f"{op.name} has no option '{option_name}'",
            arg.span,
            option_values.keras_keyword_hint(op.name, option_name)
            or did_you_mean(option_name, known)
            or (f"it takes {', '.join(known)}" if known else "it takes no options"),
        )
    try:
        return option.convert(value)
    except option_values.BadValue as bad:
        hint = None
        if isinstance(arg.value, ir.Name) and arg.value.id not in env:
            hint = did_you_mean(arg.value.id, env)
        raise ArchError(f"{op.name} {option_name}: {bad}", arg.value.span, hint) from None


def layer_config(call: ir.LayerCall, env: Env, defaults: Defaults) -> tuple[ops.Op, Any, str]:
    """(op, typed config, name suffix) of one layer call."""
    op = _lookup(call)
    given: dict[str, Any] = {}
    for position, arg in enumerate(call.args):
        if arg.name is None:
            if position >= op.positional or any(a.name for a in call.args[:position]):
                names = [o.name for o in op.options[: op.positional]]
                raise ArchError(
                    f"{op.name} takes {op.positional} positional argument{'s' if op.positional != 1 else ''}",
                    arg.span,
                    f"name the option: {op.name}({', '.join([*names, 'option=value'])})"
                    if names
                    else "name the option, e.g. option=value",
                )
            name = op.options[position].name
        else:
            name = arg.name
        if name in given:
            raise ArchError(f"{op.name} got '{name}' twice", arg.span)
        given[name] = _convert(op, name, evaluate(arg.value, env), arg, env)
    options = ops.bind(op, {**defaults.get(op.name, {}), **given})
    missing = [name for name, value in options.items() if value is option_values.REQUIRED]
    if missing:
        raise ArchError(f"{op.name} needs '{missing[0]}'", call.span, f"e.g. {op.name}({', '.join(missing)}=...)")
    try:
        config = op.build(options)
    except option_values.BadValue as bad:  # options that are each fine but do not go together
        raise ArchError(str(bad), call.span, bad.hint) from None
    return op, config, op.suffix(options)


def unit_marks(calls: tuple[ir.LayerCall, ...]) -> list[str]:
    """`naming.repeats` of a unit's layers, by their ops (aliases resolved)."""
    return naming.repeats([op.name if (op := ops.lookup(call.op)) is not None else call.op for call in calls])
