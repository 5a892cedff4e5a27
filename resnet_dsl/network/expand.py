"""Spec IR -> validated `Network`: parameters, defaults, block calls and repetition resolved.

Every value is checked where it is used, so an error points at the text that caused
it: an unknown name, a wrong type, a spatial size that shrinks to zero, a residual add
whose sides differ. Shapes, parameters and MACs are computed on the way. The steps live
beside it: `layer_calls` (one layer's options), `builder` (the growing layer graph),
`block_graph` (one block instance) and `derivation` (names -> plain definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming, option_values
from resnet_dsl.network.block_graph import (
    IN_CHANNELS,
    block_env,
    check_block,
    count_merges,
    expand_block,
    merge_inputs,
    merge_refs,
    path_order,
)
from resnet_dsl.network.builder import Builder, Template, instance_key, record
from resnet_dsl.network.derivation import (
    Scope,
    applicable_block_defaults,
    evaluate_block_defaults,
    resolve_block,
    resolve_network,
)
from resnet_dsl.network.evaluate import Env, bind_params, evaluate
from resnet_dsl.network.layer_calls import Defaults, evaluate_defaults, layer_config, layer_defaults

__all__ = [  # what the generators, backends and editor import from here
    "IN_CHANNELS",
    "Defaults",
    "Scope",
    "block_env",
    "check_block",
    "count_merges",
    "evaluate_defaults",
    "expand",
    "layer_config",
    "layer_defaults",
    "merge_inputs",
    "merge_refs",
    "path_order",
    "resolve_block",
]

MAX_LAYERS = limits.MAX_LAYERS
MAX_REPEAT = limits.MAX_REPEAT
PRELUDE_FILE = "<prelude>"
"""The file name the prelude's spans carry (see `resnet_dsl.loader.prelude`)."""


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
            f"input must be a shape of positive integers such as 224x224x3, got {option_values.describe(shape)}",
            param.default.span if param.default is not None else param.span,
        )
    return shape


def _repeat(call: ir.BlockCall, env: Env) -> int:
    if call.repeat is None:
        return 1
    count = evaluate(call.repeat, env)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ArchError(
            f"a repeat count must be a non-negative integer, got {option_values.describe(count)}", call.repeat.span
        )
    if count > MAX_REPEAT:
        raise ArchError(f"{count} repeats is more than the limit of {MAX_REPEAT}", call.repeat.span)
    return count


def expand(
    scope: Scope,
    item: ir.NetworkDef | ir.DerivedNetwork,
    overrides: Mapping[str, Any] | None = None,
    reuse: bool = True,
) -> nw.Network:
    """The validated, flat network of one network definition. `reuse`: an instance identical
    to one made before (block, arguments, input shape) copies its layers under its own names
    instead of evaluating them again (the same network, a third of the time on ResNet-152)."""
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
    templates: dict[tuple, Template] = {}  # an instance made again: its first twin's layers, renamed
    pattern = block_names(net.defaults, env)
    made = 0
    for stage_index, (stage, calls) in enumerate(plan):
        instances = []
        for call, block, bound in calls:
            if call.name is not None and (error := naming.pattern_error(call.name)):
                raise ArchError(error, call.span, "fields: " + ", ".join(naming.BLOCK_FIELDS))
            for args in bound:
                prefix = naming.block_name(
                    pattern if call.name is None else call.name, stage.label, stage_index, len(instances), made
                )
                made += 1
                start = len(builder.layers)
                source_before = source
                key = instance_key(block, args, builder.by_name[source].output_shape) if reuse else None
                try:
                    if key in templates:
                        builder.replay(templates[key], prefix, stage.label, source)
                    else:
                        if id(block) not in orders:
                            orders[id(block)] = check_block(block)
                        expand_block(builder, block, args, defaults, source, prefix, stage.label, orders[id(block)])
                        template = record(builder.layers[start:], prefix, stage.label, source) if key else None
                        if template is not None:
                            templates[key] = template
                except limits.TooManyLayers as error:
                    where = call.repeat.span if call.repeat is not None else call.span
                    raise limits.TooManyLayers(error.message, where, error.hint) from None
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
        stages.append(
            nw.StageInstance.model_construct(
                label=stage.label, blocks=tuple(instances), alias=stage.alias, span=stage.span
            )
        )
    builder.units(net.head, env, defaults, source, nw.Origin.model_construct(section="head"))

    used = {}
    for _, calls in plan:
        for _, block, bound in calls:
            if bound:
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


