"""A spec's own torch module paths, checked: dotted `as` names and a stage's `as`.

`as "stem.conv"` places a layer at that path in its scope (the model, or its block); an integer
part indexes an nn.Sequential (`as "maxpool.0"`); `stage conv2 as "stages.0.blocks"` places a
stage's blocks. Each part must be a Python name that is none of nn.Module's own attributes, and
no two modules may share a path or run through one another: such a spec is a located error, so
`check` reports it before any torch is imported.
"""

from __future__ import annotations

import keyword
import re

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming

MERGES = frozenset({"add", "multiply", "concat", "select"})
"""Kinds computed in `forward` from several tensors, with no module of their own."""


PATH = re.compile(r"[A-Za-z_]\w*(\.\w+)+", re.ASCII)
"""A module path: Python names and indices joined by dots. Another `as` name (`odd-name.1`,
`1.x`) is one attribute, its other characters replaced (`odd_name_1`)."""


def dotted(layer: nw.Layer) -> bool:
    """Whether the spec places the layer itself: an `as` name that is a module path."""
    alias = layer.origin.alias
    return alias is not None and PATH.fullmatch(alias) is not None and layer.kind not in MERGES


def parts(layer: nw.Layer) -> list[str]:
    assert layer.origin.alias is not None
    return layer.origin.alias.split(".")


def collision(layer: nw.Layer, why: str, path: str | None = None) -> ArchError:
    return ArchError(
        f"torch module path '{path or layer.origin.alias}' of layer '{layer.name}': {why}",
        layer.span,
        'give each module its own path (as "..."); the default layout is torchvision\'s',
    )


def check_path(text: str, span: ir.Span, what: str) -> list[str]:
    """A dotted module path's parts, each a Python name (not one of nn.Module's) or an index."""
    parts = text.split(".")
    for part in parts:
        if part.isdigit() and part is not parts[0]:
            continue
        if not part.isidentifier() or naming.reserved_by_torch(part) or keyword.iskeyword(part):
            why = "is one of nn.Module's own attributes" if naming.reserved_by_torch(part) else "is not a Python name"
            raise ArchError(
                f"torch module path '{text}' of {what}: '{part}' {why}",
                span,
                "each part is a name (conv, stem) or, after the first, an index (0, 1)",
            )
    return parts


def stage_paths(network: nw.Network) -> list[str]:
    """Each stage's module path: `layerN`, or the spec's `as`; none inside another."""
    paths: list[str] = []
    for position, stage in enumerate(network.stages, start=1):
        if stage.alias is None:
            paths.append(naming.torch_stage(position))
            continue
        check_path(stage.alias, stage.span, f"stage '{stage.label}'")
        for other, before in zip(paths, network.stages, strict=False):
            if other == stage.alias or other.startswith(stage.alias + ".") or stage.alias.startswith(other + "."):
                raise ArchError(
                    f"stage '{stage.label}': torch module path '{stage.alias}' collides with '{other}' of "
                    f"stage '{before.label}'",
                    stage.span,
                    "give each stage its own path, none inside another",
                )
        paths.append(stage.alias)
    for position, stage in enumerate(network.stages, start=1):  # a default name another stage's path holds
        if stage.alias is None and any(
            p.split(".")[0] == paths[position - 1] for p in paths if p != paths[position - 1]
        ):
            raise ArchError(
                f"stage '{stage.label}' is torch's '{paths[position - 1]}', which another stage's path uses",
                stage.span,
                f'name it with as "...": stage {stage.label} as "...": ...',
            )
    return paths


def check_unique(modules: dict[str, str], layers: dict[str, nw.Layer], placed: dict[str, list[str]]) -> None:
    """No two layers on one module path, and none on a path another's runs through."""
    owners: dict[str, str] = {}
    for name in sorted(modules, key=lambda n: n not in placed):  # the spec's paths reported first
        path = modules[name]
        if path in owners:
            first, second = (name, owners[path]) if name in placed else (owners[path], name)
            raise collision(layers[first], f"layer '{second}' is there too", path)
        owners[path] = name
    for name, path in modules.items():
        parts = path.split(".")
        for index in range(1, len(parts)):
            above = ".".join(parts[:index])
            if above in owners:
                first, second = (name, owners[above]) if name in placed else (owners[above], name)
                where = modules[first]
                raise collision(layers[first], f"'{above}' is layer '{second}', not a container", where)
