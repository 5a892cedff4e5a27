"""Parse tree -> spec IR (`resnet_dsl.language.ir`). One small method per grammar alias."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import VisitError
from lark.tree import Meta

from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError


@v_args(inline=True, meta=True)
class ToIR(Transformer):
    """Builds frozen IR nodes, each with the span of the text it came from."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _span(self, meta: Meta) -> ir.Span:
        if getattr(meta, "empty", True):
            return ir.NO_SPAN.model_copy(update={"file": self.path})
        return ir.Span.model_construct(
            file=self.path,
            line=meta.line,
            column=meta.column,
            end_line=meta.end_line,
            end_column=meta.end_column,
        )

    def _token_span(self, token: Token) -> ir.Span:
        return ir.Span.model_construct(
            file=self.path,
            line=token.line or 0,
            column=token.column or 0,
            end_line=token.end_line or 0,
            end_column=token.end_column or 0,
        )

    # ---------------------------------------------------------------- file --
    def start(self, meta: Meta, *items: Any) -> ir.Module:
        return ir.Module.model_construct(path=self.path, items=items, span=self._span(meta))

    def import_(self, meta: Meta, path: Token) -> ir.Import:
        return ir.Import.model_construct(path=_string(path, self.path), span=self._span(meta))

    # -------------------------------------------------------------- blocks --
    def block(self, meta: Meta, name: Token, params: list | None, *parts: Any) -> ir.BlockDef:
        paths: list[ir.Path] = []
        lets: list[ir.Let] = []
        out: tuple[ir.Span, tuple[ir.LayerCall, ...]] | None = None
        seen: dict[str, ir.Span] = {}
        for part in parts:
            if isinstance(part, tuple):
                if out is not None:
                    raise ArchError(f"block '{name}' has two 'out' sections", part[0], "merge them into one")
                out = part
                continue
            if part.name in seen or part.name in (ir.INPUT, "out"):
                what = "path" if isinstance(part, ir.Path) else "value"
                raise ArchError(
                    f"block '{name}' has two '{part.name}' sections"
                    if part.name in seen
                    else f"'{part.name}' cannot name a {what}: it means the block's {part.name}",
                    part.span,
                    "merge them into one" if part.name in seen else "choose another name",
                )
            seen[part.name] = part.span
            (paths if isinstance(part, ir.Path) else lets).append(part)
        if not paths:
            raise ArchError(f"block '{name}' has no 'main' path", self._span(meta), "add main { conv(...) -> bn }")
        if out is None:
            raise ArchError(
                f"block '{name}' does not say how its paths merge",
                self._span(meta),
                "add `out = add(main, shortcut) -> relu`",
            )
        first, *after = out[1]
        merge = self._merge(first.op, first.args, first.name, first.span)
        if first.condition is not None:  # where false, the block's output is its main path
            merge = merge.model_copy(update={"condition": first.condition})
        return ir.BlockDef.model_construct(
            name=str(name),
            params=tuple(params or ()),
            lets=tuple(lets),
            paths=tuple(paths),
            merge=merge,
            after=tuple(after),
            span=self._span(meta),
        )

    def _merge(self, op: str, args: tuple[ir.Arg, ...], name: str | None, span: ir.Span) -> ir.Merge:
        """`add(multiply(main, se), shortcut)`: the arguments are path names or nested merges."""
        inputs: list[ir.MergeInput] = []
        for arg in args:
            value = arg.value
            if arg.name is None and isinstance(value, ir.Name):
                inputs.append(ir.PathRef.model_construct(path=value.id, span=value.span))
            elif arg.name is None and isinstance(value, ir.Call):
                inputs.append(self._merge(value.func, value.args, None, value.span))
            else:
                raise ArchError(
                    f"{op} takes path names or merges such as multiply(main, se)",
                    arg.span,
                    "out must start by merging paths: out = add(main, shortcut) -> relu",
                )
        return ir.Merge.model_construct(op=op, inputs=tuple(inputs), name=name, span=span)

    def derived_block(self, meta: Meta, name: Token, base: Token, args: list | None) -> ir.DerivedBlock:
        return ir.DerivedBlock.model_construct(
            name=str(name), base=str(base), args=tuple(args or ()), span=self._span(meta)
        )

    def block_path(self, meta: Meta, name: Token, source: Any, condition: Any, *units: ir.Unit) -> ir.Path:
        _one_per_line(units)
        merge = source if isinstance(source, ir.Merge) else None
        first, source_if, source_else = (None, None, None) if source is None or merge else source
        return ir.Path.model_construct(
            name=str(name),
            source=first,
            source_merge=merge,
            source_if=source_if,
            source_else=source_else,
            condition=condition,
            units=units,
            span=self._span(meta),
        )

    def path_source(self, meta: Meta, name: Token, source_if: Any = None, other: Token | None = None) -> tuple:
        return (str(name), source_if, _opt(other))

    def merge_source(self, meta: Meta, op: Token, args: list | None, name: Token | None) -> ir.Merge:
        return self._merge(
            str(op), tuple(args or ()), None if name is None else _string(name, self.path), self._span(meta)
        )

    def let(self, meta: Meta, name: Token, value: Any) -> ir.Let:
        return ir.Let.model_construct(name=str(name), value=value, span=self._span(meta))

    def out(self, meta: Meta, chain: tuple[ir.LayerCall, ...]) -> tuple[ir.Span, tuple[ir.LayerCall, ...]]:
        return (self._span(meta), chain)

    def unit(self, meta: Meta, label: Token | None, chain: tuple[ir.LayerCall, ...]) -> ir.Unit:
        return ir.Unit.model_construct(label=_opt(label), layers=chain, span=self._span(meta))

    def chain(self, meta: Meta, *layers: ir.LayerCall) -> tuple[ir.LayerCall, ...]:
        return tuple(itertools.chain.from_iterable(padded(layer) for layer in layers))

    def layer(self, meta: Meta, op: Token, args: list | None, name: Token | None, condition: Any) -> ir.LayerCall:
        args = list(args or ())
        for arg in args:
            if arg.name == TORCH_PATH:
                path = arg.value.value if isinstance(arg.value, ir.Str) else "features.{stage_number}.{block_index}"
                raise ArchError(
                    "torch= is gone: a layer's torch module path is its `as` name",
                    arg.span,
                    f'write {op}(...) as "{path}" (the same path, fields and all)',
                )
        return ir.LayerCall.model_construct(
            op=str(op),
            args=tuple(args),
            name=None if name is None else _string(name, self.path),
            condition=condition,
            span=self._span(meta),
        )

    # ------------------------------------------------------------ networks --
    def network(self, meta: Meta, name: Token, params: list | None, *parts: Any) -> ir.NetworkDef:
        sections = _sections(str(name), parts, {"defaults": (), "stem": (), "head": ()})
        for stage in sections["stages"]:
            if stage.removed or stage.place is not None:
                raise ArchError(
                    f"network '{name}' derives from nothing: it has no stage to "
                    + ("remove" if stage.removed else f"place '{stage.label}' {stage.place}"),
                    stage.span,
                    "only a derived network (network B = A() { ... }) removes or places stages; here, "
                    + ("leave the stage out" if stage.removed else "write the stages in their order"),
                )
        return ir.NetworkDef.model_construct(
            name=str(name), params=tuple(params or ()), span=self._span(meta), **sections
        )

    def derived_network(
        self, meta: Meta, name: Token, base: Token, args: list | None, *parts: Any
    ) -> ir.DerivedNetwork:
        sections = _sections(str(name), [p for p in parts if p is not None], {"defaults": ()})
        return ir.DerivedNetwork.model_construct(
            name=str(name), base=str(base), args=tuple(args or ()), span=self._span(meta), **sections
        )

    def defaults(self, meta: Meta, *layers: ir.LayerCall) -> tuple:
        return ("defaults", self._span(meta), layers)

    def stem(self, meta: Meta, *units: ir.Unit) -> tuple:
        _one_per_line(units)
        return ("stem", self._span(meta), units)

    def head(self, meta: Meta, *units: ir.Unit) -> tuple:
        _one_per_line(units)
        return ("head", self._span(meta), units)

    def stage(
        self, meta: Meta, label: Token, place: Token | None, anchor: Token | None, alias: Any, *calls: ir.BlockCall
    ) -> tuple:
        span = self._span(meta)
        stage = ir.Stage.model_construct(
            label=str(label),
            calls=calls,
            place=_opt(place),
            anchor=_opt(anchor),
            alias=None if alias is None else _string(alias, self.path),
            span=span,
        )
        return ("stage", span, stage)

    def stage_removal(self, meta: Meta, label: Token) -> tuple:
        span = self._span(meta)
        return ("stage", span, ir.Stage.model_construct(label=str(label), calls=(), removed=True, span=span))

    def block_call(self, meta: Meta, block: Token, args: list | None, name: Token | None, repeat: Any) -> ir.BlockCall:
        return ir.BlockCall.model_construct(
            block=str(block),
            args=tuple(args or ()),
            name=None if name is None else _string(name, self.path),
            repeat=repeat,
            span=self._span(meta),
        )

    # ---------------------------------------------------- params and args --
    def params(self, meta: Meta, *params: ir.Param | None) -> list[ir.Param]:
        return [p for p in params if p is not None]

    def param(self, meta: Meta, name: Token, default: Any) -> ir.Param:
        return ir.Param.model_construct(name=str(name), default=default, span=self._span(meta))

    def args(self, meta: Meta, *args: Any) -> list[ir.Arg]:
        return [
            a if isinstance(a, ir.Arg) else ir.Arg.model_construct(value=a, span=a.span) for a in args if a is not None
        ]

    def keyword_arg(self, meta: Meta, name: Token, value: Any) -> ir.Arg:
        return ir.Arg.model_construct(name=str(name), value=value, span=self._span(meta))

    # --------------------------------------------------------- expressions --
    def int(self, meta: Meta, token: Token) -> ir.Int:
        span = self._token_span(token)
        return ir.Int.model_construct(value=limits.check_literal_int(str(token), span), span=span)

    def float(self, meta: Meta, token: Token) -> ir.Float:
        span = self._token_span(token)
        return ir.Float.model_construct(value=limits.check_float(float(token), span), text=str(token), span=span)

    def shape(self, meta: Meta, token: Token) -> ir.Shape:
        span = self._token_span(token)
        dims = tuple(limits.check_literal_int(d, span) for d in token.split("x"))
        return ir.Shape.model_construct(dims=dims, span=span)

    def string(self, meta: Meta, token: Token) -> ir.Str:
        return ir.Str.model_construct(value=_string(token, self.path), span=self._token_span(token))

    def true(self, meta: Meta) -> ir.Bool:
        return ir.Bool.model_construct(value=True, span=self._span(meta))

    def false(self, meta: Meta) -> ir.Bool:
        return ir.Bool.model_construct(value=False, span=self._span(meta))

    def name(self, meta: Meta, token: Token) -> ir.Name:
        return ir.Name.model_construct(id=str(token), span=self._token_span(token))

    def call(self, meta: Meta, func: Token, args: list | None) -> ir.Call:
        return ir.Call.model_construct(func=str(func), args=tuple(args or ()), span=self._span(meta))

    def list(self, meta: Meta, *items: Any) -> ir.ListExpr:
        return ir.ListExpr.model_construct(items=tuple(i for i in items if i is not None), span=self._span(meta))

    def index(self, meta: Meta, target: Any, index: Any) -> ir.Index:
        return ir.Index.model_construct(target=target, index=index, span=self._span(meta))

    def neg(self, meta: Meta, operand: Any) -> ir.Neg:
        return ir.Neg.model_construct(operand=operand, span=self._span(meta))

    def not_(self, meta: Meta, operand: Any) -> ir.Not:
        return ir.Not.model_construct(operand=operand, span=self._span(meta))

    def ternary(self, meta: Meta, then: Any, condition: Any, otherwise: Any) -> ir.IfElse:
        return ir.IfElse.model_construct(condition=condition, then=then, otherwise=otherwise, span=self._span(meta))

    def compare(self, meta: Meta, left: Any, op: Token, right: Any) -> ir.BinOp:
        return self._binop(str(op), meta, left, right)

    def or_(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("or", meta, left, right)

    def and_(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("and", meta, left, right)

    def _binop(self, op: str, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return ir.BinOp.model_construct(op=op, left=left, right=right, span=self._span(meta))

    def add(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("+", meta, left, right)

    def sub(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("-", meta, left, right)

    def mul(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("*", meta, left, right)

    def floordiv(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("//", meta, left, right)

    def truediv(self, meta: Meta, left: Any, right: Any) -> ir.BinOp:
        return self._binop("/", meta, left, right)


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


TORCH_PATH = "torch"
"""The keyword that once placed a layer in the torch module: now its `as` name does (one
construct for a torch layout); kept to say so where an old spec writes it."""


def _string(token: Token, path: str = "<string>") -> str:
    """A double-quoted literal as its value; the escapes are \\" \\\\ \\n and \\t."""
    body, out, i = str(token)[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            escaped = body[i + 1]  # the grammar guarantees a character after a backslash
            if escaped not in _ESCAPES:
                column = (token.column or 0) + 1 + i
                span = ir.Span.model_construct(file=path, line=token.line or 0, column=column, end_line=token.line or 0,
                               end_column=column + 2)  # fmt: skip
                raise ArchError(f"unknown escape '\\{escaped}' in a string", span, 'strings know \\" \\\\ \\n and \\t')
            out.append(_ESCAPES[escaped])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _one_per_line(units: tuple[ir.Unit, ...]) -> None:
    """Units are lines: a newline ends one. A unit that starts on the line where the one before
    it ends is a missing `->` (`conv(16, 3) bn relu`), never two silent units."""
    for before, unit in itertools.pairwise(units):
        if unit.span.line and unit.span.line == before.span.end_line:
            last, first = before.layers[-1], unit.layers[0]
            written = f"{unit.label}: {first.op}" if unit.label else first.op
            raise ArchError(
                f"missing '->' between '{last.op}' and '{written}': a unit is one line",
                unit.span.model_copy(
                    update={"end_line": unit.span.line, "end_column": unit.span.column + len(written)}
                ),
                f"chain the layers of one unit with '->' ({last.op} -> {first.op}), or start a new unit on a new line",
            )


def _opt(token: Token | None) -> str | None:
    return None if token is None else str(token)


def _sections(name: str, parts: Any, sections: dict[str, Any]) -> dict[str, Any]:
    """A network body's sections by keyword, its stages in order; each section at most once."""
    stages: list[ir.Stage] = []
    seen: set[str] = set()
    for kind, span, value in parts:
        if kind == "stage":
            stages.append(value)
            continue
        if kind in seen:
            raise ArchError(f"network '{name}' has two '{kind}' sections", span, "merge them into one")
        seen.add(kind)
        sections[kind] = value
    return {**sections, "stages": tuple(stages)}


def to_ir(tree: Tree, path: str = "<string>") -> ir.Module:
    return _transform(tree, path)


def to_expr(tree: Tree, path: str = "<string>") -> ir.Expr:
    return _transform(tree, path)


def _transform(tree: Tree, path: str) -> Any:
    """Run the transformer; our own errors come out as themselves, not wrapped by Lark."""
    try:
        return ToIR(path).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, ArchError):
            raise error.orig_exc from None
        raise


PADDED = {
    "conv": "zeropad",
    "conv2d": "zeropad",
    "depthwise_conv": "zeropad",
    "separable_conv": "zeropad",
    "avgpool": "zeropad",
}
"""Layers that take torch's symmetric integer padding (`padding=1`) as a layer of its own, and
that layer's op. A max pool's is its own option: -inf, torch's (`option_values.pool_padding`)."""


def padded(layer: ir.LayerCall) -> tuple[ir.LayerCall, ...]:
    """`conv(64, 3, padding=1)`, torch's integer padding, as a zero padding layer of its own before
    the layer, which pads no more (`valid`): one Keras layer each, and torch folds it back into
    the layer's `padding` (an average pool counts the zeros, as torch's does by default). The
    formatter writes it back as written (`as_written`)."""
    pad_op = PADDED.get(layer.op)
    arg = next((a for a in layer.args if a.name == "padding"), None)
    if pad_op is None or arg is None or not _integers(arg.value):
        return (layer,)
    pad = ir.LayerCall.model_construct(
        op=pad_op,
        args=(ir.Arg.model_construct(value=arg.value, span=arg.span),),
        name=None if layer.name is None else layer.name + "_pad",
        condition=layer.condition,
        implicit=True,
        span=arg.span,
    )
    valid = ir.Arg.model_construct(
        name="padding", value=ir.Name.model_construct(id="valid", span=arg.span), span=arg.span
    )
    return pad, layer.model_copy(update={"args": tuple(valid if a is arg else a for a in layer.args)})


def _integers(value: ir.Expr) -> bool:
    """`1` or `[1, 2]`: a padding written as integers."""
    if isinstance(value, ir.ListExpr):
        return bool(value.items) and all(_integers(item) for item in value.items)
    return isinstance(value, ir.Int)


def as_written(layers: Iterable[ir.LayerCall]) -> list[ir.LayerCall]:
    """The layers as written: the padding layer `padded` made put back in its call's `padding`."""
    calls: list[ir.LayerCall] = []
    padding: ir.Expr | None = None
    for layer in layers:
        if padding is not None:
            args = tuple(a.model_copy(update={"value": padding}) if a.name == "padding" else a for a in layer.args)
            layer, padding = layer.model_copy(update={"args": args}), None
        if layer.implicit:
            padding = layer.args[0].value
        else:
            calls.append(layer)
    return calls
