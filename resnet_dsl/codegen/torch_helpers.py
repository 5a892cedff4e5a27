"""The helpers a generated torch module copies from the back end's source, so both run the same
code: which exist and what each uses (`HELPERS`), their source read as text (no torch imported),
and the `activation(name)` function a block that takes its activation as a parameter needs."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import py_string, py_value

BACKENDS = Path(__file__).parent.parent / "backends"

HELPERS: dict[str, tuple[str, ...]] = {
    "same_pads": (),
    "Conv2dSame": ("same_pads",),
    "conv2d_same": ("Conv2dSame",),
    "MaxPool2dSame": ("same_pads",),
    "AvgPool2dSame": ("same_pads",),
    "Dense": (),
    "DropPath": (),
    "LayerScale": (),
    "per_channel": (),
    "Rescale": ("per_channel",),
    "Normalize": (),
    "Conv1dChannelsLast": (),
    "FlattenChannelsLast": (),
    "Exponential": (),
    "ChannelPad": (),
    "pad_module": (),
    "Blur2d": (),
    "ChannelSplit": (),
    "SeparableConv2d": (),
    "LayerNormChannels": (),
    "ReshapeChannelsLast": (),
    "MovedSequential": (),
    "rehome": ("MovedSequential",),
    "named": (),
    "variance_scaling_": (),
}
"""`backends/torch_modules.py`'s standalone helpers, each with those it uses, in the order of its source."""

NEEDS_MATH = frozenset({"same_pads", "MaxPool2dSame", "variance_scaling_", "Blur2d", "math"})
NEEDS_FUNCTIONAL = frozenset({"Conv2dSame", "MaxPool2dSame", "AvgPool2dSame", "ChannelPad", "Blur2d"})


def definitions(path: Path, names: frozenset[str] | set[str] | tuple[str, ...]) -> dict[str, str]:
    """The source text of each top-level function, class or assignment of `path` named in `names`."""
    text = path.read_text(encoding="utf-8")
    sources = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        if name in names:
            sources[name] = ast.get_source_segment(text, node) or ""
    return sources


@cache
def helper_sources() -> dict[str, str]:
    """The source of each helper in `backends/torch_modules.py`."""
    return definitions(BACKENDS / "torch_modules.py", set(HELPERS))


def needed(direct: set[str]) -> list[str]:
    """The helpers used and those they use, in `HELPERS`' order."""
    wanted = set()
    stack = [name for name in direct if name in HELPERS]
    while stack:
        name = stack.pop()
        if name not in wanted:
            wanted.add(name)
            stack += HELPERS[name]
    return [name for name in HELPERS if name in wanted]


def activation_helper() -> str:
    """`activation(name)`: Keras's activation of that name, for a block that takes it as a parameter."""
    entries = []
    for name, (class_name, args) in torch_layout.ACTIVATIONS.items():
        arguments = ", ".join(f"{py_string(k)}: {py_value(v)}" for k, v in args)
        made = "Exponential" if class_name == "Exponential" else f"nn.{class_name}"
        entries.append(f"        {py_string(name)}: ({made}, {{{arguments}}}),")
    return "\n".join(
        [
            "def activation(name: str) -> nn.Module:",
            '    """Keras\'s activation `name` as a torch module."""',
            "    modules = {",
            *entries,
            "    }",
            "    module, arguments = modules[name]",
            "    return module(**arguments)",
        ]
    )
