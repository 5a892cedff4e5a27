"""The layer graph under construction: layers appended in topological order, shapes inferred, names and limits checked.

A shape error is reported at the text that made the layer, with a hint where the network's
own input is what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming, ops, shapes
from resnet_dsl.network.evaluate import Env, condition
from resnet_dsl.network.layer_calls import Defaults, layer_config, unit_marks


@dataclass
class Builder:
    """Appends layers in topological order, inferring shapes and checking names."""

    layers: list[nw.Layer] = field(default_factory=list)
    by_name: dict[str, nw.Layer] = field(default_factory=dict)
    params: int = 0
    """The parameters of every layer made so far (the allocation limit counts them)."""

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
        self.params += params.total
        limits.check_allocation(shape, self.params, name, span)
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
            for call, mark in zip(unit.layers, unit_marks(unit.layers), strict=True):
                if call.condition is not None and not condition(call.condition, env):
                    continue
                op, config, suffix = layer_config(call, env, defaults)
                name = call.name or naming.join(unit.label, suffix + mark)
                source = self.layer(call, op, config, name, source, labelled(origin, unit, call))
        return source


def labelled(origin: nw.Origin, unit: ir.Unit | None, call: ir.LayerCall) -> nw.Origin:
    """The origin with what the text says of the layer's own name: its unit's label and `as` name."""
    label = unit.label if unit is not None else None
    if label is None and call.name is None and call.torch is None:
        return origin
    if call.torch is not None and (error := naming.torch_path_error(call.torch, inside_block=origin.block is not None)):
        raise ArchError(error, call.span, "fields: " + ", ".join(naming.TORCH_FIELDS))
    return origin.model_copy(update={"unit": label, "alias": call.name, "torch": call.torch})
