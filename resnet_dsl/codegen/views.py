"""What both generators share: the block walk, layer-name patterns, docstrings and line layout.

`BlockSteps` replays how the expander makes a block's layers (paths in order, their calls,
merges, the layers after them) as steps with name patterns, and checks every instance of the
block against them: the Keras target renders the steps as statements, the torch target reads
which call made each layer. The rest is text: docstrings from spec comments, values written
compactly, statements laid out as `ruff format` would at 88 columns, the jinja environment.
Neither target module imports the other; both import this one.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2

from resnet_dsl.codegen.pysource import (
    BLOCK_LOCALS,
    OR,
    Expressions,
    escape,
    free_names,
    identifier,
    py_string,
    py_value,
    same_value,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.resources import resource_dir
from resnet_dsl.network import model as nw
from resnet_dsl.network import naming, ops
from resnet_dsl.network.evaluate import condition, evaluate
from resnet_dsl.network.expand import (
    IN_CHANNELS,
    Defaults,
    block_env,
    count_merges,
    layer_config,
    merge_inputs,
    merge_refs,
    path_order,
)
from resnet_dsl.network.layer_calls import unit_marks
from resnet_dsl.review.formatter import merge_text

LINE_LENGTH = 88
"""Ruff's default width. Longer statements are written one argument per line with a
trailing comma, which ruff keeps at any width, so the output is stable at 88 and above."""

KERAS_KEYWORDS: dict[str, str] = {
    "kernel": "kernel_size",
    "stride": "strides",
    "dilation": "dilation_rate",
    "init": "kernel_initializer",
    "size": "pool_size",
    "function": "activation",
    "depthwise_init": "depthwise_initializer",
    "pointwise_init": "pointwise_initializer",
    "shape": "target_shape",
    "gamma_init": "gamma_initializer",
    "beta_init": "beta_initializer",
    "bias_init": "bias_initializer",
}
"""Op options (`ops.OPS`) whose Keras keyword differs; every other option keeps its name,
which is also its field in the typed config."""

KIND_KEYWORDS: dict[str, dict[str, str]] = {
    "depthwise_conv2d": {"init": "depthwise_initializer"},
    "upsample": {"size": "size"},
    "channelpad": {"channels": "padding"},
    "blur": {"size": "kernel_size"},
}
"""Where one kind of layer names an option otherwise than `KERAS_KEYWORDS` says."""


def keras_keyword(kind: str, option: str) -> str:
    """The Keras keyword (and config field) of an op option in a layer of this kind."""
    return KIND_KEYWORDS.get(kind, {}).get(option) or KERAS_KEYWORDS.get(option, option)


SUFFIX_OPTIONS: dict[str, str] = {"activation": "function"}
"""Ops whose name suffix is an option's value (`activation(gelu)` -> `..._gelu`), so a block
that passes it as a parameter names its layers at run time."""


def compact(value: Any) -> Any:
    """`(3, 3)` -> `3` and `((1, 1), (2, 2))` -> `(1, 2)`, which Keras expands back the same way."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) for v in value):
        value = tuple(compact(v) for v in value)
    if isinstance(value, tuple) and len(value) == 2 and same_value(value[0], value[1]):
        return value[0]
    return value


# ------------------------------------------------------------ layer names --

PREFIX = "\x00prefix\x00"
SUFFIX = "\x00suffix\x00"
"""Stand-ins that no layer name can hold (see `naming.VALID_NAME`): naming.py's functions
are called with them, and the f-string is cut where they land."""

FSTRING_TEXT = re.compile(r"[A-Za-z0-9_.\-]*\Z")
SIMPLE_EXPRESSION = re.compile(r"[A-Za-z0-9_\[\]() +\-*/.,]*\Z")
"""What may stand inside an f-string's braces in Python 3.11: no quotes, backslashes or braces."""


