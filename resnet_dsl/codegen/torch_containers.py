"""Generated torch's containers beyond one level, and how `forward` reaches into them.

A spec's dotted `as` names nest modules (timm's Selective Kernel: `conv1.paths.0.conv`,
`conv1.attn.fc_select`); `__init__` makes the outermost container whole (`nested`), and
`forward` calls a container whole where its layers run together, else each of them alone
(`module_expression`: Res2Net's `self.convs[0]` between other layers). Merges are expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.torch_views import Call, LayerSource

MERGE_SOURCES = {
    "add": lambda operands: " + ".join(operands),
    "multiply": lambda operands: " * ".join(operands),
    "concat": lambda operands: f"torch.cat([{', '.join(operands)}], dim=1)",
    "select": lambda operands: (
        f"(torch.stack([{', '.join(operands[1:])}], 1)"
        f" * {operands[0]}.unflatten(1, ({len(operands) - 1}, -1)).softmax(1)).sum(1)"
    ),
}


def module_expression(path: str) -> str:
    """`convs.0` -> `self.convs[0]`, `stem.conv` -> `self.stem.conv`: one module of a container."""
    return "self" + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in path.split("."))


def nested(
    prefix: str, members: Sequence[torch_layout.Node], sources: Mapping[str, LayerSource], helpers: set[str]
) -> Call:
    """The container at `prefix` and everything under it: an nn.Sequential where its children
    are indices (a missing one nn.Identity), else `named(...)`, in the order the layers run."""
    made: dict[str, Call] = {}
    for key in dict.fromkeys((n.module or "")[len(prefix) + 1 :].partition(".")[0] for n in members):
        inside = [n for n in members if (n.module or "").startswith(f"{prefix}.{key}.")]
        leaf = next((n for n in members if n.module == f"{prefix}.{key}"), None)
        made[key] = (
            sources[leaf.name].constructor(helpers) if leaf else nested(f"{prefix}.{key}", inside, sources, helpers)
        )
    if all(key.isdigit() for key in made):
        slots = range(max(int(key) for key in made) + 1)
        return Call("nn.Sequential", tuple(("", made.get(str(i), Call("nn.Identity"))) for i in slots))
    helpers.add("named")
    return Call("named", tuple(made.items()))
