"""Spec IR -> validated `Network`: parameters, defaults, block calls and repetition resolved.

Every value is checked where it is used, so an error points at the text that caused
it: an unknown name, a wrong type, a spatial size that shrinks to zero, a residual add
whose sides differ. Shapes, parameters and MACs are computed on the way.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming, ops, shapes
from resnet_dsl.network.evaluate import Env, bind_params, condition, evaluate

MAX_LAYERS = limits.MAX_LAYERS
MAX_REPEAT = limits.MAX_REPEAT
PRELUDE_FILE = "<prelude>"
"""The file name the prelude's spans carry (see `resnet_dsl.loader.prelude`)."""

# ----------------------------------------------------------------- layers --


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
            did_you_mean(option_name, known) or (f"it takes {', '.join(known)}" if known else "it takes no options"),
        )
    try:
        return option.convert(value)
    except ops.BadValue as bad:
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
    missing = [name for name, value in options.items() if value is ops.REQUIRED]
    if missing:
        raise ArchError(f"{op.name} needs '{missing[0]}'", call.span, f"e.g. {op.name}({', '.join(missing)}=...)")
    try:
        config = op.build(options)
    except ops.BadValue as bad:  # options that are each fine but do not go together
        raise ArchError(str(bad), call.span) from None
    return op, config, op.suffix(options)


# ---------------------------------------------------------------- builder --


@dataclass
class Builder:
    """Appends layers in topological order, inferring shapes and checking names."""

    layers: list[nw.Layer] = field(default_factory=list)
    by_name: dict[str, nw.Layer] = field(default_factory=dict)

    def _hint(self, error: shapes.ShapeError, inputs: tuple[str, ...]) -> str | None:
        """A layer that wants an image but reads the network's input as given: the input's
        shape is what to fix (`--set input=64x64`), not the order of the layers."""
        given = self.by_name.get(naming.INPUT)
        if isinstance(error, shapes.NotAnImage) and given is not None:
            shape = given.output_shape
            if any(self.by_name[name].output_shape == shape for name in inputs):
                example = "x".join(map(str, (*shape, 3) if len(shape) == 2 else (224, 224, 3)))
                return (
                    f"the network's input is {'x'.join(map(str, shape))}, {len(shape)} dimension"
                    f"{'s' * (len(shape) != 1)}; an image is height x width x channels, e.g. input = {example}"
                )
        return error.hint

    def add(
        self,
        name: str,
        config: Any,
        inputs: tuple[str, ...],
        origin: nw.Origin,
        span: ir.Span,
        what: str | None = None,
    ) -> str:
        """Append a layer; `what` names its inputs in a shape error (a merge's paths)."""
        if not naming.VALID_NAME.match(name):
            raise ArchError(
                f"layer name {name!r} is not allowed",
                span,
                "use letters, digits, '_', '.' and '-' only",
            )
        if name in self.by_name:
            first = self.by_name[name].span
            raise ArchError(
                f"duplicate layer name '{name}'" + (f" (first made at {first})" if first.line else ""),
                span,
                'give one of them another label or name it with as "..."',
            )
        limits.check_layer_count(len(self.layers) + 1, span)
        try:
            shape, params, macs = shapes.infer(config, [self.by_name[i].output_shape for i in inputs])
        except shapes.ShapeError as error:
            raise ArchError(f"{what or f'layer {name!r}'}: {error}", span, self._hint(error, inputs)) from None
        limits.check_elements(shape, name, span)
        layer = nw.Layer.model_construct(
            name=name,
            config=config,
            inputs=inputs,
            output_shape=shape,
            params=params,
            macs=macs,
            origin=origin,
            span=span,
        )
        self.layers.append(layer)
        self.by_name[name] = layer
        return name

    def layer(self, call: ir.LayerCall, op: ops.Op, config: Any, name: str, source: str, origin: nw.Origin) -> str:
        """One layer of a chain, fed by `source`; merges belong in a block's `out` only."""
        if op.name in ops.MERGES:
            raise ArchError(
                f"'{call.op}' joins paths and belongs in a block's out",
                call.span,
                "write out = add(main, shortcut) -> relu",
            )
        return self.add(name, config, (source,), origin, call.span)

    def units(self, units: tuple[ir.Unit, ...], env: Env, defaults: Defaults, source: str, origin: nw.Origin) -> str:
        """A stem or head: units in sequence, named by label (or by kind alone)."""
        for unit in units:
            for call in unit.layers:
                if call.condition is not None and not condition(call.condition, env):
                    continue
                op, config, suffix = layer_config(call, env, defaults)
                name = call.name or naming.join(unit.label, suffix)
                source = self.layer(call, op, config, name, source, labelled(origin, unit, call))
        return source


