"""Network -> one standalone Python module that builds the same model with Keras alone.

The module reads like the seed notebook: one function per block definition the network
uses (`keras_blocks`, rendered symbolically from its `BlockDef`: `conv(filters[0], 1, stride=s)`
becomes `layers.Conv2D(filters[0], 1, strides=s, ...)`), then `build_model`, stage by stage,
from the expanded network (here). The typed views are in `keras_views` and `views`;
`templates/keras_model.py.jinja` lays every statement out, and the `fits` filter tells it when
a statement needs one argument per line, so the output is already what `ruff format` would write.

Everything in the output that comes from a spec goes through `resnet_dsl.pysource`: names
become identifiers that no keyword, builtin or generated local can shadow; strings are escaped
ASCII literals; the spec path appears only in an escaped comment.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from resnet_dsl import __version__
from resnet_dsl.codegen.keras_blocks import BlockBuilder
from resnet_dsl.codegen.keras_views import (
    HELPER_KINDS,
    Apply,
    Arg,
    Assign,
    Blank,
    Call,
    Comment,
    Function,
    Loop,
    ModuleView,
    Return,
    Statement,
    layer_from_config,
)
from resnet_dsl.codegen.pysource import (
    BLOCK_LOCALS,
    MODULE_NAMES,
    escape,
    function_preamble,
    functions_called,
    identifier,
    py_string,
    py_value,
    same_value,
)
from resnet_dsl.codegen.views import (
    FSTRING_TEXT,
    classes_layer,
    default_value,
    doc_text,
    environment,
    fixed_parameters,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming
from resnet_dsl.network.expand import (
    evaluate_defaults,
    layer_defaults,
)

TEMPLATE = "keras_model.py.jinja"


# ------------------------------------------------------------ model view --


@dataclass(frozen=True)
class ModelBuilder:
    """`build_model`: the input, the stem, each stage (a loop where blocks repeat), the head."""

    network: nw.Network
    blocks: Mapping[str, ir.BlockDef]
    block_idents: Mapping[str, str]
    param_idents: Mapping[str, Mapping[str, str]]

    def build(self) -> Function:
        network = self.network
        classes = self.classes_layer()
        fixed = fixed_parameters(network, "input", "classes")
        shape_fixed = any(line.startswith("input ") for line in fixed)
        signature = [] if shape_fixed else [Arg(py_value(network.input_shape), "input_shape")]
        doc = [
            f"{doc_text(network.name)}: {len(network.layers)} layers (the input included) "
            f"and {network.total_params.total:,} parameters with the defaults.",
        ]
        if signature or classes is not None:
            doc += ["", "Args:"]
        if signature:
            doc.append("    input_shape: the shape of one input, height x width x channels.")
        if classes is not None:
            signature.append(Arg(py_value(dict(network.params)["classes"]), "classes"))
            doc.append(f"    classes: the number of classes, the units of layer {escape(classes.name)}.")
        doc += ["", *fixed] if fixed else []
        shape = py_value(network.input_shape) if shape_fixed else "input_shape"
        names = (Arg(shape, "shape"), Arg(py_string(network.layers[0].name), "name"))
        body: list[Statement] = [Assign(4, "inputs", call=Call("keras.Input", names))]
        tensor = "inputs"
        covered = 1
        stem, tensor = self.section("stem", tensor, classes)
        body += stem
        for stage in (stage for stage in network.stages if stage.blocks):
            body += [Blank(0), Comment(4, f"stage {escape(stage.label)}")]
            statements, tensor = self.stage(stage, tensor)
            body += statements
            covered += sum(len(instance.layers) for instance in stage.blocks)
        head, tensor = self.section("head", tensor, classes)
        body += head
        covered += len(network.section("stem")) + len(network.section("head"))
        if covered != len(network.layers):
            raise ArchError(f"cannot generate code for '{network.name}': it has layers outside stem, stages and head")
        model = Call("keras.Model", (Arg("inputs"), Arg(tensor), Arg(py_string(network.name), "name")))
        return Function(Call("build_model", tuple(signature)), tuple(doc), (*body, Return(4, call=model)))

    def classes_layer(self) -> nw.Layer | None:
        return classes_layer(self.network)

    def section(self, section: str, tensor: str, classes: nw.Layer | None) -> tuple[list[Statement], str]:
        """The stem or the head: each layer from its config, in order."""
        layers = self.network.section(section)
        statements: list[Statement] = [Blank(0), Comment(4, section)] if layers else []
        shapes = {layer.name: layer.output_shape for layer in self.network.layers}
        for layer in layers:
            channels = shapes[layer.inputs[0]][-1] if layer.inputs else 0
            outputs = "classes" if layer is classes else None
            constructor, call_args = layer_from_config(layer.config, layer.name, channels, outputs)
            if layer is classes:
                constructor = Call(constructor.callee, (Arg("classes"), *constructor.args[1:]))
            statements.append(Apply(4, "x", constructor, (tensor,), False, call_args))
            tensor = "x"
        return statements, tensor

    def stage(self, stage: nw.StageInstance, tensor: str) -> tuple[list[Statement], str]:
        """One call per block; a run of identical blocks becomes a loop over their index."""
        runs: list[list[tuple[int, nw.BlockInstance]]] = []
        for index, instance in enumerate(stage.blocks, start=1):
            last = runs[-1][-1][1] if runs else None
            if last is not None and last.block == instance.block and same_value(last.args, instance.args):
                runs[-1].append((index, instance))
            else:
                runs.append([(index, instance)])
        statements: list[Statement] = []
        for run in runs:
            first_index, first = run[0]
            args = self.block_args(first)
            function = self.block_idents[first.block]
            prefix = loop_prefix(stage.label, run)
            if prefix is not None:
                if tensor != "x":  # the loop feeds each block the one before: start it from `x`
                    statements.append(Assign(4, "x", value=tensor))
                    tensor = "x"
                name = Arg(f'f"{prefix}{{index}}"', "name")
                call = Call(function, (Arg(tensor), *args, name))
                stop = first_index + len(run)
                statements.append(Loop(4, "index", first_index, stop, (Assign(8, "x", call=call),)))
                tensor = "x"
                continue
            for _, instance in run:
                call = Call(function, (Arg(tensor), *args, Arg(py_string(instance.name), "name")))
                statements.append(Assign(4, "x", call=call))
                tensor = "x"
        return statements, tensor

    def block_args(self, instance: nw.BlockInstance) -> list[Arg]:
        """Required parameters by position, then the others by keyword where not the default."""
        block = self.blocks[instance.block]
        idents = self.param_idents[instance.block]
        values = dict(instance.args)
        args: list[Arg] = []
        bound: dict[str, Any] = {}
        by_keyword = False
        for param in block.params:
            value = values[param.name]
            if param.default is None and not by_keyword:
                args.append(Arg(py_value(value)))
            elif param.default is None or not same_value(value, default_value(param.default, bound)):
                args.append(Arg(py_value(value), idents[param.name]))
                by_keyword = True
            else:
                by_keyword = True
            bound[param.name] = value
        return args


def loop_prefix(label: str, run: Sequence[tuple[int, nw.BlockInstance]]) -> str | None:
    """`conv2_block` when every block of the run is named that plus its index, as naming.py
    makes them (so a loop can name them with an f-string); else None."""
    if len(run) < 2:
        return None
    first_index = run[0][0]
    prefix = naming.block_prefix(label, first_index).removesuffix(str(first_index))
    for index, instance in run:
        if not naming.block_prefix(label, index) == prefix + str(index) == instance.name:
            return None
    return prefix if FSTRING_TEXT.match(prefix) else None


def module_view(network: nw.Network, source: str) -> ModuleView:
    """The typed view of the whole generated file."""
    for layer in network.layers:
        if isinstance(layer.config, nw.PoolConfig) and isinstance(layer.config.padding, tuple):
            raise ArchError(
                f"cannot generate Keras code for layer '{layer.name}': Keras's pools pad valid or same",
                layer.span,
                "an integer padding (-inf on each side) is torch's: generate --target torch",
            )
    defaults = evaluate_defaults(layer_defaults(network.defaults), dict(network.params))
    layers = {layer.name: layer for layer in network.layers}
    instances: dict[str, list[nw.BlockInstance]] = {}
    for stage in network.stages:
        for instance in stage.blocks:
            instances.setdefault(instance.block, []).append(instance)
    used = [block for block in network.blocks if instances.get(block.name)]
    taken = set(MODULE_NAMES)
    block_idents = {block.name: identifier(block.name, taken) for block in used}
    param_idents = {block.name: param_identifiers(block) for block in used}
    functions = [
        BlockBuilder(block, param_idents[block.name], instances[block.name], layers, defaults).build(
            block_idents[block.name]
        )
        for block in used
    ]
    model = ModelBuilder(network, {b.name: b for b in used}, block_idents, param_idents).build()
    imports, helpers = function_preamble(functions_called(used))
    kinds = {layer.kind for layer in network.layers}
    wanted = {HELPER_KINDS[kind] for kind in kinds if kind in HELPER_KINDS}
    if "kernel_fan_bias(" in repr((functions, model)):  # a call wrapped its bias initializer in it
        wanted.add("kernel_fan_bias")
    helpers += [text for name, text in layer_helpers().items() if name in wanted]
    return ModuleView(
        escape(__version__), escape(source), doc_text(network.name), (*functions, model), tuple(imports), tuple(helpers)
    )


@cache
def layer_helpers() -> dict[str, str]:
    """The source of each helper in `backends/keras_layers.py`, in its order, read as text
    (Keras is not imported)."""
    path = Path(__file__).parent.parent / "backends" / "keras_layers.py"
    text = path.read_text(encoding="utf-8")
    return {
        node.name: ast.get_source_segment(text, node) or ""
        for node in ast.parse(text).body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    }


def param_identifiers(block: ir.BlockDef) -> dict[str, str]:
    taken = set(BLOCK_LOCALS)
    return {param.name: identifier(param.name, taken) for param in block.params}


def render(network: nw.Network, source: str | None = None) -> str:
    """The generated module of a network; `source` names its spec in the header."""
    view = module_view(network, network.source if source is None else source)
    return environment().get_template(TEMPLATE).render(module=view)
