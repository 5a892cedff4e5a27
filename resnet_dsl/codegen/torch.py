"""Network -> one standalone PyTorch module, laid out as torchvision's `models/resnet.py`.

One `nn.Module` class per kind of block (`torch_blocks`): `__init__(in_channels, <the block's
parameters>)` makes its layers as attributes, rendered from the spec's expressions
(`conv(4 * filters, 1)` becomes `nn.Conv2d(filters, 4 * filters, 1, ...)`), and `forward` runs
the spec's paths. A derived block (`bottleneck_projection = bottleneck(stride=2)`) is its base's
kind: its instances are the base's class made with the arguments the derivation binds
(`Bottleneck(256, 128, stride=2)`), as torchvision has one `Bottleneck`. Then the network's
class (here), whose stages are nn.Sequential `layer1`, ..., and `build_model`. Where the spec
places every block whole in another zoo's tree (torchvision's MobileNetV2: `features.{index + 1}`),
the class builds that tree itself (`torch_tree`).

Attribute names, and so state_dict keys, come from `torch_layout`, as `to_torch`'s do;
instances of one block must agree on them, which is checked. The few helpers the module
needs (Keras's `same` padding, initializers, channels-last flatten) are copied from
`backends/torch_modules.py`'s source (`torch_helpers`), so both back ends run the same code. Spec names and
values go through `pysource`, as for the Keras target; the output is what `ruff format` writes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from resnet_dsl import __version__
from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen import torch_init, torch_tree
from resnet_dsl.codegen.pysource import (
    escape,
    function_preamble,
    functions_called,
    identifier,
    py_string,
    py_value,
    same_value,
)
from resnet_dsl.codegen.torch_blocks import BlockClass, chain_forward, init_body
from resnet_dsl.codegen.torch_helpers import (
    HELPERS,
    NEEDS_FUNCTIONAL,
    NEEDS_MATH,
    activation_helper,
    helper_sources,
    needed,
)
from resnet_dsl.codegen.torch_names import variant_names
from resnet_dsl.codegen.torch_union import block_unions
from resnet_dsl.codegen.torch_views import (
    BLOCK_LOCALS,
    MODULE_NAMES,
    Call,
    ClassView,
    LayerSource,
    Method,
    TorchModuleView,
    call_lines,
    flat_call,
    torch_value,
)
from resnet_dsl.codegen.views import (
    classes_layer,
    default_value,
    doc_text,
    environment,
    fixed_parameters,
)
from resnet_dsl.language import ir
from resnet_dsl.network import model as nw
from resnet_dsl.network.expand import evaluate_defaults

TEMPLATE = "torch_model.py.jinja"

# ------------------------------------------------------------------ model --


def class_name(name: str, taken: set[str]) -> str:
    """`bottleneck_v1` -> `BottleneckV1`, `ResNeXt50_32x4d` as it is: a class name, distinct from
    everything taken."""
    return identifier(torch_layout.class_name(name), taken)


@dataclass(frozen=True)
class ModelClass:
    """The network's class: stem and head layers from their configs, stages of blocks."""

    network: nw.Network
    layout: torch_layout.Layout
    name: str
    block_classes: Mapping[tuple[str, str], str]
    """(block definition, instance name) -> its class: a call's `as` may give instances of several
    definitions one name (keras.applications' ConvNeXt downsamplings)."""
    blocks: Mapping[str, ir.BlockDef]
    """Each block the stages call -> the definition its class is made from (a derived block's base)."""
    param_idents: Mapping[str, Mapping[str, str]]
    classes_layer: str | None
    tree: torch_tree.Direct | None = None
    """The zoo's module tree, where the spec places every block whole (`torch_tree`)."""
    class_params: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    """A block class -> the parameters its `__init__` takes, where it takes fewer than the block's."""

    def build(self, helpers: set[str]) -> ClassView:
        network = self.network
        init = ["super().__init__()"]
        sources = {
            node.name: LayerSource(
                node, str(node.in_channels), {"units": "classes"} if node.name == self.classes_layer else {}
            )
            for node in (*self.layout.stem.nodes, *self.layout.head.nodes, *(self.tree.outside() if self.tree else ()))
        }
        if self.tree is not None:
            blocks = [
                [self.block_call(instance, scope) for instance, scope in zip(s.stage.blocks, s.blocks, strict=True)]
                for s in self.layout.stages
            ]
            made, forward = torch_tree.model_body(self.tree, blocks, sources, helpers)
            init += made
        else:
            for section, scope in (("stem", self.layout.stem), ("head", self.layout.head)):
                if section == "head":
                    init += self.stages(helpers)
                init += init_body(scope, sources, helpers, section)
            forward = chain_forward(self.layout.stem)
            forward += self.stages_forward()
            forward += chain_forward(self.layout.head)
        params = (
            ("self", f"classes: int = {py_value(dict(network.params)['classes'])}") if self.classes_layer else ("self",)
        )
        doc = [
            f"{doc_text(network.name)}: {network.total_params.trainable:,} parameters and "
            f"{torch_layout_buffers(network):,} buffer elements with the defaults.",
        ]
        methods = (
            Method("__init__", params, " -> None", (), tuple(init)),
            Method("forward", ("self", "x: torch.Tensor"), " -> torch.Tensor", (), (*forward, "return x")),
        )
        return ClassView(self.name, tuple(doc), methods)

    def stages(self, helpers: set[str]) -> list[str]:
        """Each stage's nn.Sequential of blocks, under a comment; where the spec places stages
        (`as "stages.0.blocks"`), the containers that hold them, made whole."""
        stages = [stage for stage in self.layout.stages if stage.blocks]
        if all("." not in stage.attribute for stage in stages):
            return self.plain_stages()
        tree: dict[str, Any] = {}
        for stage in stages:
            parts = stage.attribute.split(".")
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = self.stage_call(stage)
        lines = ["# stages " + ", ".join(escape(stage.stage.label) for stage in stages)]
        for top, subtree in tree.items():
            lines += call_lines(f"self.{top} = ", container_call(subtree, helpers), "", 8)
        return lines

    def stages_forward(self) -> list[str]:
        """`x = self.layer1(x)` per stage; one call of a container that runs exactly the stages,
        in order (timm's `self.stages(x)`)."""
        stages = [stage for stage in self.layout.stages if stage.blocks]
        tops = list(dict.fromkeys(stage.attribute.split(".")[0] for stage in stages))
        in_order = sorted(stages, key=lambda stage: [int(p) if p.isdigit() else p for p in stage.attribute.split(".")])
        if len(tops) == 1 and "." in stages[0].attribute and in_order == stages:
            return [f"x = self.{tops[0]}(x)"]
        return [f"x = self.{attribute_source(stage.attribute)}(x)" for stage in stages]

    def stage_call(self, stage: torch_layout.Stage) -> Call:
        items: list[tuple[str, str | Call]] = []
        instances = list(zip(stage.stage.blocks, stage.blocks, strict=True))
        for _, run in itertools.groupby(instances, key=lambda pair: self.run_key(*pair)):
            run = list(run)
            call = self.block_call(*run[0])
            items.append(("", call) if len(run) == 1 else ("", f"*({flat_call(call)} for _ in range({len(run)}))"))
        return Call("nn.Sequential", tuple(items))

    def block_call(self, instance: nw.BlockInstance, scope: torch_layout.Scope) -> Call:
        return Call(self.block_classes[instance.block, instance.name], self.block_args(instance, scope))

    def plain_stages(self) -> list[str]:
        lines = []
        for stage in self.layout.stages:
            if not stage.blocks:
                continue
            lines.append(f"# stage {escape(stage.stage.label)}")
            lines += call_lines(f"self.{stage.attribute} = ", self.stage_call(stage), "", 8)
        return lines

    def run_key(self, instance: nw.BlockInstance, scope: torch_layout.Scope) -> Any:
        return (
            self.block_classes[instance.block, instance.name],
            torch_value(instance.args),
            scope.nodes[0].in_channels if scope.nodes else 0,
        )

    def block_args(self, instance: nw.BlockInstance, scope: torch_layout.Scope) -> tuple[tuple[str, str], ...]:
        """`in_channels`, required parameters by position, the others by keyword where not the default."""
        block = self.blocks[instance.block]
        idents = self.param_idents[instance.block]
        values = dict(instance.args)
        channels = self.layers_in(instance) if self.tree is None else self.network.layer(scope.input).output_shape[-1]
        args = [("", str(channels))]
        bound: dict[str, Any] = {}
        by_keyword = False
        taken = self.class_params.get(self.block_classes[instance.block, instance.name])
        for param in block.params:
            value = values[param.name]
            if taken is not None and idents[param.name] not in taken:
                continue
            if param.default is None and not by_keyword:
                args.append(("", torch_value(value)))
            elif param.default is None or not same_value(value, default_value(param.default, bound)):
                args.append((idents[param.name], torch_value(value)))
                by_keyword = True
            else:
                by_keyword = True
            bound[param.name] = value
        return tuple(args)

    def layers_in(self, instance: nw.BlockInstance) -> int:
        first = self.network.layer(instance.layers[0])
        return self.network.layer(first.inputs[0]).output_shape[-1]


