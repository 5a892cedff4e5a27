"""The names of a block's classes in generated torch code, after what tells them apart.

Where one block definition needs several classes (its instances cannot share one, see
`torch_union`), the one with the fewest modules takes the block's name and each other is named
after the paths whose modules it has beyond those all share: `BottleneckV2Shortcut` (a
shortcut), and where two would still be one name, after the kinds of module only it has. A
named path's own class adds the path's module to its block class's name (`SeBottleneckSe`).
Variants whose modules are the same (a padding folded in one and not the other) are numbered:
`Fold`, `Fold_2`.
"""

from __future__ import annotations

from collections.abc import Sequence

from resnet_dsl.backends import torch_layout
from resnet_dsl.network import naming

WORDS = {"avgpool": "AvgPool", "maxpool": "MaxPool", "conv_dw": "ConvDw", "conv_sep": "ConvSep"}
"""Module bases as words of a class name, where capitalising the first letter reads badly."""

Module = tuple[str, str]
"""A module's path in its block and its kind."""


def variant_names(block: str, scopes: Sequence[torch_layout.Scope]) -> list[str]:
    """One name per class of `block`, in order, given a scope of each (its fullest instance)."""
    base = torch_layout.class_name(block)
    if len(scopes) == 1:
        return [base]
    sets = [[(node.module, node.layer.kind) for node in scope.nodes if node.module] for scope in scopes]
    words = [{node.module: _path_word(node) for node in scope.nodes if node.module} for scope in scopes]
    plain = min(range(len(sets)), key=lambda index: (len(sets[index]), index))
    common = set.intersection(*(set(modules) for modules in sets))
    suffixes = [
        "" if index == plain else _words([words[index][m] for m, kind in modules if (m, kind) not in common])
        for index, modules in enumerate(sets)
    ]
    for suffix in set(suffixes):
        alike = [index for index, other in enumerate(suffixes) if other == suffix and index != plain]
        if len(alike) < 2:
            continue
        for index in alike:
            others = set().union(*(set(sets[j]) for j in alike if j != index))
            kinds = [naming.torch_base(kind) for module, kind in sets[index] if (module, kind) not in others]
            suffixes[index] += _words(kinds)
    names: list[str] = []
    for suffix in suffixes:
        name = base + suffix
        names.append(name if name not in names else f"{base}_{len(names) + 1}")
    return names


def _path_word(node: torch_layout.Node) -> str:
    """What a module stands for in a class name: its path (`shortcut`, `se`), or, for the
    block's own modules, its first attribute."""
    path = node.layer.origin.path
    if path in (None, "main", "pre", "out"):
        return (node.module or "").split(".")[0]
    return path


def _words(parts: Sequence[str]) -> str:
    """`["shortcut", "avgpool"]` -> `ShortcutAvgPool`."""
    return "".join(WORDS.get(part) or torch_layout.class_name(part) for part in dict.fromkeys(parts))