@dataclass(frozen=True)
class NamePattern:
    """A layer name inside a block function: the block's `name` prefix, fixed text and, for an
    activation passed as a parameter, that parameter's expression."""

    parts: tuple[str, ...]
    """`naming`'s result cut at the stand-ins: text, PREFIX or SUFFIX."""
    suffix: ir.Expr | None = None

    @classmethod
    def of(cls, name: str, suffix: ir.Expr | None = None) -> NamePattern:
        return cls(tuple(p for p in re.split(f"({PREFIX}|{SUFFIX})", name) if p), suffix)

    def resolve(self, prefix: str, env: Mapping[str, Any]) -> str:
        """The name this pattern gives in one block instance."""
        suffix = str(evaluate(self.suffix, env)) if self.suffix is not None else ""
        return "".join(prefix if p == PREFIX else suffix if p == SUFFIX else p for p in self.parts)

    def source(self, prefix: str, expressions: Expressions) -> str:
        """`f"{name}_1_conv"`; what cannot stand in an f-string is concatenated to it instead."""
        pieces: list[str] = []
        rest: list[str] = []
        for part in self.parts:
            if part == PREFIX:
                text, simple = prefix, True
            elif part == SUFFIX:
                assert self.suffix is not None
                text = expressions.source(self.suffix)
                simple = bool(SIMPLE_EXPRESSION.match(text))
            else:
                text, simple = part, bool(FSTRING_TEXT.match(part))
                if simple and not rest:
                    pieces.append(text)
                    continue
                text = py_string(text)
            if simple and not rest:
                pieces.append("{" + text + "}")
            else:
                rest.append(text)
        head = "".join(pieces)
        first = f'f"{head}"' if "{" in head else py_string(head)
        return " + ".join([first, *rest]) if head else " + ".join(rest)


# ----------------------------------------------------------- block views --


@dataclass(frozen=True)
class Step:
    """One layer of a block function: its call, name pattern and the conditions it needs
    (its path's, then its own), in the order the expander makes the layers."""

    call: ir.LayerCall | None
    """None for a merge."""
    pattern: NamePattern
    conditions: tuple[ir.Expr, ...]
    target: str
    sources: tuple[str, ...]
    merge: ir.Merge | None = None


