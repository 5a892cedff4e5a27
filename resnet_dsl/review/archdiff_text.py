"""Values as an architecture diff holds and shows them: plain JSON, the language's spelling, one-line summaries.

`[3, 4, 6, 3]`, `true`, `conv2d(filters=64, kernel_size=[7, 7])`, `bottleneck_v1(filters=256)`:
the comparison records them, the report prints them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from resnet_dsl.language.errors import printable
from resnet_dsl.network.model import BlockInstance, Initializer, Layer, StageInstance


def plain(value: Any) -> Any:
    """A value as JSON holds it: tuples become lists, initializers their spec text."""
    if isinstance(value, Initializer):
        options = ([f"seed={value.seed}"] if value.seed is not None else []) + [f"{k}={v!r}" for k, v in value.args]
        return f"{value.name}({', '.join(options)})"
    if isinstance(value, BaseModel):
        return {key: plain(item) for key, item in value.model_dump().items()}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def value_text(value: Any) -> str:
    """A plain value as the language writes it: `[3, 4, 6, 3]`, `true`, `same`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {value_text(v)}" for k, v in value.items()) + "}"
    return printable(str(value))  # a string's line break or escape sequence cannot forge a line of the report


def config_items(layer: Layer, *, all_fields: bool = True) -> list[tuple[str, Any]]:
    """A layer's config as (field, value) pairs, `kind` left out; initializers kept whole."""
    fields = type(layer.config).model_fields
    return [
        (name, getattr(layer.config, name))
        for name, info in fields.items()
        if name != "kind" and (all_fields or getattr(layer.config, name) != info.default)
    ]


def layer_summary(layer: Layer) -> str:
    """`conv2d(filters=64, kernel_size=[7, 7], strides=[2, 2])`: the options not at default."""
    options = config_items(layer, all_fields=False)
    return f"{layer.kind}({', '.join(f'{k}={value_text(plain(v))}' for k, v in options)})"


def block_text(block: BlockInstance) -> str:
    """`bottleneck_v1(filters=256, kernel=3)`: a block instance, every argument bound."""
    return f"{block.block}({', '.join(f'{k}={value_text(plain(v))}' for k, v in block.args)})"


def composition(stage: StageInstance | None) -> str:
    """`bottleneck_v1_projection, bottleneck_v1 * 5`: the block types of a stage, in order."""
    return "" if stage is None else stage.composition
