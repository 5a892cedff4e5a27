"""One function per block definition, for the Keras target, as the seed notebook writes them.

The steps come from `views.BlockSteps` (so the layer names are the expander's, checked
against every instance); this module turns them into statements: the signature and its
docstring from the spec's parameters and comments, `in_channels` and the block's values,
then each path under a comment, a layer or path with a condition under an `if`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from resnet_dsl.codegen.keras_views import (
    Apply,
    Arg,
    Assign,
    Call,
    Comment,
    Default,
    Function,
    If,
    LayerRenderer,
    Return,
    Statement,
    keras_callee,
)
from resnet_dsl.codegen.pysource import (
    AND,
    Expressions,
    free_names,
    has_call,
    unseeded,
)
from resnet_dsl.codegen.views import BlockSteps, Step, arg_doc, block_summary, doc_text, docstring_safe
from resnet_dsl.network.expand import (
    IN_CHANNELS,
)


@dataclass(frozen=True)
class BlockBuilder(BlockSteps):
    """The function of one block definition, checked against every instance of it."""

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
        return block_summary(self.block)

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
            + ([block.merge.condition] if block.merge.condition is not None else [])
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
                    if run[0].merge is self.block.merge and run[0].sources[0] != run[0].target:
                        # where the merge is left out, the block's output is its first input
                        statements.append(Assign(4, run[0].target, run[0].sources[0]))
                    statements.append(If(4, test, tuple(applied)))
                else:
                    statements += applied
                index += len(run)
        return statements

    def apply(self, step: Step, kind: str, renderer: LayerRenderer, expressions: Expressions, indent: int) -> Apply:
        name = step.pattern.source("name", expressions)
        if step.call is None:
            layer = Call(keras_callee(kind), (Arg(name, "name"),))
            return Apply(indent, step.target, layer, step.sources, True)
        layer, call_args = renderer.call(step.call, kind, name, step.sources[0])
        return Apply(indent, step.target, layer, step.sources[:1], False, call_args)

    def clone(self) -> frozenset[str]:
        return frozenset(name for i in self.instances for name, value in i.args if unseeded(value))