@dataclass(frozen=True)
class BlockSteps:
    """The layers of one block definition as steps, checked against every instance of it."""

    block: ir.BlockDef
    idents: Mapping[str, str]
    """The block's parameters as Python identifiers."""
    instances: Sequence[nw.BlockInstance]
    layers: Mapping[str, nw.Layer]
    defaults: Defaults

    def steps(self) -> tuple[dict[str, str], list[Step], list[tuple[str, int, int, str, str]]]:
        """Every layer as `expand_block` makes it, with the variable it writes and reads.

        Returns the identifiers of the block's names (parameters, `in_channels`, values,
        paths), the steps, and the sections (a comment, the range of steps under it, the
        variable the section starts from, and the variable that keeps `x` before it, if any)."""
        block = self.block
        taken = set(BLOCK_LOCALS) | set(self.idents.values())
        names = dict(self.idents)
        names[IN_CHANNELS] = identifier(IN_CHANNELS, taken)
        for let in block.lets:
            names[let.name] = identifier(let.name, taken)
        order = path_order(block)
        # The tensor each name stands for: a path without layers is its source.
        tensor = {ir.INPUT: ir.INPUT}
        for path in order:
            has_layers = any(unit.layers for unit in path.units) or path.source_merge is not None
            tensor[path.name] = path.name if has_layers else tensor[block.source_of(path)]
        tensor.setdefault("shortcut", ir.INPUT)  # an omitted shortcut is the identity
        # Who reads each tensor, by position: a path (its index in `order`) or the merge (the end).
        readers: dict[str, list[tuple[int, str]]] = {}
        for index, path in enumerate(order):
            for source in dict.fromkeys(tensor[s] for s in block.sources_of(path)):
                readers.setdefault(source, []).append((index, path.name))
        choosers = {path.name for path in block.paths if path.source_else is not None}
        for ref in merge_refs(block.merge):
            readers.setdefault(tensor[ref.path], []).append((len(order), ref.path))

        # `x` carries the input, then pre and main (as the seed's code does); a tensor still
        # needed once `x` moves on is kept first, as `shortcut` where only the shortcut reads it.
        variables = {ir.INPUT: "x"}
        in_x = ir.INPUT
        steps: list[Step] = []
        sections: list[tuple[str, int, int, str, str]] = []
        for index, path in enumerate(order):
            calls = [
                (i, unit, call, mark)
                for i, unit in enumerate(path.units)
                for call, mark in zip(unit.layers, unit_marks(unit.layers), strict=True)
            ]
            if not calls and path.source_merge is None:
                continue
            keep = ""
            source = "" if path.source_merge is not None else variables[tensor[block.source_of(path)]]
            if path.source_if is not None and path.source_else is not None:
                test = Expressions(names).source(path.source_if, OR)
                source = f"{source} if {test} else {variables[tensor[path.source_else]]}"
            if path.name in ("pre", "main"):
                target = "x"
                later = [
                    name for at, name in readers.get(in_x, []) if at > index or (at == index and name != path.name)
                ]
                if later:
                    # a shortcut that chooses its source reads two tensors: each keeps its own name
                    only_shortcut = all(name == "shortcut" and name not in choosers for name in later)
                    keep = "shortcut" if only_shortcut else "inputs" if in_x == ir.INPUT else "preact"
                    variables[in_x] = keep
                in_x = path.name
            else:
                target = "shortcut" if path.name == "shortcut" else identifier(path.name, taken)
            variables[path.name] = target
            first = len(steps)
            if path.source_merge is not None:  # `project from multiply(main, se)`: the merge first
                merge = path.source_merge
                sources = tuple(variables[tensor[ref.path]] for ref in merge_refs(merge))
                pattern = NamePattern.of(naming.source_merge_name(PREFIX, path.name, merge))
                steps.append(Step(None, pattern, (), target, sources, merge))
            for i, unit, call, mark in calls:
                label = naming.unit_label(path.name, i, unit.label)
                suffix, expr = self.suffix(call)
                own = naming.own_name(call.name)
                name = naming.join(PREFIX, own) if own else naming.join(PREFIX, label, suffix + mark)
                conditions = tuple(c for c in (path.condition, call.condition) if c is not None)
                steps.append(Step(call, NamePattern.of(name, expr), conditions, target, (target,)))
            sections.append((path.name, first, len(steps), source, keep))
        for name, value in tensor.items():
            variables.setdefault(name, variables[value])

        first = len(steps)
        counter = iter(range(1, count_merges(block.merge)))

        def merged(merge: ir.Merge, top: bool) -> str:
            sources = tuple(
                variables[item.path] if isinstance(item, ir.PathRef) else merged(item, False)
                for item in merge_inputs(merge)
            )
            op = ops.lookup(merge.op)
            assert op is not None  # the network was expanded
            if top:
                name = (
                    naming.join(PREFIX, merge.name)
                    if merge.name
                    else naming.out_name(PREFIX, op.suffix({}), not block.after)
                )
                target = "x"
            else:
                name = naming.nested_merge_name(PREFIX, op.suffix({}), next(counter))
                target = identifier(f"{op.name}_{name.rsplit('_', 1)[-1]}", taken)
            conditions = (merge.condition,) if top and merge.condition is not None else ()
            steps.append(Step(None, NamePattern.of(name), conditions, target, sources, merge))
            return target

        merged(block.merge, True)
        for position, (call, mark) in enumerate(zip(block.after, unit_marks(block.after), strict=True)):
            suffix, expr = self.suffix(call)
            is_last = position == len(block.after) - 1
            own = naming.own_name(call.name)
            name = naming.join(PREFIX, own) if own else naming.out_name(PREFIX, suffix + mark, is_last)
            conditions = (call.condition,) if call.condition is not None else ()
            steps.append(Step(call, NamePattern.of(name, expr), conditions, "x", ("x",)))
        sections.append(("out", first, len(steps), "", ""))
        return names, steps, sections

    def suffix(self, call: ir.LayerCall) -> tuple[str, ir.Expr | None]:
        """A layer's name suffix: fixed, or the expression of the parameter it comes from."""
        op = ops.lookup(call.op)
        assert op is not None  # the network was expanded
        option = SUFFIX_OPTIONS.get(op.name)
        for position, arg in enumerate(call.args):
            named = arg.name or op.options[position].name
            if named == option:
                if not self.idents.keys().isdisjoint(free_names(arg.value)):
                    return SUFFIX, arg.value
                return str(evaluate(arg.value, {})), None
        return op.suffix(ops.bind(op, {})) if op.name != "activation" else "activation", None

    def instance_env(self, instance: nw.BlockInstance) -> dict[str, Any]:
        return block_env(self.block, dict(instance.args), instance.input_shape[-1])

    def check_names(self, steps: Sequence[Step]) -> list[str]:
        """Every instance must get exactly the names the function makes, in the IR's order;
        returns each step's layer kind (from an instance that has the layer)."""
        kinds: list[str | None] = [None] * len(steps)
        for instance in self.instances:
            env = self.instance_env(instance)
            present = [all(condition(c, env) for c in step.conditions) for step in steps]
            names = [step.pattern.resolve(instance.name, env) for step in steps]
            if tuple(n for n, keep in zip(names, present, strict=True) if keep) != instance.layers:
                raise ArchError(
                    f"cannot generate code for block '{self.block.name}': the layer names of "
                    f"{instance.name} do not follow from its parameters",
                    self.block.span,
                )
            for index, (name, keep) in enumerate(zip(names, present, strict=True)):
                if keep and kinds[index] is None:
                    kinds[index] = self.layers[name].kind
        env = self.instance_env(self.instances[0])
        for index, step in enumerate(steps):
            if kinds[index] is None:  # no instance has this layer: its kind from its op
                if step.call is None:  # a conditional merge no instance makes
                    assert step.merge is not None
                    kinds[index] = step.merge.op
                else:
                    kinds[index] = layer_config(step.call, env, self.defaults)[1].kind
        return [kind for kind in kinds if kind is not None]


