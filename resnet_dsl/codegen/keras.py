"""Network -> one standalone Python module that builds the same model with Keras alone.

The module reads like the seed notebook: one function per block definition the network
uses, rendered symbolically from its `BlockDef` (`conv(filters[0], 1, stride=s)` becomes
`layers.Conv2D(filters[0], 1, strides=s, ...)`), then `build_model`, stage by stage, from
the expanded network. This file turns the IR into typed views (identifiers, single
expressions, layer names); `templates/keras_model.py.jinja` lays every statement out, and
the `fits` filter tells it when a statement needs one argument per line, so the output is
already what `ruff format` would write.

Everything in the output that comes from a spec goes through `resnet_dsl.pysource`: names
become identifiers that no keyword, builtin or generated local can shadow; strings are escaped
ASCII literals; the spec path appears only in an escaped comment.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, ClassVar

import jinja2

from resnet_dsl import __version__
from resnet_dsl.codegen.pysource import (
    AND,
    BLOCK_LOCALS,
    MODULE_NAMES,
    Expressions,
    escape,
    free_names,
    has_call,
    identifier,
    py_string,
    py_value,
    same_value,
    unseeded,
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
    evaluate_defaults,
    layer_config,
    layer_defaults,
    merge_inputs,
    merge_refs,
    path_order,
    unit_marks,
)
from resnet_dsl.review.formatter import merge_text

LINE_LENGTH = 88
"""Ruff's default width. Longer statements are written one argument per line with a
trailing comma, which ruff keeps at any width, so the output is stable at 88 and above."""

TEMPLATE = "keras_model.py.jinja"

# ------------------------------------------------------------ Keras tables --

KERAS_CLASSES: dict[str, str] = {
    "conv2d": "Conv2D",
    "batchnorm": "BatchNormalization",
    "activation": "Activation",
    "zeropad": "ZeroPadding2D",
    "channelpad": "ZeroPadding2D",
    "subsample": "MaxPooling2D",
    "upsample": "UpSampling2D",
    "depthwise_conv2d": "DepthwiseConv2D",
    "separable_conv2d": "SeparableConv2D",
    "groupnorm": "GroupNormalization",
    "layernorm": "LayerNormalization",
    "reshape": "Reshape",
    "maxpool": "MaxPooling2D",
    "avgpool": "AveragePooling2D",
    "global_avgpool": "GlobalAveragePooling2D",
    "global_maxpool": "GlobalMaxPooling2D",
    "flatten": "Flatten",
    "dense": "Dense",
    "dropout": "Dropout",
    "add": "Add",
    "multiply": "Multiply",
    "concat": "Concatenate",
}
"""The `keras.layers` class of each config kind (`network.LayerConfig`'s discriminator)."""

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
}
"""Op options (`ops.OPS`) whose Keras keyword differs; every other option keeps its name,
which is also its field in the typed config."""

KIND_KEYWORDS: dict[str, dict[str, str]] = {
    "depthwise_conv2d": {"init": "depthwise_initializer"},
    "upsample": {"size": "size"},
    "channelpad": {"channels": "padding"},
}
"""Where one kind of layer names an option otherwise than `KERAS_KEYWORDS` says."""


def keras_keyword(kind: str, option: str) -> str:
    """The Keras keyword (and config field) of an op option in a layer of this kind."""
    return KIND_KEYWORDS.get(kind, {}).get(option) or KERAS_KEYWORDS.get(option, option)


def _channelpad_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    return Arg(f"((0, 0), {sources['channels']})"), Arg('"channels_first"', "data_format")


def _subsample_args(sources: Mapping[str, str]) -> tuple[Arg, ...]:
    return Arg("1"), Arg(sources["stride"], "strides")


CUSTOM_ARGS: dict[str, Callable[[Mapping[str, str]], tuple[Arg, ...]]] = {
    "channelpad": _channelpad_args,
    "subsample": _subsample_args,
}
"""Kinds whose Keras arguments are not their options one for one (see `network.py`'s configs):
the arguments from the options' source, by option name."""

CALL_KEYWORDS = frozenset({"training"})
"""Options passed when the layer is called, as the seed does: `BatchNormalization()(x, training=True)`."""

POSITIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "conv2d": ("filters", "kernel_size"),
    "dense": ("units",),
    "activation": ("activation",),
    "zeropad": ("padding",),
    "channelpad": ("padding",),
    "subsample": ("pool_size",),
    "upsample": ("size",),
    "depthwise_conv2d": ("kernel_size",),
    "separable_conv2d": ("filters", "kernel_size"),
    "groupnorm": ("groups",),
    "reshape": ("target_shape",),
    "maxpool": ("pool_size",),
    "avgpool": ("pool_size",),
    "dropout": ("rate",),
}
"""Config fields written by position when a layer is rendered from its config; each is
the leading parameter of its Keras class, in this order."""

SUFFIX_OPTIONS: dict[str, str] = {"activation": "function"}
"""Ops whose name suffix is an option's value (`activation(gelu)` -> `..._gelu`), so a block
that passes it as a parameter names its layers at run time."""

# ------------------------------------------------------------------ views --


@dataclass(frozen=True)
class Arg:
    """One argument (or parameter) as source: `value`, or `keyword=value`."""

    value: str
    keyword: str = ""


@dataclass(frozen=True)
class Call:
    callee: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Statement:
    kind: ClassVar[str]
    indent: int
    """Columns in front of the statement, so the template can tell whether it fits a line."""


@dataclass(frozen=True)
class Comment(Statement):
    kind: ClassVar[str] = "comment"
    text: str


@dataclass(frozen=True)
class Blank(Statement):
    kind: ClassVar[str] = "blank"


@dataclass(frozen=True)
class Assign(Statement):
    """`target = value`, or `target = call` when `call` is given."""

    kind: ClassVar[str] = "assign"
    target: str
    value: str = ""
    call: Call | None = None


@dataclass(frozen=True)
class Default(Statement):
    """`if ident is None: ident = value`: a default that is computed, or sees earlier parameters."""

    kind: ClassVar[str] = "default"
    ident: str
    value: str


@dataclass(frozen=True)
class Apply(Statement):
    """`target = layers.X(...)(inputs, training=...)`: make a layer and call it."""

    kind: ClassVar[str] = "apply"
    target: str
    layer: Call
    inputs: tuple[str, ...]
    as_list: bool
    call_args: tuple[Arg, ...] = ()


@dataclass(frozen=True)
class Loop(Statement):
    kind: ClassVar[str] = "loop"
    variable: str
    start: int
    stop: int
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class If(Statement):
    """`if test:` and its statements."""

    kind: ClassVar[str] = "if"
    test: str
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class Return(Statement):
    kind: ClassVar[str] = "return"
    value: str = ""
    call: Call | None = None


@dataclass(frozen=True)
class Function:
    """A `def`: its signature as a call of parameters, its docstring lines and its body."""

    signature: Call
    doc: tuple[str, ...]
    body: tuple[Statement, ...]


@dataclass(frozen=True)
class ModuleView:
    """What the template renders: the whole generated file."""

    version: str
    source: str
    network: str
    functions: tuple[Function, ...]


# ---------------------------------------------------------- layer calls --


def layer_from_config(config: nw.LayerConfig, name: str) -> tuple[Call, tuple[Arg, ...]]:
    """A layer of the stem or head from its typed config, leaving out what Keras defaults to.

    Config fields are Keras's keywords and their defaults Keras's (the equivalence tests
    hold both to that), so an omitted setting means the same layer.
    """
    positional = POSITIONAL_FIELDS.get(config.kind, ())
    args = [Arg(py_value(compact(getattr(config, name_)))) for name_ in positional]
    call_args = []
    for name_, info in type(config).model_fields.items():
        value = getattr(config, name_)
        if name_ == "kind" or name_ in positional or (not info.is_required() and value == info.default):
            continue
        arg = Arg(py_value(compact(value)), name_)
        (call_args if name_ in CALL_KEYWORDS else args).append(arg)
    args.append(Arg(py_string(name), "name"))
    return Call(f"layers.{KERAS_CLASSES[config.kind]}", tuple(args)), tuple(call_args)