def container_call(tree: Any, helpers: set[str]) -> Call:
    """A container of stages as one call: nn.Sequential by index (nn.Identity where none is),
    `named(...)` by name; a stage itself as it is."""
    if isinstance(tree, Call):
        return tree
    if all(key.isdigit() for key in tree):
        items = tuple(
            ("", container_call(tree[str(i)], helpers) if str(i) in tree else Call("nn.Identity"))
            for i in range(max(int(key) for key in tree) + 1)
        )
        return Call("nn.Sequential", items)
    helpers.add("named")
    return Call("named", tuple((key, container_call(value, helpers)) for key, value in tree.items()))


def attribute_source(path: str) -> str:
    """`stages.0.blocks` -> `stages[0].blocks`: a module path as Python."""
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in path.split(".")).lstrip(".")


def torch_layout_buffers(network: nw.Network) -> int:
    from resnet_dsl.analysis.summary import torch_counts

    return torch_counts(network)["buffers"]


# -------------------------------------------------------------- rendering --


def module_view(network: nw.Network, source: str) -> TorchModuleView:
    """The typed view of the whole generated file."""
    layout = torch_layout.layout(network)
    tree = torch_tree.direct(layout)
    layout = tree.layout if tree is not None else layout
    defaults = evaluate_defaults(network.defaults, dict(network.params))
    layers = {layer.name: layer for layer in network.layers}
    kinds = {block.name: block.kind_def for block in network.blocks}  # a derived block: its base's class
    instances: dict[str, list[tuple[nw.BlockInstance, torch_layout.Scope]]] = {}
    for stage in layout.stages:
        for instance, scope in zip(stage.stage.blocks, stage.blocks, strict=True):
            instances.setdefault(kinds[instance.block].name, []).append((instance, scope))
    used = list({kinds[block.name].name: kinds[block.name] for block in network.blocks}.values())
    used = [block for block in used if instances.get(block.name)]
    taken = set(MODULE_NAMES) | set(HELPERS)
    network_class = class_name(network.name, taken)
    idents = {block.name: _param_identifiers(block) for block in kinds.values()}
    param_idents = {name: idents[block.name] for name, block in kinds.items()} | idents
    block_classes: dict[tuple[str, str], str] = {}
    class_params: dict[str, frozenset[str]] = {}
    helpers: set[str] = set()
    classes = []
    renamed: dict[str, str] = {}
    for block in used:
        pairs = instances[block.name]
        unions = block_unions(block, pairs, param_idents[block.name], layers, defaults, layout.stated.keys())
        names = variant_names(block.name, [union.scope for union in unions])
        for variant, union in zip(names, unions, strict=True):
            name = identifier(variant, taken)
            renamed.update(union.modules)
            block_classes.update(((instance.block, instance.name), name) for instance in union.instances)
            dicts = [parent for parent, kind in union.scope.containers if kind == "dict"]
            containers = {parent: class_name(f"{name}_{parent}", taken) for parent in dicts}
            builder = BlockClass(
                block, name, param_idents[block.name], union, layers, defaults, containers, tree is not None
            )
            made = builder.build(helpers)
            kept = frozenset(param.partition("=")[0] for param in made[-1].methods[0].params[2:])
            if len(kept) < len(param_idents[block.name]):
                class_params[name] = kept
            classes += made
    layout = _renamed(layout, renamed)
    tree = dataclasses.replace(tree, layout=layout) if tree is not None else None
    classes_layer = _classes_layer(network)
    model = ModelClass(
        network,
        layout,
        network_class,
        block_classes,
        kinds,
        param_idents,
        classes_layer,
        tree,
        class_params,
    ).build(helpers)
    classes.append(with_init_weights(model, layout, block_classes, helpers, tree))
    moves, parameters = layout.rehomed() if tree is None else ({}, ())
    if moves:
        helpers.add("rehome")
    helper_names = needed(helpers)
    texts = [helper_sources()[name] for name in helper_names]
    if "activation" in helpers:
        texts.append(activation_helper())
    function_imports, function_texts = function_preamble(functions_called(used))
    texts += function_texts
    imports = []
    if NEEDS_MATH & (set(helper_names) | helpers) or function_imports:
        imports.append("import math")
    if "OrderedDict" in helpers:  # torchvision's named containers (RegNet's `block1-0`)
        imports.append("from collections import OrderedDict")
    imports += ["", "import torch"] if imports else ["import torch"]
    if NEEDS_FUNCTIONAL & set(helper_names):
        imports.append("import torch.nn.functional as F")
    imports.append("from torch import nn")
    build = _build_model(network, network_class, classes_layer is not None, moves, parameters)
    return TorchModuleView(
        escape(__version__),
        escape(source),
        doc_text(network.name),
        tuple(imports),
        tuple(texts),
        tuple(classes),
        build,
        tree is not None,
    )


