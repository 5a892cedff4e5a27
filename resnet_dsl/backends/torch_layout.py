"""Network -> its PyTorch layout: which torch module each layer becomes, and where it sits.

Both PyTorch back ends (`torch_backend.to_torch` and the generated source) and the weight
conversion read this, so they agree on every attribute name, which is every state_dict key.
No torch here: the layout is plain data, computed from the network and `naming`'s table.

The module tree follows torchvision's ResNet: the stem's and head's layers are children of
the model, each stage an nn.Sequential `layerN` of blocks, and a block keeps its main path's
layers as its own children (`conv1`, `bn1`, ...) and its shortcut as `downsample`. A zero
padding that only feeds a convolution becomes that convolution's `padding`, as torchvision
writes it; a labelled unit with several layers of one weighted kind (timm's deep stem) is an
nn.Sequential named by its label.

A spec lays its modules out as another zoo does with one construct, the layer's `as` name
(`naming.module_path`): a dotted `as` name is a layer's module path in its scope (`as
"stem.conv"` in the stem, `as "downsample.conv"` in a block; an integer part indexes an
nn.Sequential: `as "maxpool.0"`), and a stage's `as` names its nn.Sequential of blocks (`stage
conv2 as "stages.{stage_index}.blocks": ...`). A path that says which block it is in is from the
model: a stage's (`as "features.{stage_number}.{block_index}"`, each block's module, its layers
there at their own paths or names) or a block layer's (`as "features.{2 * stage_index}.0"`). The
model is then built as above and `torch_modules.rehome` registers each such module at its path
(with, in such a network, the stem's and head's placed layers, so the model's children come in
the spec's order); the generated source builds such a tree itself where the spec places every
block whole (`codegen/torch_tree`).
Two modules on one path, a path through a module, or a part that is one of nn.Module's own
attributes is a located error (`check` reports it). Where the result is the same, a zero padding before a max
pool whose input cannot be negative becomes the pool's `padding` (`nn.MaxPool2d(3, 2, padding=1)`),
Keras's `same` padding an integer one, and an activation that alone reads a fresh tensor runs in
place (`nn.ReLU(inplace=True)`), as torchvision writes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from resnet_dsl.backends import torch_places as places
from resnet_dsl.language import ir
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming
from resnet_dsl.network.evaluate import condition
from resnet_dsl.network.expand import block_env

WEIGHTED = frozenset(
    {
        "conv2d",
        "conv1d",
        "batchnorm",
        "dense",
        "depthwise_conv2d",
        "separable_conv2d",
        "groupnorm",
        "layernorm",
        "layer_scale",
        "normalize",
    }
)
"""Kinds with parameters or buffers: their attribute names are state_dict keys."""

MERGES = places.MERGES

Container = Literal["sequential", "dict"]
"""An nn.Sequential indexed by position, or a module whose children have names."""

ACTIVATIONS: dict[str, tuple[str, tuple[tuple[str, float | int], ...]]] = {
    "relu": ("ReLU", ()),
    "relu6": ("ReLU6", ()),
    "leaky_relu": ("LeakyReLU", (("negative_slope", 0.2),)),
    "elu": ("ELU", ()),
    "selu": ("SELU", ()),
    "gelu": ("GELU", ()),
    "silu": ("SiLU", ()),
    "swish": ("SiLU", ()),
    "mish": ("Mish", ()),
    "sigmoid": ("Sigmoid", ()),
    "hard_sigmoid": ("Hardsigmoid", ()),
    "hard_silu": ("Hardswish", ()),
    "hard_swish": ("Hardswish", ()),
    "tanh": ("Tanh", ()),
    "softmax": ("Softmax", (("dim", 1),)),
    "log_softmax": ("LogSoftmax", (("dim", 1),)),
    "softplus": ("Softplus", ()),
    "softsign": ("Softsign", ()),
    "exponential": ("Exponential", ()),
    "linear": ("Identity", ()),
}
"""Keras's activations (`option_values.ACTIVATIONS`) as torch modules: a class of `torch.nn` (or, for
`Exponential`, of ours) and its arguments, Keras's constants included (leaky ReLU's slope 0.2);
softmax runs over the channels, dimension 1 in NCHW."""

INPLACE_ACTIVATIONS = frozenset({"ReLU", "ReLU6"})
"""Activations that may overwrite their input: their gradient needs only their result."""

FRESH = frozenset(
    {
        "conv2d",
        "batchnorm",
        "depthwise_conv2d",
        "separable_conv2d",
        "groupnorm",
        "layernorm",
        "add",
        "concat",
        "multiply",
    }
)
"""Kinds whose output is a new tensor that autograd does not keep: safe to overwrite in place
(torchvision's `bn1 -> relu(inplace=True)`, `out += identity`)."""

NON_NEGATIVE = frozenset({"relu", "relu6", "sigmoid", "hard_sigmoid", "softplus", "exponential"})
"""Activations whose output is never negative: zeros padded before a max pool never win there,
so the pool's own (-inf) padding computes the same."""


@dataclass(frozen=True)
class Node:
    """One layer as torch runs it: a child module (None for a merge), fed by `inputs`."""

    layer: nw.Layer
    module: str | None
    """Its path inside its scope: `conv1`, `downsample.0`, `se.fc1`."""
    inputs: tuple[str, ...]
    """IR names of its inputs, a folded zero padding replaced by what feeds it."""
    in_shape: tuple[int, ...]
    """The NHWC shape of its first input, as the IR has it."""
    padding: tuple[int, int] = (0, 0)
    """Zero padding (rows, columns) folded into a convolution or max pool from the layer before it."""
    inplace: bool = False
    """An activation that may overwrite its input, an add that may accumulate into its first."""

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def in_channels(self) -> int:
        return self.in_shape[-1]


@dataclass(frozen=True)
class Scope:
    """The layers one torch module runs in its `forward`: the model's stem or head, or a block."""

    input: str
    nodes: tuple[Node, ...]
    containers: tuple[tuple[str, Container], ...] = ()
    """Children that group layers: ("downsample", "sequential"), ("se", "dict")."""

    @property
    def output(self) -> str:
        return self.nodes[-1].name if self.nodes else self.input


@dataclass(frozen=True)
class Stage:
    attribute: str
    """Its module path in the model: `layer1`, or what the spec says (`stages.0.blocks`)."""
    stage: nw.StageInstance
    blocks: tuple[Scope, ...]


@dataclass(frozen=True)
class Layout:
    network: nw.Network
    stem: Scope
    stages: tuple[Stage, ...]
    head: Scope
    stated: dict[str, str] = field(default_factory=dict)
    """IR layer name -> its path from the model as the spec writes it (`torch_places.stated`)."""

    def built_paths(self) -> dict[str, str]:
        """IR layer name -> where the model is built with its module (`layer1.0.conv1`)."""
        paths: dict[str, str] = {}
        scopes: list[tuple[str, Scope]] = [("", self.stem), ("", self.head)]
        for stage in self.stages:
            scopes += [(f"{stage.attribute}.{index}.", block) for index, block in enumerate(stage.blocks)]
        for prefix, scope in scopes:
            for node in scope.nodes:
                if node.module is not None:
                    paths[node.name] = prefix + node.module
        return paths

    def placed(self) -> dict[str, str]:
        """IR layer name -> the path from the model the spec states for it (`as
        "features.{stage_number}.0"`), its fields filled in from the block it stands in."""
        return places.filled(self.network, self.stated, self.built_paths())

    def module_paths(self) -> dict[str, str]:
        """IR layer name -> the dotted path of its module in the model (`layer1.0.conv1`), or of
        its one parameter where the spec places a layer scale (`features.1.0.layer_scale`)."""
        return {**self.built_paths(), **self.placed()}

    def rehomed(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """What `torch_modules.rehome` takes: built path -> stated path, and the stated paths
        that name a parameter (a layer scale's weight) rather than a module."""
        built, placed = self.built_paths(), self.placed()
        moves = {built[name]: path for name, path in placed.items()}
        scales = {layer.name for layer in self.network.layers if layer.kind == "layer_scale"}
        return moves, tuple(path for name, path in placed.items() if name in scales)


def layout(network: nw.Network) -> Layout:
    """Where every layer of a network goes in its torch model; an ArchError where two modules
    would share a path (`check` reports it)."""
    stated = places.stated(network)
    written = network
    if stated:  # built where torchvision's layout puts them, then moved: no path in their scope
        network = places.unplaced(network, stated)
    layers = {layer.name: layer for layer in network.layers}
    consumers: dict[str, int] = {}
    for layer in network.layers:
        for name in layer.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    folded = _folded_paddings(network.layers, layers, consumers)
    stage_paths = places.stage_paths(network)
    stem_layers = network.section("stem")
    head_layers = network.section("head")
    stage_tops = {path.split(".")[0] for path in stage_paths}
    stem_tops = {places.parts(layer)[0] for layer in stem_layers if places.dotted(layer)}
    for layer in (*stem_layers, *head_layers):  # the model's own dotted paths, before any numbering
        if places.dotted(layer):
            places.check_path(layer.origin.alias or "", layer.span, f"layer '{layer.name}'")
            top = places.parts(layer)[0]
            if top in stage_tops:
                raise places.collision(layer, f"'{top}' is a stage's module")
            if layer.origin.section == "head" and top in stem_tops:
                raise places.collision(layer, f"the stem places modules in '{top}' too")
    taken = stage_tops | {places.parts(layer)[0] for layer in (*stem_layers, *head_layers) if places.dotted(layer)}
    stem = _scope(network.layers[0].name, stem_layers, layers, folded, consumers, taken)
    definitions = {block.name: block for block in network.blocks}
    stages = []
    for position, stage in enumerate(network.stages, start=1):
        blocks = tuple(
            _scope(
                layers[instance.layers[0]].inputs[0],
                [layers[name] for name in instance.layers],
                layers,
                folded,
                consumers,
                set(),
                _written_positions(definitions.get(instance.block), instance, layers, folded),
            )
            for instance in stage.blocks
        )
        stages.append(Stage(stage_paths[position - 1], stage, blocks))
    head_input = head_layers[0].inputs[0] if head_layers else ""
    head = _scope(head_input, head_layers, layers, folded, consumers, taken)
    blocks = places.block_modules(network)
    for stage in stages:  # a block whose stage's path says which block: the rest of it goes there too
        for instance, scope in zip(stage.stage.blocks, stage.blocks, strict=True):
            if instance.name in blocks:
                moved = (node for node in scope.nodes if node.module is not None and node.name not in stated)
                stated |= {node.name: f"{blocks[instance.name]}.{node.module}" for node in moved}
    made = Layout(network, stem, tuple(stages), head, stated)
    if stated:
        written_layers = {layer.name: layer for layer in written.layers}
        places.check_unique(made.module_paths(), written_layers, {name: [] for name in made.placed()})
    return made


def _folded_paddings(
    ordered: Sequence[nw.Layer], layers: dict[str, nw.Layer], consumers: dict[str, int]
) -> dict[str, tuple[int, int]]:
    """Convolution or pool name -> the symmetric padding it takes over from its only input, where
    torch's own padding computes the same: a convolution's or an average pool's zeros (torch's
    pool counts them, `count_include_pad`); a max pool's zeros where its input cannot be negative,
    or its repeated edge (`pad(1, mode=replicate)`), which no window can tell from -inf; a pool's
    only where every window keeps a real pixel (at most half the window, as torch requires)."""
    folded = {}
    for layer in ordered:
        config = layer.config
        pool = isinstance(config, nw.PoolConfig) and layer.kind in ("maxpool", "avgpool")
        convolution = isinstance(config, (nw.Conv2DConfig, nw.DepthwiseConv2DConfig))
        if not (convolution or pool) or config.padding != "valid":
            continue
        source = layers[layer.inputs[0]]
        edge = isinstance(source.config, nw.PadConfig) and source.config.mode == "replicate"
        if not (isinstance(source.config, nw.ZeroPaddingConfig) or edge) or consumers.get(source.name) != 1:
            continue
        if edge and layer.kind != "maxpool":
            continue
        if source.origin.path != layer.origin.path or source.origin.block != layer.origin.block:
            continue
        (top, bottom), (left, right) = source.config.padding  # type: ignore[union-attr]
        if top != bottom or left != right:
            continue
        if pool:
            assert isinstance(config, nw.PoolConfig)
            before = layers[source.inputs[0]].config
            positive = isinstance(before, nw.ActivationConfig) and before.activation in NON_NEGATIVE
            if layer.kind == "maxpool" and not (positive or edge):
                continue
            if 2 * top > config.pool_size[0] or 2 * left > config.pool_size[1]:
                continue
        folded[layer.name] = (top, left)
    return folded


def _inplace(layer: nw.Layer, source: str, layers: dict[str, nw.Layer], consumers: dict[str, int]) -> bool:
    """Whether a layer may overwrite its (first) input: a ReLU, or an add of two, whose input
    is a fresh tensor that nothing else reads and that is not its module's input."""
    config = layer.config
    if isinstance(config, nw.ActivationConfig):
        if ACTIVATIONS[config.activation][0] not in INPLACE_ACTIVATIONS:
            return False
    elif layer.kind != "add" or len(layer.inputs) != 2 or layer.inputs[0] == layer.inputs[1]:
        return False
    first = layer.inputs[0]
    return first != source and layers[first].kind in FRESH and consumers.get(first) == 1


def _written_positions(
    block: ir.BlockDef | None,
    instance: nw.BlockInstance,
    layers: dict[str, nw.Layer],
    folded: dict[str, tuple[int, int]],
) -> dict[str, int]:
    """Layer -> its index in its path's nn.Sequential: its place among the path's written layers,
    so a layer a condition leaves out keeps its place (timm's nn.Identity where ResNet-D's
    shortcut pools nothing); a zero padding folded into a convolution takes none."""
    if block is None or not instance.layers:
        return {}
    padded = {layers[name].inputs[0] for name in folded}
    env = block_env(block, dict(instance.args), layers[layers[instance.layers[0]].inputs[0]].output_shape[-1])
    positions: dict[str, int] = {}
    for path in block.paths:
        if naming.TORCH_PATHS.get(path.name) is None:
            continue
        present = [layers[name] for name in instance.layers if layers[name].origin.path == path.name]
        made = iter(present)
        position = 0
        for call in (call for unit in path.units for call in unit.layers):
            if not present or (call.condition is not None and not condition(call.condition, env)):
                position += call.op != "zeropad"
                continue
            layer = next(made)
            if layer.name not in padded:
                positions[layer.name] = position
                position += 1
    return positions


def _scope(
    source: str,
    members: Iterable[nw.Layer],
    layers: dict[str, nw.Layer],
    folded: dict[str, tuple[int, int]],
    consumers: dict[str, int],
    taken: set[str],
    positions: dict[str, int] | None = None,
) -> Scope:
    """Name the layers of one module: the spec's dotted paths and containers first, then `as`
    names, then numbered bases."""
    members = list(members)
    # the paddings folded into this module's layers (a walk of the members, not of every folded layer)
    skipped = {layers[m.name].inputs[0]: m.name for m in members if m.name in folded}
    kept = [layer for layer in members if layer.name not in skipped]
    placed = {
        layer.name: places.check_path(layer.origin.alias or "", layer.span, f"layer '{layer.name}'")
        for layer in kept
        if places.dotted(layer)
    }
    unplaced = [layer for layer in kept if layer.name not in placed]
    by_name = {layer.name: layer for layer in kept}
    spec_containers: dict[str, Container] = {}
    for name, parts in placed.items():
        for index in range(1, len(parts)):
            prefix, kind = ".".join(parts[:index]), "sequential" if parts[index].isdigit() else "dict"
            if spec_containers.setdefault(prefix, kind) != kind:
                raise places.collision(by_name[name], f"'{prefix}' holds both numbered and named modules")
    groups: dict[str, tuple[str | None, Container | None]] = {}
    for layer in unplaced:
        groups[layer.name] = _group(layer, unplaced)
    containers: dict[str, Container] = {}
    for group, kind in groups.values():
        if group is not None and kind is not None:
            containers.setdefault(group, kind)
    renamed = {}
    for group, kind in containers.items():  # a path's container the spec also places modules in: one
        if group in spec_containers and spec_containers[group] != kind:
            name = next(n for n, parts in placed.items() if parts[0] == group)
            raise places.collision(
                by_name[name],
                f"'{group}' is also the {'nn.Sequential' if kind == 'sequential' else 'module'} of other layers",
            )
    taken |= {parts[0] for parts in placed.values()}
    for group in containers:
        renamed[group] = group if group in spec_containers else naming.torch_attribute(group, taken)
    own: dict[str | None, set[str]] = {None: taken}
    for group in containers:
        own[group] = {parts[1] for parts in placed.values() if parts[0] == renamed[group] and len(parts) == 2}
    modules: dict[str, str] = {name: ".".join(parts) for name, parts in placed.items()}
    for layer in unplaced:  # `as` names first, so numbered names go around them
        group, kind = groups[layer.name]
        if layer.kind in MERGES or kind == "sequential" or layer.origin.alias is None:
            continue
        modules[layer.name] = naming.torch_attribute(layer.origin.alias, own[group])
    counted: dict[str, int] = {}
    for layer in unplaced:
        group, kind = groups[layer.name]
        if layer.kind in MERGES:
            continue
        if kind == "sequential":
            assert group is not None
            index = counted.get(group, 0)
            counted[group] = index + 1
            modules[layer.name] = f"{renamed[group]}.{(positions or {}).get(layer.name, index)}"
        elif layer.name not in modules:
            modules[layer.name] = naming.torch_numbered(naming.torch_base(layer.kind, layer.origin.path), own[group])
        if kind == "dict" and group is not None and not modules[layer.name].startswith(renamed[group] + "."):
            modules[layer.name] = f"{renamed[group]}.{modules[layer.name]}"
    places.check_unique(modules, by_name, placed)
    for group, kind in containers.items():
        spec_containers.setdefault(renamed[group], kind)
    nodes = []
    for layer in kept:
        inputs = tuple(layers[name].inputs[0] if name in skipped else name for name in layer.inputs)
        nodes.append(
            Node(
                layer=layer,
                module=modules.get(layer.name),
                inputs=inputs,
                in_shape=layers[inputs[0]].output_shape if inputs else layer.output_shape,
                padding=folded.get(layer.name, (0, 0)),
                inplace=_inplace(layer, source, layers, consumers),
            )
        )
    return Scope(source, tuple(nodes), tuple(spec_containers.items()))


def class_name(name: str) -> str:
    """`se_bottleneck` -> `SeBottleneck`, `ResNetV2_50` as it is (an underscore before a digit
    stays, so 50_2 is not 502): how a block kind or network is named as a torch class."""
    parts = [part for part in name.split("_") if part]
    text = "".join(
        ("_" if index and part[0].isdigit() else "") + part[:1].upper() + part[1:] for index, part in enumerate(parts)
    )
    return text or "Block"


def conv_padding(node: Node) -> tuple[int, int] | None:
    """A convolution's torch `padding` (rows, columns); None where only Keras's asymmetric
    `same` padding computes it (`Conv2dSame`). `same` is an integer padding at stride 1 with an
    odd (dilated) kernel, and none for a 1x1 kernel at any stride, whatever the input size."""
    config = node.layer.config
    assert isinstance(config, (nw.Conv2DConfig, nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig))
    if config.padding != "same":
        return node.padding
    extents = [(k - 1) * d for k, d in zip(config.kernel_size, config.dilation_rate, strict=True)]
    if all(extent == 0 for extent in extents):
        return (0, 0)
    if config.strides == (1, 1) and all(extent % 2 == 0 for extent in extents):
        return (extents[0] // 2, extents[1] // 2)
    return None


def fixed_padding(node: Node) -> tuple[int, int] | None:
    """What a module fixes about its padding: a convolution's (None: Keras's `same`), a pool's."""
    if isinstance(node.layer.config, (nw.Conv2DConfig, nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig)):
        return conv_padding(node)
    return node.padding


def _group(layer: nw.Layer, scope: Sequence[nw.Layer]) -> tuple[str | None, Container | None]:
    """The child a layer belongs to: its path's (TORCH_PATHS), or its labelled unit's when that
    unit holds several layers of one weighted kind; else the scope itself."""
    path = layer.origin.path
    if path is not None:
        container = naming.TORCH_PATHS.get(path, path)
        if container is not None:
            return container, "sequential" if path in naming.TORCH_PATHS else "dict"
    unit = layer.origin.unit
    if unit is None or layer.kind in MERGES:
        return None, None
    kinds = [
        other.kind
        for other in scope
        if other.origin.unit == unit and other.origin.path == path and other.kind in WEIGHTED
    ]
    if any(kinds.count(kind) > 1 for kind in kinds):
        return unit, "sequential"
    return None, None


def initializer_options(spec: nw.Initializer) -> str | dict[str, str | int | float]:
    """A Keras initializer as `torch_backend.initialized` takes it: its name, or a dict with its options."""
    if spec.seed is None and not spec.args:
        return spec.name
    options: dict[str, str | int | float] = {"name": spec.name, **dict(spec.args)}
    if spec.seed is not None:
        options["seed"] = spec.seed
    return options


def symmetric(config: nw.Conv2DConfig) -> bool:
    """Whether `same` padding at stride 1 puts as much before as after: an odd dilated kernel."""
    return all((k - 1) * d % 2 == 0 for k, d in zip(config.kernel_size, config.dilation_rate, strict=True))