def compact(value: Any) -> Any:
    """`(3, 3)` -> `3` and `((1, 1), (2, 2))` -> `(1, 2)`, which Keras expands back the same way."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, tuple) for v in value):
        value = tuple(compact(v) for v in value)
    if isinstance(value, tuple) and len(value) == 2 and same_value(value[0], value[1]):
        return value[0]
    return value


@dataclass(frozen=True)
class LayerRenderer:
    """Renders the layer calls of one block definition symbolically, network defaults baked in."""

    expressions: Expressions
    defaults: Defaults
    clone: frozenset[str]
    """Spec names of the parameters whose initializers every layer must copy (see `unseeded`)."""

    def call(self, call: ir.LayerCall, kind: str, name: str) -> tuple[Call, tuple[Arg, ...]]:
        op = ops.lookup(call.op)
        assert op is not None  # the network was expanded, so every op is known
        positional: list[Arg] = []
        if kind == "activation" and not op.options:  # `relu` is `activation(relu)`
            positional.append(Arg(py_string(op.name)))
        keywords: dict[str, Arg] = {}
        sources: dict[str, str] = {}
        for position, arg in enumerate(call.args):
            option = arg.name or op.options[position].name
            source = sources[option] = self.value(op, option, arg.value)
            if arg.name is None:
                positional.append(Arg(source))
            else:
                keywords[option] = Arg(source, keras_keyword(kind, option))
        for option, value in self.defaults.get(op.name, {}).items():
            if option not in sources:
                keywords[option] = Arg(py_value(value), keras_keyword(kind, option))
                sources[option] = py_value(value)
        if kind in CUSTOM_ARGS:
            return Call(f"layers.{KERAS_CLASSES[kind]}", (*CUSTOM_ARGS[kind](sources), Arg(name, "name"))), ()
        ordered = [keywords[o.name] for o in op.options if o.name in keywords]
        args = [*positional, *(a for a in ordered if a.keyword not in CALL_KEYWORDS), Arg(name, "name")]
        call_args = tuple(a for a in ordered if a.keyword in CALL_KEYWORDS)
        return Call(f"layers.{KERAS_CLASSES[kind]}", tuple(args)), call_args

    def value(self, op: ops.Op, option: str, expr: ir.Expr) -> str:
        source = self.expressions.source(expr)
        spec = op.option(option)
        if spec is not None and spec.convert is ops.initializer and not self.clone.isdisjoint(free_names(expr)):
            return f"keras.initializers.get({source}).clone()"
        return source


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
class BlockBuilder:
    """The function of one block definition, checked against every instance of it."""

    block: ir.BlockDef
    idents: Mapping[str, str]
    """The block's parameters as Python identifiers."""
    instances: Sequence[nw.BlockInstance]
    layers: Mapping[str, nw.Layer]
    defaults: Defaults

    def build(self, ident: str) -> Function:
        names, steps, sections = self.steps()
        kinds = self.check_names(steps)
        params, doc, defaults = self.signature()
        body = [*defaults, *self.values(names), *self.body(steps, sections, kinds, names), Return(4, "x")]
        return Function(Call(ident, tuple(params)), tuple(doc), tuple(body))

    # -- signature and docstring --

    def signature(self) -> tuple[list[Arg], list[str], list[Statement]]:
        """Python defaults where the spec's are constants; `None` where they are computed
        (an initializer, or an expression of earlier parameters) or follow such a one."""
        params = [Arg("x")]
        doc = [*self.summary(), "", "Args:", "    x: the input tensor."]
        defaults: list[Statement] = []
        visible: dict[str, str] = {}
        optional = False
        for param in self.block.params:
            ident = self.idents[param.name]
            note = f" (`{doc_text(param.name)}` in the spec)" if ident != param.name else ""
            what = doc_text(param.doc.text.rstrip("."))
            if param.default is None:
                params.append(Arg("None", ident) if optional else Arg(ident))
                doc += arg_doc(ident, what, f"required{note}")
            elif has_call(param.default) or not visible.keys().isdisjoint(free_names(param.default)):
                value = Expressions(dict(visible)).source(param.default)
                params.append(Arg("None", ident))
                defaults.append(Default(4, ident, value))
                shown = f"`{value}`" if docstring_safe(value) else "the spec's default"
                doc += arg_doc(ident, what, f"None means {shown}{note}")
                optional = True
            else:
                value = Expressions({}).source(param.default)
                params.append(Arg(value, ident))
                doc += arg_doc(ident, what, f"{f'{value} by default' if docstring_safe(value) else 'optional'}{note}")
                optional = True
            visible[param.name] = ident
        doc.append(f'    name: the prefix of the layer names, e.g. "{self.instances[0].name}".')
        return [*params, Arg("*"), Arg("name")], doc, defaults

    def summary(self) -> list[str]:
        """The comment above the block's definition, or else what its paths are."""
        block = self.block
        if block.doc.text:
            return wrap(doc_text(block.doc.text))
        paths = [p.name for p in block.paths if p.units]
        listed = " and ".join(doc_text(p) for p in paths) if len(paths) < 3 else ", ".join(map(doc_text, paths))
        merge = doc_text(merge_text(block.merge))
        noun = "path" if len(paths) == 1 else "paths"
        return [f"The `{doc_text(block.name)}` block: {noun} {listed}, merged by {merge}."]

    # -- names, steps and checks --

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
            has_layers = any(unit.layers for unit in path.units)
            tensor[path.name] = path.name if has_layers else tensor[block.source_of(path)]
        tensor.setdefault("shortcut", ir.INPUT)  # an omitted shortcut is the identity
        # Who reads each tensor, by position: a path (its index in `order`) or the merge (the end).
        readers: dict[str, list[tuple[int, str]]] = {}
        for index, path in enumerate(order):
            readers.setdefault(tensor[block.source_of(path)], []).append((index, path.name))
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
            if not calls:
                continue
            keep = ""
            source = variables[tensor[block.source_of(path)]]
            if path.name in ("pre", "main"):
                target = "x"
                later = [
                    name for at, name in readers.get(in_x, []) if at > index or (at == index and name != path.name)
                ]
                if later:
                    only_shortcut = all(name == "shortcut" for name in later)
                    keep = "shortcut" if only_shortcut else "inputs" if in_x == ir.INPUT else "preact"
                    variables[in_x] = keep
                in_x = path.name
            else:
                target = "shortcut" if path.name == "shortcut" else identifier(path.name, taken)
            variables[path.name] = target
            first = len(steps)
            for i, unit, call, mark in calls:
                label = naming.unit_label(path.name, i, unit.label)
                suffix, expr = self.suffix(call)
                name = naming.join(PREFIX, call.name) if call.name else naming.join(PREFIX, label, suffix + mark)
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
            steps.append(Step(None, NamePattern.of(name), (), target, sources, merge))
            return target

        merged(block.merge, True)
        for position, (call, mark) in enumerate(zip(block.after, unit_marks(block.after), strict=True)):
            suffix, expr = self.suffix(call)
            is_last = position == len(block.after) - 1
            name = naming.join(PREFIX, call.name) if call.name else naming.out_name(PREFIX, suffix + mark, is_last)
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
                assert step.call is not None  # merges are always made
                kinds[index] = layer_config(step.call, env, self.defaults)[1].kind
        return [kind for kind in kinds if kind is not None]

    # -- body --

    def values(self, names: Mapping[str, str]) -> list[Statement]:
        """`in_channels = x.shape[-1]` where the block reads it, then the block's values."""
        block = self.block
        exprs = (
            [let.value for let in block.lets]
            + [
                e
                for path in block.paths
                for e in (
                    path.condition,
                    *(c.condition for u in path.units for c in u.layers),
                    *(a.value for u in path.units for c in u.layers for a in c.args),
                )
                if e is not None
            ]
            + [e for c in block.after for e in (c.condition, *(a.value for a in c.args)) if e is not None]
        )
        statements: list[Statement] = []
        if any(IN_CHANNELS in free_names(e) for e in exprs) and IN_CHANNELS not in self.idents:
            statements.append(Assign(4, names[IN_CHANNELS], "x.shape[-1]"))
        for let in block.lets:
            statements.append(Assign(4, names[let.name], Expressions(names).source(let.value)))
        return statements

    def body(
        self,
        steps: Sequence[Step],
        sections: Sequence[tuple[str, int, int, str, str]],
        kinds: Sequence[str],
        names: Mapping[str, str],
    ) -> list[Statement]:
        """Each path under a comment, then the merges and what follows them; a layer or path
        that has a condition under an `if`."""
        expressions = Expressions(names)
        renderer = LayerRenderer(expressions, self.defaults, self.clone())
        statements: list[Statement] = []
        for title, first, stop, source, keep in sections:
            if keep:
                statements.append(Assign(4, keep, "x"))
            statements.append(Comment(4, doc_text(title)))
            group = list(steps[first:stop])
            if source and any(step.conditions for step in group):
                if source != group[0].target:
                    statements.append(Assign(4, group[0].target, source))
            elif source:
                group[0] = replace(group[0], sources=(source,))
            index = 0
            while index < len(group):
                conditions = group[index].conditions
                run = [group[index]]
                while index + len(run) < len(group) and group[index + len(run)].conditions == conditions:
                    run.append(group[index + len(run)])
                indent = 8 if conditions else 4
                applied = [
                    self.apply(step, kinds[first + index + k], renderer, expressions, indent)
                    for k, step in enumerate(run)
                ]
                if conditions:
                    test = " and ".join(expressions.source(c, AND) for c in conditions)
                    statements.append(If(4, test, tuple(applied)))
                else:
                    statements += applied
                index += len(run)
        return statements

    def apply(self, step: Step, kind: str, renderer: LayerRenderer, expressions: Expressions, indent: int) -> Apply:
        name = step.pattern.source("name", expressions)
        if step.call is None:
            layer = Call(f"layers.{KERAS_CLASSES[kind]}", (Arg(name, "name"),))
            return Apply(indent, step.target, layer, step.sources, True)
        layer, call_args = renderer.call(step.call, kind, name)
        return Apply(indent, step.target, layer, step.sources[:1], False, call_args)

    def clone(self) -> frozenset[str]:
        return frozenset(name for i in self.instances for name, value in i.args if unseeded(value))


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