def labelled(origin: nw.Origin, unit: ir.Unit | None, call: ir.LayerCall) -> nw.Origin:
    """The origin with what the text says of the layer's own name: its unit's label and `as` name."""
    label = unit.label if unit is not None else None
    if label is None and call.name is None:
        return origin
    return origin.model_copy(update={"unit": label, "alias": call.name})


# ----------------------------------------------------------------- blocks --


IN_CHANNELS = "in_channels"
"""The channel count of a block's input, visible inside the block."""

PATH_ORDER = ("pre", "main", "shortcut")
"""Paths that run first, in this order, where their sources allow; the others follow as written."""


def block_env(block: ir.BlockDef, args: Mapping[str, Any], in_channels: int) -> dict[str, Any]:
    """What a block's expressions see: its arguments, `in_channels`, then its values in order."""
    env: dict[str, Any] = {**args, IN_CHANNELS: in_channels}
    for let in block.lets:
        env[let.name] = evaluate(let.value, env)
    return env


def path_order(block: ir.BlockDef) -> list[ir.Path]:
    """The paths in the order they run: each after its source; `pre`, `main`, `shortcut` first.

    Raises a located error for a source that is no path, and for paths that start from
    each other (a cycle)."""
    names = {path.name: path for path in block.paths}
    for path in block.paths:
        source = block.source_of(path)
        if source != ir.INPUT and source not in names:
            raise ArchError(
                f"path '{path.name}' starts from '{source}', which is no path of block '{block.name}'",
                path.span,
                did_you_mean(source, [ir.INPUT, *names]) or f"it can start from {', '.join([ir.INPUT, *names])}",
            )

    def rank(item: tuple[int, ir.Path]) -> tuple[int, int]:
        position, path = item
        return (PATH_ORDER.index(path.name) if path.name in PATH_ORDER else len(PATH_ORDER)), position

    # Each path has one source, so the paths form a tree from `input`: a heap of the ready
    # ones, by rank, gives the order "the first waiting path whose source has run" in
    # O(n log n) (a rescan of the waiting list after each step was quadratic).
    ranked = sorted(enumerate(block.paths), key=rank)
    children: dict[str, list[tuple[tuple[int, int], int, ir.Path]]] = {}
    for key, (position, path) in enumerate(ranked):
        children.setdefault(block.source_of(path), []).append((rank((position, path)), key, path))
    ready = children.pop(ir.INPUT, [])
    heapq.heapify(ready)
    order: list[ir.Path] = []
    while ready:
        _, _, path = heapq.heappop(ready)
        order.append(path)
        for child in children.pop(path.name, []):
            heapq.heappush(ready, child)
    if len(order) < len(block.paths):
        placed = {id(path) for path in order}
        waiting = [path for _, path in ranked if id(path) not in placed]
        cycle = ", ".join(f"{p.name} from {block.source_of(p)}" for p in waiting)
        raise ArchError(
            f"the paths of block '{block.name}' start from each other in a cycle ({cycle})",
            waiting[0].span,
            "start one of them from input or from another path",
        )
    return order


def merge_refs(merge: ir.Merge) -> list[ir.PathRef]:
    """Every path a merge expression names, nested merges included, left to right."""
    refs: list[ir.PathRef] = []
    for item in merge.inputs or _DEFAULT_MERGE:
        refs += merge_refs(item) if isinstance(item, ir.Merge) else [item]
    return refs


_DEFAULT_MERGE = (ir.PathRef(path="main"), ir.PathRef(path="shortcut"))


def merge_inputs(merge: ir.Merge) -> tuple[ir.MergeInput, ...]:
    """A merge's inputs; `add` alone means `add(main, shortcut)`."""
    return merge.inputs or _DEFAULT_MERGE