def doc_text(text: str) -> str:
    """Spec text for a docstring: printable ASCII, its quotes escaped so none can close it."""
    return escape(text, '"')


DOC_WIDTH = 84
"""Docstring text, indented 4 in the module, stays within ruff's default 88 columns."""


def wrap(text: str, indent: str = "", hanging: str = "") -> list[str]:
    return textwrap.wrap(text, DOC_WIDTH, initial_indent=indent, subsequent_indent=hanging or indent) or [indent]


def arg_doc(ident: str, what: str, default: str) -> list[str]:
    """`    filters: the bottleneck width (required).`, wrapped: the spec's doc of a parameter,
    then whether it is required or what its default is."""
    text = f"{ident}: {what} ({default})." if what else f"{ident}: {default}."
    return wrap(text, "    ", "        ")


def block_summary(block: ir.BlockDef) -> list[str]:
    """The comment above a block's definition, or else what its paths are."""
    if block.doc.text:
        return wrap(doc_text(block.doc.text))
    paths = [p.name for p in block.paths if p.units]
    listed = " and ".join(doc_text(p) for p in paths) if len(paths) < 3 else ", ".join(map(doc_text, paths))
    merge = doc_text(merge_text(block.merge))
    noun = "path" if len(paths) == 1 else "paths"
    return [f"The `{doc_text(block.name)}` block: {noun} {listed}, merged by {merge}."]


def docstring_safe(text: str) -> bool:
    """Short and free of quotes and backslashes, so it can be shown in a docstring as it is."""
    return '"' not in text and "\\" not in text and len(text) <= 50


# ------------------------------------------------------------ the model --


