"""A spec's own torch module paths, checked: `as` names that are module paths, and a stage's `as`.

`as "stem.conv"` places a layer at that path in its scope (the model, or its block); an integer
part indexes an nn.Sequential (`as "maxpool.0"`); `stage conv2 as "stages.0.blocks"` places a
stage's blocks. A path that says which block it is in is from the model (`stated`): a block
layer's (`as "features.{2 * stage_index}.0"`), or a stage's, which is then each block's module
(`stage s as "features.{stage_number}.{block_index}"`, `block_modules`). Each part must be
a Python name that is none of nn.Module's own attributes, and no two modules may share a path or
run through one another: such a spec is a located error, so `check` reports it before any torch
is imported.
"""

from __future__ import annotations

import keyword

from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming

MERGES = frozenset({"add", "multiply", "concat", "select"})
"""Kinds computed in `forward` from several tensors, with no module of their own."""


def dotted(layer: nw.Layer) -> bool:
    """Whether the spec places the layer in its scope: an `as` name that is a module path."""
    return naming.MODULE_PATH.fullmatch(layer.origin.alias or "") is not None and layer.kind not in MERGES


def stated(network: nw.Network) -> dict[str, str]:
    """Layer -> its path from the model, where the spec gives one that `torch_modules.rehome`
    registers once the model is built: a block's layer whose path says which block it is in (a
    field), or whose stage's path does (`block_modules`: the layer's path, or plain name, from
    there); and, in a network that has such paths, every stem and head layer with an `as` too,
    so the model's children come in the order the spec writes them (torchvision's `features`
    holds the stem, the blocks and the head's last convolution)."""
    blocks = block_modules(network)
    paths: dict[str, str] = {}
    for layer in network.layers:
        alias, block = layer.origin.alias, layer.origin.block
        if block is None or alias is None or layer.kind in MERGES:
            continue
        if naming.has_fields(alias):
            paths[layer.name] = alias
        elif block in blocks:
            check_path(alias, layer.span, f"layer '{layer.name}'")
            paths[layer.name] = f"{blocks[block]}.{alias}"
    if not paths and not blocks:
        return {}
    for layer in network.layers:
        alias = layer.origin.alias
        if layer.origin.section in ("stem", "head") and alias is not None and layer.kind not in MERGES:
            check_path(alias, layer.span, f"layer '{layer.name}'")
            paths[layer.name] = alias
    return paths


def block_modules(network: nw.Network) -> dict[str, str]:
    """Block -> its module's path from the model, where its stage's `as` says which block
    (`stage s as "features.{stage_number}.{block_index}": ...`); its layers go there, each at its
    own path or name in the block, once the model is built."""
    blocks: dict[str, str] = {}
    for stage in network.stages:
        if stage.alias is None or not naming.field_names(stage.alias) - set(naming.STAGE_FIELDS):
            continue
        if error := naming.torch_path_error(stage.alias, inside_block=True):
            raise ArchError(f"stage '{stage.label}': {error}", stage.span, "fields: " + ", ".join(naming.TORCH_FIELDS))
        blocks |= {block.name: stage.alias for block in stage.blocks}
    return blocks


def unplaced(network: nw.Network, stated: dict[str, str]) -> nw.Network:
    """The network with its `stated` layers' `as` texts dropped: built where torchvision's layout
    puts them (numbered names), before `rehome` moves them."""
    layers = tuple(
        layer.model_copy(update={"origin": layer.origin.model_copy(update={"alias": None})})
        if layer.name in stated
        else layer
        for layer in network.layers
    )
    return network.model_copy(update={"layers": layers})


def filled(network: nw.Network, stated: dict[str, str], built: dict[str, str]) -> dict[str, str]:
    """Layer -> its stated path with the fields filled in from the block it stands in, in the
    order the modules are made: within a block, the order the spec writes them (torchvision makes
    RegNet's `proj` before `f`, though `f` runs first), which is the state_dict's."""
    if not stated:
        return {}
    fields = naming.torch_fields([(stage.label, [b.name for b in stage.blocks]) for stage in network.stages])
    layers = [layer for layer in network.layers if layer.name in stated and layer.name in built]
    groups = list(dict.fromkeys((layer.origin.section, layer.origin.block) for layer in layers))
    layers.sort(
        key=lambda layer: (groups.index((layer.origin.section, layer.origin.block)), layer.span.line, layer.span.column)
    )
    return {
        layer.name: naming.torch_path(stated[layer.name], fields.get(layer.origin.block or "", {})) for layer in layers
    }


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
    """Each stage's module path: `layerN`, or the spec's `as`, whose fields say which stage
    (`stages.{stage_index}.blocks`); none inside another."""
    paths: list[str] = []
    for position, stage in enumerate(network.stages, start=1):
        if stage.alias is None or not naming.field_names(stage.alias) <= set(naming.STAGE_FIELDS):
            paths.append(naming.torch_stage(position))  # built there; moved to its blocks' paths
            continue
        fields: dict[str, str | int] = {"stage": stage.label, "stage_index": position - 1, "stage_number": position}
        try:
            path = naming.torch_path(stage.alias, fields)
        except ValueError as error:
            raise ArchError(
                f"stage '{stage.label}': {error} in the torch path {stage.alias!r}",
                stage.span,
                "a stage's path may use " + ", ".join(f"{{{name}}}" for name in fields),
            ) from None
        check_path(path, stage.span, f"stage '{stage.label}'")
        for other, before in zip(paths, network.stages, strict=False):
            if other == path or other.startswith(path + ".") or path.startswith(other + "."):
                raise ArchError(
                    f"stage '{stage.label}': torch module path '{path}' collides with '{other}' of "
                    f"stage '{before.label}'",
                    stage.span,
                    "give each stage its own path, none inside another",
                )
        paths.append(path)
    for position, stage in enumerate(network.stages, start=1):  # a default name another stage's path holds
        if paths[position - 1] == naming.torch_stage(position) and any(
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