def check_block(block: ir.BlockDef) -> list[ir.Path]:
    """The checks of a definition that do not depend on its arguments; returns `path_order`."""
    for name, span in [(p.name, p.span) for p in block.params] + [(let.name, let.span) for let in block.lets]:
        if name == IN_CHANNELS:
            raise ArchError(
                f"'{IN_CHANNELS}' is the channel count of the block's input and cannot be redefined",
                span,
                "choose another name",
            )
    order = path_order(block)
    known = [ir.INPUT, *(p.name for p in block.paths)] + ([] if block.shortcut is not None else ["shortcut"])
    used = {block.source_of(p) for p in block.paths}
    for ref in merge_refs(block.merge):
        if ref.path not in known:
            raise ArchError(
                f"{block.merge.op} takes path names, one of {', '.join(known)}",
                ref.span,
                did_you_mean(ref.path, known),
            )
        used.add(ref.path)
    for path in block.paths:
        if path.name not in used and any(unit.layers for unit in path.units):
            raise ArchError(
                f"path '{path.name}' of block '{block.name}' is never used",
                path.span,
                f"merge it in out, e.g. out = add(main, {path.name}), or start another path from it",
            )
    return order


def expand_block(
    builder: Builder,
    block: ir.BlockDef,
    args: Env,
    defaults: Defaults,
    source: str,
    prefix: str,
    stage: str,
    order: list[ir.Path] | None = None,
) -> None:
    """One block instance: its paths from `source`, in `path_order` (`order`, where the
    caller has checked the definition already), joined by its merge."""

    origins: dict[str, nw.Origin] = {}

    def origin(path: str) -> nw.Origin:
        if path not in origins:
            origins[path] = nw.Origin.model_construct(
                section="stage", stage=stage, block=prefix, block_def=block.name, path=path
            )
        return origins[path]

    order = check_block(block) if order is None else order
    env = block_env(block, args, builder.by_name[source].output_shape[-1])
    tensors = {ir.INPUT: source}
    for path in order:
        tensor = tensors[block.source_of(path)]
        if path.condition is None or condition(path.condition, env):
            for index, unit in enumerate(path.units):
                label = naming.unit_label(path.name, index, unit.label)
                for call in unit.layers:
                    if call.condition is not None and not condition(call.condition, env):
                        continue
                    op, config, suffix = layer_config(call, env, defaults)
                    name = naming.join(prefix, call.name) if call.name else naming.join(prefix, label, suffix)
                    tensor = builder.layer(call, op, config, name, tensor, labelled(origin(path.name), unit, call))
        tensors[path.name] = tensor
    tensors.setdefault("shortcut", source)  # an omitted shortcut is the identity

    nested = iter(range(1, count_merges(block.merge)))
    after = block.after

    def merged(merge: ir.Merge, top: bool) -> str:
        sides = [
            tensors[item.path] if isinstance(item, ir.PathRef) else merged(item, False) for item in merge_inputs(merge)
        ]
        op = ops.lookup(merge.op)
        if op is None or op.name not in ops.MERGES:
            raise ArchError(
                f"out must start by merging paths, not with '{merge.op}'"
                if top
                else f"'{merge.op}' does not merge paths",
                merge.span,
                f"merges are {', '.join(sorted(ops.MERGES))}: out = add(main, shortcut) -> relu",
            )
        if len(sides) < 2:
            raise ArchError(f"{merge.op} needs at least two paths", merge.span, "e.g. add(main, shortcut)")
        config = op.build(ops.bind(op, {}))
        if top:
            name = naming.join(prefix, merge.name) if merge.name else naming.out_name(prefix, op.suffix({}), not after)
        else:
            name = naming.nested_merge_name(prefix, op.suffix({}), next(nested))
        described = ", ".join(
            f"{_input_text(item)} {shapes.fmt(builder.by_name[side].output_shape)}"
            for item, side in zip(merge_inputs(merge), sides, strict=True)
        )
        return builder.add(name, config, tuple(sides), origin("out"), merge.span, f"{merge.op} of {described}")

    tensor = merged(block.merge, True)
    for position, call in enumerate(after):
        # Names follow the written layers, so the last one written is `_out` where it is made.
        if call.condition is not None and not condition(call.condition, env):
            continue
        op, config, suffix = layer_config(call, env, defaults)
        is_last = position == len(after) - 1
        name = naming.join(prefix, call.name) if call.name else naming.out_name(prefix, suffix, is_last)
        tensor = builder.layer(call, op, config, name, tensor, labelled(origin("out"), None, call))


