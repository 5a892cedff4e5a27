"""One `nn.Module` class per kind of block (a derived block is its base's kind), for the torch target.

The modules any instance has, with the spec's conditions and the call that made each, come
from `torch_union`; their attribute names from `torch_layout`. `__init__` makes them, path by
path, under those conditions; `torch_forward` writes `forward`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen.pysource import (
    NOT,
    OR,
    Expressions,
    escape,
    free_names,
    has_call,
    identifier,
)
from resnet_dsl.codegen.torch_containers import nested
from resnet_dsl.codegen.torch_forward import forward_body
from resnet_dsl.codegen.torch_tree import written_order
from resnet_dsl.codegen.torch_union import Union, shortcut_entry
from resnet_dsl.codegen.torch_views import (
    BLOCK_LOCALS,
    Call,
    Chosen,
    ClassView,
    LayerSource,
    Method,
    TorchExpressions,
    call_lines,
    channels_after,
)
from resnet_dsl.codegen.views import (
    IN_CHANNELS,
    arg_doc,
    block_summary,
    doc_text,
    docstring_safe,
    keras_keyword,
)
from resnet_dsl.language import ir
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network import ops
from resnet_dsl.network.expand import Defaults

# ----------------------------------------------------------------- blocks --


@dataclass(frozen=True)
class BlockClass:
    """The class of one block definition, made from the union of its instances (`torch_union`)."""

    block: ir.BlockDef
    name: str
    idents: Mapping[str, str]
    union: Union
    layers: Mapping[str, nw.Layer]
    defaults: Defaults
    path_names: Mapping[str, str] = field(default_factory=dict)
    """The class name of each named path's container (`se` -> `SeBottleneckSe`)."""
    placed: bool = False
    """The spec places its modules (`torch_tree`): made in the order it writes them."""

    def build(self, helpers: set[str]) -> list[ClassView]:
        """The block's class, after the class of each of its named extra paths (`se`)."""
        names = self.names()
        expressions = TorchExpressions(names)
        scope = self.union.scope
        channels: dict[str, str] = {scope.input: "in_channels"}
        sources: dict[str, LayerSource] = {}
        for node in scope.nodes:
            merge = node.layer.kind in torch_layout.MERGES
            call = self.union.calls[node.name]
            written = {} if merge or call is None else self.written(node.name, call, expressions)
            before = channels[node.inputs[0]]
            operands = [channels[name] for name in node.inputs]
            channels[node.name] = channels_after(node.layer, operands, written)
            mode = self.union.paddings.get(node.name, "")
            if mode == "folded":  # a zero padding each instance sizes alike (`zeropad(kernel // 2)`), folded in
                amount = self.written(node.layer.inputs[0], self.union.folded[node.name], expressions).get("padding")
                if amount is None or amount[:1] in "([":
                    raise ArchError(
                        f"cannot generate torch code for block '{self.block.name}': its instances pad "
                        f"'{node.name}' by different amounts, not written as one number",
                        self.block.span,
                    )
                written, mode = {**written, "padding": amount}, "written"
            if mode == "written" and "padding" not in written:
                raise AssertionError(f"{node.name}: instances pad differently, but not by the spec's option")
            sources[node.name] = LayerSource(node, before, written, mode)
        params, doc, defaults = self.signature()
        path_classes: list[ClassView] = []
        flags, choices = self.flags(expressions)
        body = [f"self.{flag} = {test}" for flag, test in dict([*flags.values(), *choices.values()]).items()]
        for name, (_, then, otherwise) in self.union.choices.items():
            if channels[then] != channels[otherwise]:
                raise ArchError(
                    f"cannot generate torch code for block '{self.block.name}': the sources its instances "
                    f"choose for '{name}' have different channels",
                    self.block.span,
                )
        body += self.attributes(scope, sources, helpers, expressions, path_classes)
        values: list[str] = []
        for let in reversed(self.block.lets):  # a value the class reads (a condition may not be)
            ident = names[let.name]
            if any(re.search(rf"\b{ident}\b", line) for line in (*values, *body)):
                values.insert(0, f"{ident} = {expressions.source(let.value)}")
        if self.placed:  # a parameter only modules the model makes read (ConvNeXt's `downsample`): not the class's
            read = (*defaults, *values, *body)
            dropped = frozenset(
                param.name
                for param in self.block.params
                if param.default is not None and not has_call(param.default) and not any(free_names(param.default))
                if not any(re.search(rf"\b{self.idents[param.name]}\b", line) for line in read)
            )
            params, doc, defaults = self.signature(dropped) if dropped else (params, doc, defaults)
        init = ["super().__init__()", *defaults, *values, *body]
        init_method = Method("__init__", ("self", "in_channels", *params), " -> None", (), tuple(init))
        optional = self.optional_modules(scope)
        guards = {name: f"self.{flag}" for name, (flag, _) in flags.items()}
        sources_chosen = {
            name: (f"self.{choices[name][0]}", then, otherwise)
            for name, (_, then, otherwise) in self.union.choices.items()
        }
        steps = dict(enumerate(scope.nodes))
        identity = {  # a shortcut left out is the block's input (`shortcut_entry`)
            node.name: scope.input
            for step, node in steps.items()
            if shortcut_entry(steps, step) and (node.module or "").partition(".")[0] in optional
        }
        forward = Method(
            "forward",
            ("self", "x: torch.Tensor"),
            " -> torch.Tensor",
            (),
            tuple(
                forward_body(
                    scope, self.layers, optional, guards, identity, sources_chosen, self.parameter_nodes(scope)
                )
            ),
        )
        return [*path_classes, ClassView(self.name, tuple(doc), (init_method, forward))]

    def test(self, conditions: Sequence[ir.Expr], expressions: Expressions) -> str:
        """The spec's conditions as one Python test."""
        if len(conditions) == 1:
            return expressions.source(conditions[0], OR)
        return " and ".join(expressions.source(c, NOT) for c in conditions)

    def own_conditions(self, name: str, shared: Sequence[ir.Expr] = ()) -> tuple[ir.Expr, ...]:
        """A node's conditions beyond those its container already tests."""
        return tuple(c for c in self.union.conditions.get(name, ()) if c not in shared)

    def shared_conditions(self, members: Sequence[torch_layout.Node]) -> tuple[ir.Expr, ...]:
        """The conditions every member of a container has: the container's own."""
        first = self.union.conditions.get(members[0].name, ())
        return tuple(c for c in first if all(c in self.union.conditions.get(m.name, ()) for m in members))

    def flags(self, expressions: Expressions) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
        """The attributes `forward` asks, with their tests: for each merge some instances leave
        out, whether to run it (torchvision's `self.use_res_connect`); for each path whose
        source each instance chooses, which source it reads."""
        taken = {node.module.partition(".")[0] for node in self.union.scope.nodes if node.module}
        tests: dict[tuple[ir.Expr, ...], str] = {}

        def flag(conditions: tuple[ir.Expr, ...], fallback: str) -> tuple[str, str]:
            if conditions not in tests:
                only = conditions[0] if len(conditions) == 1 else None
                base = expressions.names.get(only.id, "") if isinstance(only, ir.Name) else ""
                tests[conditions] = identifier(base or fallback, taken | set(BLOCK_LOCALS))
                taken.add(tests[conditions])
            return tests[conditions], self.test(conditions, expressions)

        merges = {}
        for node in self.union.scope.nodes:
            conditions = self.union.conditions.get(node.name, ())
            if node.module is None and conditions:
                merges[node.name] = flag(conditions, f"use_{node.layer.kind}")
        choices = {name: flag((test,), f"from_{then}") for name, (test, then, _) in self.union.choices.items()}
        return merges, choices

    def attributes(
        self,
        scope: torch_layout.Scope,
        sources: Mapping[str, LayerSource],
        helpers: set[str],
        expressions: TorchExpressions,
        path_classes: list[ClassView],
    ) -> list[str]:
        """`__init__`'s modules, under a comment per path: a path's container made whole, as an
        nn.Sequential or as an instance of the path's own class; `... if cond else None` where
        instances differ on having it, `nn.Identity()` for a layer a container's instances differ on."""
        lines: list[str] = []
        containers = dict(scope.containers)
        done: set[str] = set()
        path = None
        parameters = self.parameter_nodes(scope)
        deeper = [n.module for n in scope.nodes if n.module and n.module.count(".") > 1]  # in nested containers

        def assign(attribute: str, made: Call, members: Sequence[torch_layout.Node]) -> list[str]:
            shared = self.shared_conditions(members)
            if shared:
                return Chosen(made, self.test(shared, expressions), "None").lines(f"self.{attribute} = ", "", 8)
            return call_lines(f"self.{attribute} = ", made, "", 8)

        for node in written_order(scope.nodes) if self.placed else scope.nodes:
            if node.module is None:
                continue
            if node.layer.origin.path != path:
                path = node.layer.origin.path
                lines.append(f"# {escape(path or '')}")
            parent = node.module.rpartition(".")[0]
            top = parent.partition(".")[0]
            if parent and any(module.startswith(top + ".") for module in deeper):
                # nested containers (SK's `conv1.paths.0.conv`): the outermost made whole
                inside = [n for n in scope.nodes if n.module and n.module.startswith(top + ".")]
                lines += [] if top in done else assign(top, nested(top, inside, sources, helpers), inside)
                done.add(top)
                continue
            if parent in done:
                continue
            if not parent and node.name in parameters:  # torchvision's CNBlock `layer_scale`
                source = sources[node.name]
                value = source.option("value")
                value = value if re.fullmatch(r"[\w.]+", value) else f"({value})"
                scaled = f"torch.ones({source.channels}, 1, 1) * {value}"
                lines += assign(node.module, Call("nn.Parameter", (("", scaled),)), [node])
                continue
            if not parent:
                lines += assign(node.module, sources[node.name].constructor(helpers), [node])
                continue
            done.add(parent)
            members = [n for n in scope.nodes if n.module and n.module.rpartition(".")[0] == parent]
            if containers.get(parent) == "sequential":
                shared = self.shared_conditions(members)
                at = {int(n.module.rpartition(".")[2]): n for n in members if n.module}
                items: list[tuple[str, str | Call | Chosen]] = []
                for i in range(max(at) + 1):  # a layer a condition leaves out keeps its place, as nn.Identity
                    own = self.own_conditions(at[i].name, shared) if i in at else ()
                    made = sources[at[i].name].constructor(helpers) if i in at else Call("nn.Identity")
                    items.append(("", Chosen(made, self.test(own, expressions)) if own else made))
                lines += assign(parent, Call("nn.Sequential", tuple(items)), members)
            else:
                made = self.path_class(parent, members, sources, helpers, expressions, path_classes)
                lines += assign(parent, made, members)
        ends = [*lines[1:], "# "]  # a path whose modules a container made earlier says nothing
        return [line for line, after in zip(lines, ends, strict=True) if not (line[:2] == after[:2] == "# ")]

    def parameter_nodes(self, scope: torch_layout.Scope) -> frozenset[str]:
        """Layer scales the spec places as the block's own parameter (torchvision's `layer_scale`)."""
        if not self.placed:
            return frozenset()
        return frozenset(n.name for n in scope.nodes if n.layer.kind == "layer_scale" and "." not in (n.module or "."))

    def optional_modules(self, scope: torch_layout.Scope) -> frozenset[str]:
        """The attributes that are None where a condition leaves them out: a container whose
        members share a condition, a module of the block's own."""
        found = set()
        for node in scope.nodes:
            if node.module is None or node.name not in self.union.conditions:
                continue
            parent = node.module.rpartition(".")[0]
            if not parent:
                found.add(node.module)
                continue
            top = parent.partition(".")[0] if "." in parent else parent
            members = [n for n in scope.nodes if n.module and n.module.startswith(top + ".")]
            shared = self.shared_conditions(members)
            if shared:
                found.add(top)
            if dict(scope.containers).get(parent) == "dict" and self.own_conditions(node.name, shared):
                found.add(node.module)  # None in the path's class: asked where the block runs it alone
        return frozenset(found)

    def path_class(
        self,
        attribute: str,
        members: Sequence[torch_layout.Node],
        sources: Mapping[str, LayerSource],
        helpers: set[str],
        expressions: TorchExpressions,
        path_classes: list[ClassView],
    ) -> Call:
        """A named path (timm's `se`) as a small class of its own; the call that makes it. A
        layer some instances leave out is None there (the test passed in as an argument)."""
        shared = self.shared_conditions(members)
        init: list[str] = []
        forward: list[str] = []
        for node in members:
            child = node.module.rpartition(".")[2] if node.module else ""
            own = self.own_conditions(node.name, shared)
            made = sources[node.name].constructor(helpers)
            if own:
                test = self.test(own, expressions)
                init += Chosen(made, test, "None").lines(f"self.{child} = ", "", 8)
                forward += [f"if self.{child} is not None:", f"    x = self.{child}(x)"]
            else:
                init += call_lines(f"self.{child} = ", made, "", 8)
                forward.append(f"x = self.{child}(x)")
        names = [*self.idents.values(), "in_channels", *(self.names()[let.name] for let in self.block.lets)]
        used = [name for name in dict.fromkeys(names) if any(re.search(rf"\b{name}\b", line) for line in init)]
        path = members[0].layer.origin.path or attribute
        name = self.path_names[attribute]
        doc = [f"The `{doc_text(path)}` path of the `{doc_text(self.block.name)}` block."]
        if used:
            doc += ["", "Args:", *(f"    {ident}: as the block's." for ident in used)]
        methods = (
            Method("__init__", ("self", *used), " -> None", (), ("super().__init__()", *init)),
            Method("forward", ("self", "x: torch.Tensor"), " -> torch.Tensor", (), (*forward, "return x")),
        )
        path_classes.append(ClassView(name, tuple(doc), methods))
        return Call(name, tuple(("", ident) for ident in used))

    def names(self) -> dict[str, str]:
        """Spec names in scope in `__init__` -> identifiers: parameters, `in_channels`, values."""
        taken = set(BLOCK_LOCALS) | set(self.idents.values())
        names = {**self.idents, IN_CHANNELS: "in_channels"}
        for let in self.block.lets:
            names[let.name] = identifier(let.name, taken)
        return names

    def written(self, layer: str, call: ir.LayerCall, expressions: Expressions) -> dict[str, str]:
        """Config field -> source, for the options the call writes with the block's parameters."""
        op = ops.lookup(call.op)
        assert op is not None
        written = {}
        for position, arg in enumerate(call.args):
            option = arg.name or op.options[position].name
            if {*self.idents, IN_CHANNELS, *(let.name for let in self.block.lets)}.isdisjoint(free_names(arg.value)):
                continue  # a constant: the config holds its value
            written[keras_keyword(self.layers[layer].kind, option)] = expressions.source(arg.value)
        kind = self.layers[layer].kind
        given = {arg.name or op.options[position].name for position, arg in enumerate(call.args)}
        for option in op.options:  # a default that is another option (a pool's stride) follows it
            source = keras_keyword(kind, option.default.option) if isinstance(option.default, ops.SameAs) else None
            if source in written and option.name not in given:
                written[keras_keyword(kind, option.name)] = written[source]
        return written

    def signature(self, dropped: frozenset[str] = frozenset()) -> tuple[list[str], list[str], list[str]]:
        """Parameters after `in_channels`: Python defaults where the spec's are constants, None
        where they are computed (then set first thing in `__init__`); none for those `dropped`."""
        doc = [*block_summary(self.block), "", "Args:", "    in_channels: the channels of the input."]
        params: list[str] = []
        defaults: list[str] = []
        visible: dict[str, str] = {}
        optional = False
        for param in self.block.params:
            ident = self.idents[param.name]
            note = f" (`{doc_text(param.name)}` in the spec)" if ident != param.name else ""
            what = doc_text(param.doc.text.rstrip("."))
            if param.default is None:
                params.append(f"{ident}=None" if optional else ident)
                doc += arg_doc(ident, what, f"required{note}")
            elif has_call(param.default) or not visible.keys().isdisjoint(free_names(param.default)):
                value = TorchExpressions(dict(visible)).source(param.default)
                params.append(f"{ident}=None")
                defaults += [f"if {ident} is None:", f"    {ident} = {value}"]
                shown = f"`{value}`" if docstring_safe(value) else "the spec's default"
                doc += arg_doc(ident, what, f"None means {shown}{note}")
                optional = True
            elif param.name in dropped:
                optional = True
            else:
                value = TorchExpressions({}).source(param.default)
                params.append(f"{ident}={value}")
                doc += arg_doc(ident, what, f"{f'{value} by default' if docstring_safe(value) else 'optional'}{note}")
                optional = True
            visible[param.name] = ident
        return params, doc, defaults