def block_names(defaults: tuple[ir.LayerCall, ...], env: Env) -> str:
    """The network's block-name pattern: its `defaults { names(block = "...") }` (the last such
    entry, so a derivation's wins), else keras.applications' ResNet scheme (`naming.BLOCK_NAMES`)."""
    pattern = naming.BLOCK_NAMES
    for call in defaults:
        if call.op != NAMES:
            continue
        if call.condition is not None:
            raise ArchError("a default cannot be conditional", call.condition.span)
        for arg in call.args:
            if arg.name != "block":
                raise ArchError(
                    f'{NAMES} takes block = "pattern" only',
                    arg.span,
                    'e.g. names(block = "block{stage_number}{block_letter}")',
                )
            value = evaluate(arg.value, env)
            if not isinstance(value, str) or not isinstance(arg.value, ir.Str):
                raise ArchError("a block name pattern is a string", arg.value.span, 'e.g. "block_{index}"')
            if error := naming.pattern_error(value):
                raise ArchError(error, arg.value.span, "fields: " + ", ".join(naming.BLOCK_FIELDS))
            pattern = value
    return pattern


NAMES = "names"
"""The `defaults` entry that states a family's naming: `names(block = "block_{index}")`."""


def _plan(scope: Scope, net: ir.NetworkDef, env: Env) -> list:
    """Resolve every stage's block calls and counts first, then each block's arguments, which
    may read its position (`naming.POSITION`: `rate = 0.2 * index / blocks`). The layer limit
    is held by the builder, on the layers really made (a plan's count of the layers conditions
    may leave out refused networks under the limit), which bounds the work just as well: it
    stops at the 10,001st layer."""
    for param in net.params:
        if param.name in naming.POSITION:
            raise ArchError(
                f"a network parameter cannot be called '{param.name}': block arguments read it as the block's position",
                param.span,
                "rename the parameter; the position names are " + ", ".join(naming.POSITION),
            )
    block_defaults = evaluate_block_defaults(scope, net.defaults, env)
    resolved: dict[str, tuple[ir.BlockDef, list[tuple[str, set[str]]]]] = {}
    counted = []
    labels: dict[str, ir.Stage] = {}
    for stage in net.stages:
        if stage.label in labels:
            raise ArchError(f"stage '{stage.label}' is declared twice", stage.span, "give each stage its own label")
        labels[stage.label] = stage
        calls = []
        for call in stage.calls:
            if call.block not in resolved:
                resolved[call.block] = resolve_block(scope, call.block, call.span)
            calls.append((call, *resolved[call.block], _repeat(call, env)))
        counted.append((stage, calls))
    blocks = sum(count for _, calls in counted for *_, count in calls)
    plan, index = [], 0
    for stage_index, (stage, calls) in enumerate(counted):
        stage_blocks, block_index, bound_calls = sum(count for *_, count in calls), 0, []
        for call, block, levels, count in calls:
            bound = []
            for copy in range(max(count, 1)):  # a call repeated 0 times is still checked, where it stands
                here = {**env, **naming.position(index, blocks, stage_index, block_index, stage_blocks)}
                fallback = applicable_block_defaults(levels, block_defaults, here)
                args = bind_params(f"block '{block.name}'", block.params, call.args, here, call.span, fallback)
                if copy < count:
                    bound.append(args)
                    index, block_index = index + 1, block_index + 1
            bound_calls.append((call, block, bound))
        plan.append((stage, bound_calls))
    return plan
