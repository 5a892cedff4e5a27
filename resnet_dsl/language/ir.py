"""The spec IR: what a `.arch` file says, as typed, frozen values.

The transformer builds these from the parse tree; the expander turns them into a
`network.Network`. Nothing here is evaluated yet: `4 * f` is still a `BinOp`.
Every node keeps its source `Span`, which compares equal to any other span, so two
IRs that differ only in layout or comments are `==`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class Span(BaseModel):
    """Where a node stands in its file. Never part of a node's value."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str = "<string>"
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Span)

    def __hash__(self) -> int:
        return 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span.model_construct()


class Doc(BaseModel):
    """The comment that documents a block or a parameter (see `resnet_dsl.docs`). Like a
    span, never part of a node's value: a spec whose comments changed is the same spec."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    text: str = ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Doc)

    def __hash__(self) -> int:
        return 0


NO_DOC = Doc.model_construct()


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span = Field(default=NO_SPAN, repr=False, exclude=True)


# ------------------------------------------------------------- expressions --


class Int(Node):
    kind: Literal["int"] = "int"
    value: int


class Float(Node):
    kind: Literal["float"] = "float"
    value: float
    text: str = Field(default="", exclude=True)
    """The literal as written (`1.001e-5`), so the formatter does not reword it."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Float) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


class Bool(Node):
    kind: Literal["bool"] = "bool"
    value: bool


class Str(Node):
    kind: Literal["str"] = "str"
    value: str


class Shape(Node):
    """`224x224x3`: an input shape, height x width x channels."""

    kind: Literal["shape"] = "shape"
    dims: tuple[int, ...]


class Name(Node):
    """A parameter, or else a symbol such as `same` or `relu`."""

    kind: Literal["name"] = "name"
    id: str


class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: tuple[Expr, ...]


class Index(Node):
    kind: Literal["index"] = "index"
    target: Expr
    index: Expr


BinOperator = Literal["+", "-", "*", "//", "/", "==", "!=", "<", "<=", ">", ">=", "and", "or"]
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class BinOp(Node):
    """Arithmetic, a comparison, or `and` / `or` (which take and give true or false)."""

    kind: Literal["binop"] = "binop"
    op: BinOperator
    left: Expr
    right: Expr


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: Expr


class Not(Node):
    kind: Literal["not"] = "not"
    operand: Expr


class IfElse(Node):
    """`valid if project else same`: one of two values, as the condition says."""

    kind: Literal["ifelse"] = "ifelse"
    condition: Expr
    then: Expr
    otherwise: Expr


class Call(Node):
    """`glorot_uniform(seed=0)`: an initializer."""

    kind: Literal["call"] = "call"
    func: str
    args: tuple[Arg, ...]


Expr = Annotated[
    Int | Float | Bool | Str | Shape | Name | ListExpr | Index | BinOp | Neg | Not | IfElse | Call,
    Field(discriminator="kind"),
]


def subexpressions(expr: Expr) -> tuple[Expr, ...]:
    """The direct children of an expression, for walkers that treat every kind alike."""
    if isinstance(expr, ListExpr):
        return expr.items
    if isinstance(expr, Index):
        return (expr.target, expr.index)
    if isinstance(expr, BinOp):
        return (expr.left, expr.right)
    if isinstance(expr, (Neg, Not)):
        return (expr.operand,)
    if isinstance(expr, IfElse):
        return (expr.condition, expr.then, expr.otherwise)
    if isinstance(expr, Call):
        return tuple(arg.value for arg in expr.args)
    return ()


class Arg(Node):
    """One argument of a call: positional when `name` is None."""

    name: str | None = None
    value: Expr


class Param(Node):
    """A parameter of a block or network; required when it has no default."""

    name: str
    default: Expr | None = None
    doc: Doc = Field(default=NO_DOC, repr=False, exclude=True)


# ------------------------------------------------------------------ layers --


class LayerCall(Node):
    """`conv(64, 3, stride=2) as "name" if cond`: one layer, not yet resolved."""

    op: str
    args: tuple[Arg, ...] = ()
    name: str | None = None
    """`as "..."`: a plain name names the layer (Keras's name, torch's attribute); a module path
    (dotted, or with `{fields}`: `"stem.conv"`, `"features.{stage_number}.0"`) places its torch
    module and leaves the name alone (`naming.module_path`)."""
    condition: Expr | None = None
    """Left out where this is false."""
    implicit: bool = False
    """Made by the parser, not written: the padding layer of `conv(..., padding=1)`."""


class Unit(Node):
    """One line of layers chained with `->`; its label names them."""

    label: str | None = None
    layers: tuple[LayerCall, ...]


class Path(Node):
    """A named path of a block, a list of units from its source (the block's `input`, or
    an earlier path). Where its condition is false it is its source, unchanged."""

    name: str
    source: str | None = None
    source_if: Expr | None = None
    """`from (pre if project else input)`: where this is false, the path starts from `source_else`."""
    source_else: str | None = None
    source_merge: Merge | None = None
    """`project from multiply(main, se)`: the path starts from a merge of earlier paths."""
    condition: Expr | None = None
    units: tuple[Unit, ...] = ()


class Let(Node):
    """`width = filters * base_width // 64`: a value of the block, seen by what follows."""

    name: str
    value: Expr


class PathRef(Node):
    """A path (or the block's `input`) named as a merge's input."""

    kind: Literal["ref"] = "ref"
    path: str