def count_merges(merge: ir.Merge) -> int:
    return 1 + sum(count_merges(item) for item in merge.inputs if isinstance(item, ir.Merge))


def _input_text(item: ir.MergeInput) -> str:
    if isinstance(item, ir.PathRef):
        return item.path
    return f"{item.op}({', '.join(_input_text(i) for i in merge_inputs(item))})"


# --------------------------------------------------------------- networks --


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
    defaults); and, from it down to its base definition, each name with the parameters
    that derivation sets (so a network's block defaults know which of them still apply)."""
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
    return item.model_copy(update={"name": chain[0].name, "params": params, "doc": doc}), names


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
        labels = [stage.label for stage in stages]
        for stage in derived.stages:
            if stage.label not in labels:
                raise ArchError(
                    f"network '{derived.base}' has no stage '{stage.label}' to replace",
                    stage.span,
                    did_you_mean(stage.label, labels) or f"its stages are {', '.join(labels) or 'none'}",
                )
            stages[labels.index(stage.label)] = stage
    update.update(defaults=defaults, stem=stem, stages=tuple(stages), head=head)
    return item.model_copy(update=update)


def network_env(net: ir.NetworkDef, overrides: Mapping[str, Any]) -> dict[str, Any]:
    names = [p.name for p in net.params]
    for key in overrides:
        if key not in names:
            raise ArchError(
                f"network '{net.name}' has no parameter '{key}'",
                net.span,
                did_you_mean(key, names) or f"its parameters are ({', '.join(names)})",
            )
    env: dict[str, Any] = {}
    for param in net.params:
        if param.name in overrides:
            env[param.name] = overrides[param.name]
        elif param.default is not None:
            env[param.name] = evaluate(param.default, env)
        else:
            raise ArchError(
                f"network parameter '{param.name}' has no value",
                param.span,
                f"give it a default or set it: --set {param.name}=...",
            )
    return env


def _input_shape(net: ir.NetworkDef, env: Env) -> tuple[int, ...]:
    if "input" not in env:
        raise ArchError(
            f"network '{net.name}' has no input shape",
            net.span,
            f"declare it: network {net.name}(input = 224x224x3, ...)",
        )
    shape = env["input"]
    if (
        not isinstance(shape, tuple)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        param = next(p for p in net.params if p.name == "input")
        raise ArchError(
            f"input must be a shape of positive integers such as 224x224x3, got {ops.describe(shape)}",
            param.default.span if param.default is not None else param.span,
        )
    return shape


def _repeat(call: ir.BlockCall, env: Env) -> int:
    if call.repeat is None:
        return 1
    count = evaluate(call.repeat, env)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ArchError(f"a repeat count must be a non-negative integer, got {ops.describe(count)}", call.repeat.span)
    if count > MAX_REPEAT:
        raise ArchError(f"{count} repeats is more than the limit of {MAX_REPEAT}", call.repeat.span)
    return count


def _block_size(block: ir.BlockDef) -> int:
    """The most layers an instance can have (conditions may leave some out)."""
    return count_merges(block.merge) + len(block.after) + sum(len(u.layers) for p in block.paths for u in p.units)


BlockDefaults = dict[str, dict[str, tuple[Any, ir.Arg]]]


def evaluate_block_defaults(scope: Scope, calls: tuple[ir.LayerCall, ...], env: Env) -> BlockDefaults:
    """`defaults { bottleneck(groups=32) }` -> {"bottleneck": {"groups": (32, arg)}}, checked."""
    table: BlockDefaults = {}
    for call in calls:
        if ops.lookup(call.op) is not None:
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
            options[arg.name] = (evaluate(arg.value, env), arg)
    return table


def _fallbacks(levels: list[tuple[str, set[str]]], table: BlockDefaults) -> dict[str, Any]:
    """The network's block defaults that apply to a call: the nearest name's first, and none
    for a parameter that a derivation in between sets itself."""
    values: dict[str, Any] = {}
    fixed: set[str] = set()
    for name, sets in levels:
        for key, (value, _) in table.get(name, {}).items():
            if key not in fixed:
                values.setdefault(key, value)
        fixed |= sets
    return values


def expand(
    scope: Scope, item: ir.NetworkDef | ir.DerivedNetwork, overrides: Mapping[str, Any] | None = None
) -> nw.Network:
    """The validated, flat network of one network definition."""
    net = resolve_network(scope, item)
    env = network_env(net, overrides or {})
    defaults = evaluate_defaults(net.defaults, env)
    plan = _plan(scope, net, env)

    builder = Builder()
    source = builder.add(
        naming.INPUT,
        nw.InputConfig.model_construct(shape=_input_shape(net, env)),
        (),
        nw.Origin.model_construct(section="input"),
        net.span,
    )
    source = builder.units(net.stem, env, defaults, source, nw.Origin.model_construct(section="stem"))
    stages = []
    orders: dict[int, list[ir.Path]] = {}  # each definition checked once, by its object
    for stage, calls in plan:
        instances = []
        for call, block, args, count in calls:
            for _ in range(count):
                prefix = naming.block_prefix(stage.label, len(instances) + 1)
                start = len(builder.layers)
                source_before = source
                try:
                    if id(block) not in orders:
                        orders[id(block)] = check_block(block)
                    expand_block(builder, block, args, defaults, source, prefix, stage.label, orders[id(block)])
                except ArchError as error:
                    if error.span.file == PRELUDE_FILE and call.span.line:
                        # the prelude is not the user's to change: their call is the place to look
                        error.with_source(PRELUDE.read_text(encoding="utf-8"))
                        error.moved_to(call.span, f"in {prefix}, where the prelude's block '{block.name}' uses it")
                    elif error.span.file != call.span.file or not error.span.line:
                        error.notes.append(f"in {prefix}, a '{block.name}' block called at {call.span}")
                    raise
                source = builder.layers[-1].name
                instances.append(
                    nw.BlockInstance.model_construct(
                        name=prefix,
                        block=block.name,
                        args=tuple(args.items()),
                        layers=tuple(layer.name for layer in builder.layers[start:]),
                        output_shape=builder.layers[-1].output_shape,
                        input_shape=builder.by_name[source_before].output_shape,
                    )
                )
        stages.append(nw.StageInstance.model_construct(label=stage.label, blocks=tuple(instances)))
    builder.units(net.head, env, defaults, source, nw.Origin.model_construct(section="head"))

    used = {}
    for _, calls in plan:
        for _, block, _, count in calls:
            if count:
                used.setdefault(block.name, block)
    return nw.Network.model_construct(
        name=net.name,
        source=item.span.file,
        params=tuple(env.items()),
        layers=tuple(builder.layers),
        stages=tuple(stages),
        blocks=tuple(used.values()),
        defaults=net.defaults,
        definition=net,
    )


def _plan(scope: Scope, net: ir.NetworkDef, env: Env) -> list:
    """Resolve every stage's block calls and counts first, so a huge network fails before any work."""
    block_defaults = evaluate_block_defaults(scope, net.defaults, env)
    resolved: dict[str, tuple[ir.BlockDef, list[tuple[str, set[str]]]]] = {}
    plan = []
    total = 1 + sum(len(u.layers) for u in (*net.stem, *net.head))  # 1: the input layer
    labels: dict[str, ir.Stage] = {}
    for stage in net.stages:
        if stage.label in labels:
            raise ArchError(f"stage '{stage.label}' is declared twice", stage.span, "give each stage its own label")
        labels[stage.label] = stage
        calls = []
        for call in stage.calls:
            if call.block not in resolved:
                resolved[call.block] = resolve_block(scope, call.block, call.span)
            block, levels = resolved[call.block]
            fallback = _fallbacks(levels, block_defaults)
            args = bind_params(f"block '{block.name}'", block.params, call.args, env, call.span, fallback)
            count = _repeat(call, env)
            total += count * _block_size(block)
            limits.check_layer_count(total, call.repeat.span if call.repeat is not None else call.span)
            calls.append((call, block, args, count))
        plan.append((stage, calls))
    return plan