def classes_layer(network: nw.Network) -> nw.Layer | None:
    """The layer `classes` sets: the last stem or head dense layer whose units are written `classes`.

    None where the spec also computes something else from `classes` (`width = classes * 2`, a
    condition, a block's argument): generated code takes as arguments only values it can apply
    as the spec would, so `build_model(classes=20)` never builds what `--set classes=20` does not."""
    definition = network.definition
    if definition is None or "classes" not in dict(network.params) or uses(definition, "classes") > 1:
        return None
    found = None
    for section, units in (("stem", definition.stem), ("head", definition.head)):
        env = dict(network.params)  # a layer whose condition is false was left out: so are its calls here
        calls = [
            call for unit in units for call in unit.layers if call.condition is None or condition(call.condition, env)
        ]
        for layer, call in zip(network.section(section), calls, strict=True):
            if isinstance(layer.config, nw.DenseConfig) and _units_argument(call) == ir.Name(id="classes"):
                found = layer
    return found


def uses(definition: ir.NetworkDef, name: str) -> int:
    """How often a network's expressions name `name`: parameter defaults, defaults, the stem's
    and head's arguments and conditions, the stages' arguments and repeats."""
    calls = [call for units in (definition.stem, definition.head) for unit in units for call in unit.layers]
    expressions = [param.default for param in definition.params if param.default is not None]
    for call in (*definition.defaults, *calls):
        expressions += [arg.value for arg in call.args] + ([call.condition] if call.condition is not None else [])
    for call in (call for stage in definition.stages for call in stage.calls):
        expressions += [arg.value for arg in call.args] + ([call.repeat] if call.repeat is not None else [])
    return sum(found == name for expr in expressions for found in free_names(expr))


def fixed_parameters(network: nw.Network, *names: str) -> list[str]:
    """Docstring lines for the parameters among `names` that generated code cannot take as
    arguments, because the spec computes other values from them."""
    definition = network.definition
    if definition is None:
        return []
    fixed = [name for name in names if name in dict(network.params) and uses(definition, name)]
    fixed = [name for name in fixed if name != "classes" or classes_layer(network) is None]
    lines = []
    for name in fixed:
        lines += [
            f"{name} is fixed at {py_value(dict(network.params)[name])}: the spec computes other values from it;",
            f"generate again with --set {name}=... for another value.",
        ]
    return lines


def _units_argument(call: ir.LayerCall) -> ir.Expr | None:
    """The expression a dense call gives for `units`, by position or by name."""
    for position, arg in enumerate(call.args):
        if arg.name == "units" or (arg.name is None and position == 0):
            return arg.value
    return None


def default_value(expr: ir.Expr, bound: Mapping[str, Any]) -> Any:
    """A parameter's default as the expander computes it; a marker if it cannot be computed."""
    try:
        return evaluate(expr, bound)
    except ArchError:
        return NO_VALUE


NO_VALUE = object()


# ------------------------------------------------------------- rendering --


def fits(line: str, indent: int) -> bool:
    """Whether a statement written on one line stays within `LINE_LENGTH` columns."""
    return "\n" not in line and indent + len(line) <= LINE_LENGTH


def wrapped(text: str, indent: int) -> str:
    """`text` (an argument, or `name = value`) starting at column `indent`, its call split
    one argument per line with a trailing comma when it is too long for its line: the form
    `ruff format` keeps at any line length (the trailing comma holds it open). Lines after
    the first are relative to `indent`."""
    if indent + len(text) + 1 <= LINE_LENGTH or not text.endswith(")"):  # + 1: the comma after it
        return text
    items, depth, start, opening = [], 0, 0, -1
    for position, char in enumerate(text):  # values are numbers, names and operators: no strings
        if char in "([":
            depth += 1
            if depth == 1 and opening < 0:
                opening = start = position + 1
        elif char in ")]":
            depth -= 1
            if depth == 0 and position != len(text) - 1:
                return text  # the last parenthesis does not close the first call: leave it whole
        elif char == "," and depth == 1:
            items.append(text[start:position].strip())
            start = position + 1
    if opening < 0:
        return text
    items.append(text[start:-1].strip())
    items = [wrapped(item, indent + 4).replace("\n", "\n    ") for item in items if item]  # a call in a call too
    head = text[:opening]
    if not items:
        return text
    return head + "\n" + "".join(f"    {item},\n" for item in items) + ")"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["fits"] = fits
    env.filters["wrapped"] = wrapped
    return env