class Merge(Node):
    """`add(main, shortcut)`, `multiply(main, se)`: paths, or nested merges, joined."""

    kind: Literal["merge"] = "merge"
    op: str
    inputs: tuple[MergeInput, ...] = ()
    """Empty means `(main, shortcut)`."""
    name: str | None = None
    condition: Expr | None = None
    """`out = add(main, input) if residual`: where false (the block's merge only), no merge is
    made and the block's output is its first input (MobileNetV2's linear bottleneck without a
    shortcut where the shape changes)."""


MergeInput = Annotated[PathRef | Merge, Field(discriminator="kind")]

INPUT = "input"
"""The block's input, as paths and merges name it."""


def merge_paths(merge: Merge) -> list[str]:
    """Every path a merge reads, nested merges included, left to right (`input` too)."""
    found: list[str] = []
    for item in merge.inputs:
        found += merge_paths(item) if isinstance(item, Merge) else [item.path]
    return found


class BlockDef(Node):
    """A residual block written in the language: named paths merged by `out`."""

    kind: Literal["block"] = "block"
    name: str
    doc: Doc = Field(default=NO_DOC, repr=False, exclude=True)
    """The comment lines directly above the definition, joined."""
    params: tuple[Param, ...] = ()
    lets: tuple[Let, ...] = ()
    paths: tuple[Path, ...] = ()
    merge: Merge
    after: tuple[LayerCall, ...] = ()
    """The layers after the merge, in `out = add(...) -> relu`."""
    base: BlockDef | None = None
    """For a derived block made plain (`bottleneck_projection = bottleneck(stride=2)`), the
    written-out block its derivations start from: the same kind of block with other defaults,
    which generated torch code makes one class of. None for a block written out."""

    @property
    def kind_def(self) -> BlockDef:
        """The written-out definition of this kind of block: the base of a derived one, else itself."""
        return self.base or self

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def path(self, name: str) -> Path | None:
        return next((p for p in self.paths if p.name == name), None)

    @property
    def pre(self) -> Path | None:
        return self.path("pre")

    @property
    def main(self) -> Path | None:
        return self.path("main")

    @property
    def shortcut(self) -> Path | None:
        return self.path("shortcut")

    def sources_of(self, path: Path) -> tuple[str, ...]:
        """Every place a path may start from: its source, and the other of a conditional one;
        the paths its merge reads, for a path that starts from a merge."""
        if path.source_merge is not None:
            return tuple(dict.fromkeys(merge_paths(path.source_merge)))
        first = self.source_of(path)
        return (first,) if path.source_else is None else (first, path.source_else)

    def source_of(self, path: Path) -> str:
        """Where a path starts: as written, else `main` after `pre` (if any), others the input."""
        if path.source is not None:
            return path.source
        if path.name == "main" and self.pre is not None:
            return "pre"
        return INPUT


class DerivedBlock(Node):
    """`block basic_projection = basic(stride=2)`: a block with other parameter defaults."""

    kind: Literal["derived_block"] = "derived_block"
    name: str
    doc: Doc = Field(default=NO_DOC, repr=False, exclude=True)
    """The comment lines directly above the definition, joined."""
    base: str
    args: tuple[Arg, ...] = ()


# ---------------------------------------------------------------- networks --


class BlockCall(Node):
    """`identity(3, [64, 64, 256]) * 2`: a block, repeated."""

    block: str
    args: tuple[Arg, ...] = ()
    name: str | None = None
    """`as "expanded_conv"`: the block's name (its layers' prefix), a pattern as the network's
    `names(block = ...)` default is (`"block{stage_number}{block_letter}"`)."""
    repeat: Expr | None = None


class Stage(Node):
    """`stage conv2: ...`. In a derived network's body it replaces the parent's stage of its
    label; with a place (`stage conv6 after conv5: ...`) it adds one; `removed` removes one."""

    label: str
    calls: tuple[BlockCall, ...]
    place: Literal["after", "before"] | None = None
    anchor: str | None = None
    """The parent's stage the new one goes after or before."""
    alias: str | None = None
    """`as "stages.{stage_index}.blocks"`: the stage's torch module (its fields: the stage's place),
    where not torchvision's `layerN`."""
    removed: bool = False


class NetworkDef(Node):
    kind: Literal["network"] = "network"
    name: str
    params: tuple[Param, ...] = ()
    defaults: tuple[LayerCall, ...] = ()
    stem: tuple[Unit, ...] = ()
    stages: tuple[Stage, ...] = ()
    head: tuple[Unit, ...] = ()


class DerivedNetwork(Node):
    """`network ResNet101 = ResNet50(depths=[3, 4, 23, 3])`, optionally with a body whose
    sections replace the parent's (stem, head, stages by label) or add to its defaults."""

    kind: Literal["derived"] = "derived"
    name: str
    base: str
    args: tuple[Arg, ...] = ()
    defaults: tuple[LayerCall, ...] = ()
    stem: tuple[Unit, ...] | None = None
    stages: tuple[Stage, ...] = ()
    head: tuple[Unit, ...] | None = None


class Import(Node):
    kind: Literal["import"] = "import"
    path: str


Item = Annotated[Import | BlockDef | DerivedBlock | NetworkDef | DerivedNetwork, Field(discriminator="kind")]


class Module(Node):
    """One `.arch` file, its items in the order written."""

    path: str
    items: tuple[Item, ...] = ()

    @property
    def imports(self) -> tuple[Import, ...]:
        return tuple(i for i in self.items if isinstance(i, Import))

    @property
    def blocks(self) -> tuple[BlockDef | DerivedBlock, ...]:
        return tuple(i for i in self.items if isinstance(i, (BlockDef, DerivedBlock)))

    @property
    def networks(self) -> tuple[NetworkDef | DerivedNetwork, ...]:
        return tuple(i for i in self.items if isinstance(i, (NetworkDef, DerivedNetwork)))