def with_init_weights(
    model: ClassView,
    layout: torch_layout.Layout,
    block_classes: Mapping[tuple[str, str], str],
    helpers: set[str],
    tree: torch_tree.Direct | None = None,
) -> ClassView:
    """The network's class with `init_weights`, which `__init__` calls last, as torchvision's
    constructor initialises last."""
    homes, before = (tree.homes, tree.before) if tree else (None, ())
    modules = torch_init.weighted_modules(layout, block_classes, helpers, homes, before)
    if not modules:
        return model
    counts = Counter(
        block_classes[instance.block, instance.name] for stage in layout.stages for instance in stage.stage.blocks
    )
    constructor, *others = model.methods
    constructor = replace(constructor, body=(*constructor.body, "self.init_weights()"))
    return replace(model, methods=(constructor, torch_init.init_weights(modules, counts), *others))


def _renamed(layout: torch_layout.Layout, modules: Mapping[str, str]) -> torch_layout.Layout:
    """The layout with each block module named as its class names it (`BlockClass`'s union)."""
    if not modules:
        return layout
    stages = tuple(
        dataclasses.replace(
            stage,
            blocks=tuple(
                dataclasses.replace(
                    scope,
                    nodes=tuple(dataclasses.replace(n, module=modules.get(n.name, n.module)) for n in scope.nodes),
                )
                for scope in stage.blocks
            ),
        )
        for stage in layout.stages
    )
    return dataclasses.replace(layout, stages=stages)