def init_body(
    scope: torch_layout.Scope, sources: Mapping[str, LayerSource], helpers: set[str], title: str | None = None
) -> list[str]:
    """One attribute per module, under a comment per path (or `title`), containers made whole."""
    lines: list[str] = [f"# {title}"] if title and scope.nodes else []
    containers = dict(scope.containers)
    done: set[str] = set()
    path = None
    for node in scope.nodes:
        if node.module is None:
            continue
        if title is None and node.layer.origin.path != path:
            path = node.layer.origin.path
            lines.append(f"# {escape(path or '')}")
        parent, _, _ = node.module.rpartition(".")
        if parent in done:
            continue
        members = [n for n in scope.nodes if n.module and n.module.rpartition(".")[0] == parent]
        if "." in parent:
            raise ArchError(
                f"cannot generate torch code for layer '{node.name}': its module '{node.module}' "
                "is nested more than one container deep in the stem or head",
                node.layer.span,
                'place it one level down (as "stem.conv") or build it with to_torch',
            )
        if parent and containers.get(parent) == "dict":  # the spec's named children (timm's stem.conv)
            items = tuple(
                (n.module.rpartition(".")[2] if n.module else "", sources[n.name].constructor(helpers)) for n in members
            )
            helpers.add("named")
            lines += call_lines(f"self.{parent} = ", Call("named", items), "", 8)
            done.add(parent)
        elif parent and containers.get(parent) == "sequential":
            at = {int(n.module.rpartition(".")[2]): n for n in members if n.module}
            items = tuple(  # a layer a condition leaves out keeps its place, as nn.Identity
                ("", sources[at[i].name].constructor(helpers) if i in at else Call("nn.Identity"))
                for i in range(max(at) + 1)
            )
            lines += call_lines(f"self.{parent} = ", Call("nn.Sequential", items), "", 8)
            done.add(parent)
        else:
            lines += call_lines(f"self.{node.module} = ", sources[node.name].constructor(helpers), "", 8)
    return lines


def chain_forward(scope: torch_layout.Scope) -> list[str]:
    """The stem or head: `x` through each module in turn, a container called once."""
    lines: list[str] = []
    called: set[str] = set()
    for node in scope.nodes:
        assert node.module is not None
        parent = node.module.rpartition(".")[0] or node.module
        line = f"x = self.{parent}(x)"
        if not lines or lines[-1] != line or parent == node.module:
            if parent in called and parent != node.module:  # calling it again would run it all again
                raise ArchError(
                    f"cannot generate torch code for layer '{node.name}': the modules of '{parent}' do not "
                    "run one after another, so one call of it cannot run them",
                    node.layer.span,
                    f"place the layers between them in '{parent}' too, or this one elsewhere",
                )
            called.add(parent)
            lines.append(line)
    return lines
