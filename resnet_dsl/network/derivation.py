"""Names -> definitions: what a file sees, derived blocks and networks made plain, which block defaults apply.

`block wide = bottleneck(width = 128)` and `network resnet101 = resnet50(...) { stage ... }` are
read as their base, renamed, with new parameter defaults and replaced sections; the outermost
derivation wins. A network's `defaults { bottleneck(groups = 32) }` applies to a call except
where a derivation in between sets the parameter itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.network import ops
from resnet_dsl.network.evaluate import Env, evaluate


@dataclass(frozen=True)
class Scope:
    """What a file can see: blocks and networks by name, its own and imported."""

    blocks: Mapping[str, ir.BlockDef | ir.DerivedBlock]
    networks: Mapping[str, ir.NetworkDef | ir.DerivedNetwork]


def _override_defaults(kind: str, owner: str, params: tuple[ir.Param, ...], chain: list[Any]) -> tuple[ir.Param, ...]:
    """Parameters with the defaults that derivations set, the outermost winning."""
    names = [p.name for p in params]
    overrides: dict[str, ir.Expr] = {}
    for derived in chain:  # the outermost comes first and wins
        for position, arg in enumerate(derived.args):
            if arg.name is None and position >= len(names):
                raise ArchError(f"{kind} '{owner}' takes {len(names)} parameters", arg.span)
            key = arg.name or names[position]
            if key not in names:
                raise ArchError(
                    f"{kind} '{derived.base}' has no parameter '{key}'",
                    arg.span,
                    did_you_mean(key, names) or f"its parameters are ({', '.join(names)})",
                )
            overrides.setdefault(key, arg.value)
    return tuple(p.model_copy(update={"default": overrides[p.name]}) if p.name in overrides else p for p in params)


def resolve_block(scope: Scope, name: str, span: ir.Span) -> tuple[ir.BlockDef, list[tuple[str, set[str]]]]:
    """A block by name, a derived one as a plain definition (its base's, renamed, with new
    defaults, the base kept as its `base`); and, from it down to its base definition, each
    name with the parameters that derivation sets (so a network's block defaults know which
    of them still apply)."""
    item = scope.blocks.get(name)
    chain: list[ir.DerivedBlock] = []
    seen: set[str] = set()
    while not isinstance(item, ir.BlockDef):
        if item is None:
            missing = chain[-1].base if chain else name
            raise ArchError(
                f"unknown block '{missing}'",
                chain[-1].span if chain else span,
                did_you_mean(missing, scope.blocks) or "define it with block ... { } or import it",
            )
        if item.name in seen:
            raise ArchError(f"block '{item.name}' derives from itself", item.span)
        seen.add(item.name)
        chain.append(item)
        limits.check_derivation_depth(len(chain), chain[0].span, "block")
        item = scope.blocks.get(item.base)
    params = _override_defaults("block", item.name, item.params, chain)
    param_names = [p.name for p in item.params]
    names = [(d.name, {a.name or param_names[i] for i, a in enumerate(d.args)}) for d in chain]
    names.append((item.name, set()))
    if not chain:
        return item, names
    doc = next((d.doc for d in chain if d.doc.text), item.doc)
    update = {"name": chain[0].name, "params": params, "doc": doc, "base": item}
    return item.model_copy(update=update), names


def resolve_network(scope: Scope, item: ir.NetworkDef | ir.DerivedNetwork) -> ir.NetworkDef:
    """A derived network as a plain one: its base, renamed, with new parameter defaults and
    the sections its derivations replace (stem, head, stages by label) or add (defaults)."""
    chain: list[ir.DerivedNetwork] = []
    seen: set[str] = set()
    while isinstance(item, ir.DerivedNetwork):
        if item.name in seen:
            raise ArchError(f"network '{item.name}' derives from itself", item.span)
        seen.add(item.name)
        chain.append(item)
        limits.check_derivation_depth(len(chain), chain[0].span)
        base = scope.networks.get(item.base)
        if base is None:
            raise ArchError(
                f"unknown network '{item.base}'",
                item.span,
                did_you_mean(item.base, scope.networks) or "import the file that defines it",
            )
        item = base
    params = _override_defaults("network", item.name, item.params, chain)
    update: dict[str, Any] = {"name": chain[0].name if chain else item.name, "params": params}
    defaults, stem, stages, head = item.defaults, item.stem, list(item.stages), item.head
    for derived in reversed(chain):  # the innermost edits first, so the outermost wins
        defaults += derived.defaults
        stem = stem if derived.stem is None else derived.stem
        head = head if derived.head is None else derived.head
        for stage in derived.stages:
            stages = _edit_stages(derived.base, stages, stage)
    update.update(defaults=defaults, stem=stem, stages=tuple(stages), head=head)
    return item.model_copy(update=update)


def _edit_stages(base: str, stages: list[ir.Stage], stage: ir.Stage) -> list[ir.Stage]:
    """The parent's stages with one edit of a derived network's body: a stage replaced (by
    label), added (`after` / `before` one of them) or removed (`remove stage L`)."""
    labels = [s.label for s in stages]
    known = did_you_mean(stage.label, labels) or f"its stages are {', '.join(labels) or 'none'}."
    if stage.place is not None:
        if stage.label in labels:
            raise ArchError(
                f"network '{base}' already has a stage '{stage.label}'",
                stage.span,
                f"to replace it, write stage {stage.label}: ... (no {stage.place}); to add one, choose a new label",
            )
        if stage.anchor not in labels:
            raise ArchError(
                f"network '{base}' has no stage '{stage.anchor}' to add '{stage.label}' {stage.place}",
                stage.span,
                did_you_mean(stage.anchor or "", labels) or f"its stages are {', '.join(labels) or 'none'}",
            )
        at = labels.index(stage.anchor) + (stage.place == "after")
        return [*stages[:at], stage.model_copy(update={"place": None, "anchor": None}), *stages[at:]]
    if stage.label not in labels:
        action = "remove" if stage.removed else "replace"
        where = f"after {labels[-1]}" if labels else "after ..."
        hint = known if stage.removed else f"{known} Or add it, saying where: stage {stage.label} {where}: ..."
        raise ArchError(f"network '{base}' has no stage '{stage.label}' to {action}", stage.span, hint)
    at = labels.index(stage.label)
    return [*stages[:at], *([] if stage.removed else [stage]), *stages[at + 1 :]]


BlockDefaults = dict[str, dict[str, ir.Arg]]


def evaluate_block_defaults(scope: Scope, calls: tuple[ir.LayerCall, ...], env: Env) -> BlockDefaults:
    """`defaults { bottleneck(groups=32) }` -> {"bottleneck": {"groups": arg}}, checked; each value
    is evaluated where a block takes it, as it may read the block's position (`index / blocks`)."""
    table: BlockDefaults = {}
    for call in calls:
        if ops.lookup(call.op) is not None or call.op == "names":  # names: expand.block_names
            continue
        if call.op not in scope.blocks:
            raise ArchError(
                f"unknown layer or block '{call.op}'",
                call.span,
                did_you_mean(call.op, [*ops.known_names(), *scope.blocks]),
            )
        if call.condition is not None:
            raise ArchError("a default cannot be conditional", call.condition.span)
        block, _ = resolve_block(scope, call.op, call.span)
        names = [p.name for p in block.params]
        options = table.setdefault(call.op, {})
        for arg in call.args:
            if arg.name is None:
                raise ArchError("defaults take named options only", arg.span, f"write {call.op}(parameter=value)")
            if arg.name not in names:
                raise ArchError(
                    f"block '{call.op}' has no parameter '{arg.name}'",
                    arg.span,
                    did_you_mean(arg.name, names) or f"its parameters are ({', '.join(names)})",
                )
            options[arg.name] = arg
    return table


def applicable_block_defaults(levels: list[tuple[str, set[str]]], table: BlockDefaults, env: Env) -> dict[str, Any]:
    """The network's block defaults that apply to a call, evaluated in `env`: the nearest name's
    first, and none for a parameter that a derivation in between sets itself."""
    values: dict[str, Any] = {}
    fixed: set[str] = set()
    for name, sets in levels:
        for key, arg in table.get(name, {}).items():
            if key not in fixed and key not in values:
                values[key] = evaluate(arg.value, env)
        fixed |= sets
    return values