def _param_identifiers(block: ir.BlockDef) -> dict[str, str]:
    taken = set(BLOCK_LOCALS)
    return {param.name: identifier(param.name, taken) for param in block.params}


def _classes_layer(network: nw.Network) -> str | None:
    found = classes_layer(network)
    return found.name if found is not None else None


def _build_model(
    network: nw.Network,
    network_class: str,
    has_classes: bool,
    moves: dict[str, str],
    parameters: tuple[str, ...],
) -> Method:
    made = f"{network_class}(classes)" if has_classes else f"{network_class}()"
    body: tuple[str, ...] = (f"return {made}",)
    if moves:  # the paths the spec states: a zoo's state_dict keys (`torch_modules.rehome`)
        body = (
            "# where the spec places modules: built path -> the zoo's path",
            "paths = {",
            *(f"    {py_string(built)}: {py_string(path)}," for built, path in moves.items()),
            "}",
            *(("parameters = (", *(f"    {py_string(path)}," for path in parameters), ")") if parameters else ()),
            f"return rehome({made}, paths{', parameters' if parameters else ''})",
        )
    doc = (f"{doc_text(network.name)} as a torch module, in NCHW; {network.input_shape[-1]} input channels.",)
    if has_classes:
        classes = py_value(dict(network.params)["classes"])
        doc = (*doc, "", "Args:", "    classes: the number of classes.")
        return Method("build_model", (f"classes: int = {classes}",), " -> nn.Module", doc, body, indent=0)
    fixed = fixed_parameters(network, "classes")
    doc += ("", *fixed) if fixed else ()
    return Method("build_model", (), " -> nn.Module", doc, body, indent=0)


def render(network: nw.Network, source: str | None = None) -> str:
    """The generated torch module of a network; `source` names its spec in the header."""
    view = module_view(network, network.source if source is None else source)
    return environment().get_template(TEMPLATE).render(module=view)