def docstring_safe(text: str) -> bool:
    """Short and free of quotes and backslashes, so it can be shown in a docstring as it is."""
    return '"' not in text and "\\" not in text and len(text) <= 50


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
        signature = [Arg(py_value(network.input_shape), "input_shape")]
        doc = [
            f"{doc_text(network.name)}: {len(network.layers)} layers (the input included) "
            f"and {network.total_params.total:,} parameters with the defaults.",
            "",
            "Args:",
            "    input_shape: the shape of one input, height x width x channels.",
        ]
        if classes is not None:
            signature.append(Arg(py_value(dict(network.params)["classes"]), "classes"))
            doc.append(f"    classes: the number of classes, the units of layer {escape(classes.name)}.")
        names = (Arg("input_shape", "shape"), Arg(py_string(network.layers[0].name), "name"))
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
        """The layer `classes` sets: the last stem or head dense layer whose units are written `classes`."""
        definition = self.network.definition
        if definition is None or "classes" not in dict(self.network.params):
            return None
        found = None
        for section, units in (("stem", definition.stem), ("head", definition.head)):
            calls = [call for unit in units for call in unit.layers]
            for layer, call in zip(self.network.section(section), calls, strict=True):
                if isinstance(layer.config, nw.DenseConfig) and _units_argument(call) == ir.Name(id="classes"):
                    found = layer
        return found

    def section(self, section: str, tensor: str, classes: nw.Layer | None) -> tuple[list[Statement], str]:
        """The stem or the head: each layer from its config, in order."""
        layers = self.network.section(section)
        statements: list[Statement] = [Blank(0), Comment(4, section)] if layers else []
        for layer in layers:
            constructor, call_args = layer_from_config(layer.config, layer.name)
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


def _units_argument(call: ir.LayerCall) -> ir.Expr | None:
    """The expression a dense call gives for `units`, by position or by name."""
    for position, arg in enumerate(call.args):
        if arg.name == "units" or (arg.name is None and position == 0):
            return arg.value
    return None


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
    items = [item for item in items if item]
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


def module_view(network: nw.Network, source: str) -> ModuleView:
    """The typed view of the whole generated file."""
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
    return ModuleView(escape(__version__), escape(source), doc_text(network.name), (*functions, model))


def param_identifiers(block: ir.BlockDef) -> dict[str, str]:
    taken = set(BLOCK_LOCALS)
    return {param.name: identifier(param.name, taken) for param in block.params}


def render(network: nw.Network, source: str | None = None) -> str:
    """The generated module of a network; `source` names its spec in the header."""
    view = module_view(network, network.source if source is None else source)
    return environment().get_template(TEMPLATE).render(module=view)
