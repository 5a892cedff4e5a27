"""A document analysed so that one error hides nothing else, imports read from unsaved buffers.

Every syntax error (each top-level definition parsed on its own when the whole does not parse,
and parsing resumed after each error within one: `parser.syntax_errors`),
every definition checked on its own, imports read from the editor's buffers before the disk.

The pieces are the CLI's (parser, loader, expander); only the order differs: `check` stops at
the first error, an editor wants them all, and shapes for every part that is fine. A network
whose stage has an error keeps its stages before that one (their shapes do not depend on it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from resnet_dsl.backends import torch_layout
from resnet_dsl.language import ir, limits
from resnet_dsl.language.errors import ArchError, did_you_mean
from resnet_dsl.language.parser import syntax_errors
from resnet_dsl.network import loader
from resnet_dsl.network.expand import Scope, check_block, expand, resolve_block, resolve_network
from resnet_dsl.network.loader import Program, parse_module, prelude
from resnet_dsl.network.model import Network
from resnet_dsl.network.zoo import zoo_dir

Overlay = Callable[[Path], "str | None"]
"""The text of a file as the editor holds it (unsaved), or None where it is not open."""

_ITEM_START = re.compile(r"^(?:import|block|network)\b", re.MULTILINE)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Analysis:
    """A document's text, what of it parsed and expanded, and every error found."""

    path: str
    text: str
    program: Program | None = None
    networks: list[Network] = field(default_factory=list)
    errors: list[ArchError] = field(default_factory=list)
    syntax_ok: bool = True
    scope: Scope | None = None
    partial: set[str] = field(default_factory=set)
    """Networks with an error, kept up to the stage before it (for hover), head left off."""
    leads: dict[str, ir.Import] = field(default_factory=dict)
    """For each file read through an import, the document's own import that led to it."""

    @property
    def error(self) -> ArchError | None:
        return self.errors[0] if self.errors else None


def clean(text: str) -> str:
    """The text with lone UTF-16 surrogates (which JSON allows and UTF-8 cannot encode) as
    U+FFFD: one character and one UTF-16 unit either way, so positions do not move."""
    return _SURROGATE.sub("\ufffd", text)


def analyze(path: str, text: str, overlay: Overlay | None = None) -> Analysis:
    """Parse (recovering), follow imports and check every definition, collecting errors."""
    analysis = Analysis(path=path, text=clean(text))
    try:
        _analyze(analysis, overlay or (lambda _: None))
    except RecursionError:
        analysis.errors.append(ArchError("the spec nests too deeply", ir.Span(file=path)))
    except Exception as error:  # a bug of ours must not silence the editor's diagnostics
        analysis.errors.append(internal_error(error, path))
    return analysis


def internal_error(error: Exception, path: str) -> ArchError:
    return ArchError(
        f"internal error: {type(error).__name__}: {error}",
        ir.Span(file=path),
        "please report it with the spec; `resnet-dsl check` shows the same",
    )


def _analyze(analysis: Analysis, overlay: Overlay) -> None:
    path, text = analysis.path, analysis.text
    module, syntax = parse_recovering(text, path)
    analysis.errors += syntax
    analysis.syntax_ok = not syntax
    if module is None:
        return
    program = Program(main=module, modules={path: module}, sources={path: text})
    analysis.program = program
    base = Path(path).parent
    roots = [base.resolve(), *loader.import_path(), zoo_dir().resolve()]
    for item in module.imports:
        with program.located():
            try:
                _follow(program, item, base, [path], roots, overlay, analysis)
            except ArchError as error:
                analysis.errors.append(error)
    scope, duplicates = lenient_scope(program)
    analysis.scope = scope
    analysis.errors += duplicates
    for block in module.blocks:
        _collect(analysis, lambda block=block: check_block(resolve_block(scope, block.name, block.span)[0]))
    checked = 0
    for item in module.networks:
        if checked > limits.MAX_CHECKED_LAYERS:
            break
        network = _check_network(analysis, scope, item)
        if network is not None:
            analysis.networks.append(network)
            checked += len(network.layers)
            _collect(analysis, lambda network=network: torch_layout.layout(network))  # as `check` does


def _collect(analysis: Analysis, work: Callable[[], Any]) -> Any:
    """Run one definition's check; its error joins the others instead of ending the analysis."""
    assert analysis.program is not None
    try:
        with analysis.program.located():
            return work()
    except ArchError as error:
        if not any(_same(error, seen) for seen in analysis.errors):
            analysis.errors.append(error)
    except RecursionError:
        analysis.errors.append(ArchError("the spec nests too deeply", ir.Span(file=analysis.path)))
    except Exception as error:
        analysis.errors.append(internal_error(error, analysis.path))
    return None


def _same(one: ArchError, other: ArchError) -> bool:
    where = (one.span.file, one.span.line, one.span.column)
    return one.message == other.message and where == (other.span.file, other.span.line, other.span.column)


# ---------------------------------------------------------------- syntax --


def parse_recovering(text: str, path: str) -> tuple[ir.Module | None, list[ArchError]]:
    """The document's module and its syntax errors: where the whole does not parse, each
    top-level definition is parsed on its own (at its own lines), and those that parse make
    the module. None where the text is refused as a whole (too large)."""
    try:
        return parse_module(text, path), []
    except ArchError as first:
        try:
            limits.check_text(text.removeprefix("\ufeff"), path)
        except ArchError:
            return None, [first]
    items: list[Any] = []
    errors: list[ArchError] = []
    for line, chunk in chunks(text):
        placed = "\n" * (line - 1) + chunk
        try:
            items += parse_module(placed, path).items
        except ArchError as error:
            # a syntax error: the others in the same definition too (a later error, of meaning, waits for them)
            more = syntax_errors(placed, path)
            errors += more if more and _same(more[0], error) else [error]
    end = text.count("\n") + 1
    span = ir.Span(file=path, line=1, column=1, end_line=end, end_column=1)
    return ir.Module(path=path, items=tuple(items), span=span), errors or []


def chunks(text: str) -> list[tuple[int, str]]:
    """The text cut before each line that starts a definition (`import`, `block`, `network`
    at the line's start), comment lines just above it going with it: (first line, text)."""
    lines = text.split("\n")
    starts = [0]
    for match in _ITEM_START.finditer(text):
        line = text.count("\n", 0, match.start())
        while line > 0 and lines[line - 1].lstrip().startswith("#"):
            line -= 1
        if line > starts[-1]:
            starts.append(line)
    ends = [*starts[1:], len(lines)]
    return [(start + 1, "\n".join(lines[start:end])) for start, end in zip(starts, ends, strict=True)]


# ---------------------------------------------------------------- imports --


@lru_cache(maxsize=64)
def _parse_cached(text: str, key: str) -> ir.Module:
    """Imported files are parsed again only when their text changes (a ResNet-152 derived from
    an imported ResNet-101 is checked on every keystroke)."""
    return parse_module(text, key)


def _follow(
    program: Program,
    item: ir.Import,
    base: Path,
    stack: list[str],
    roots: list[Path],
    overlay: Overlay,
    analysis: Analysis,
) -> None:
    """What one import brings in, recursively; the editor's buffer of a file where it has one."""
    target = loader._import_target(item, base, roots)
    key = loader._display(target)
    if key in stack:
        cycle = " -> ".join([*stack[stack.index(key) :], key])
        raise ArchError(f"import cycle: {cycle}", item.span, "move what both files need into a third")
    if len(stack) > limits.MAX_IMPORT_DEPTH:
        raise ArchError("imports nest too deeply", item.span)
    lead = analysis.leads.get(item.span.file) if len(stack) > 1 else item
    analysis.leads.setdefault(key, lead or item)
    if key in program.modules:
        return
    unsaved = overlay(target)
    text = clean(unsaved) if unsaved is not None else loader.read_spec(target, item.span)
    program.sources[key] = text
    imported = _parse_cached(text, key)
    program.modules[key] = imported
    for inner in imported.imports:
        _follow(program, inner, target.parent, [*stack, key], roots, overlay, analysis)


# ---------------------------------------------------------------- checks --


def lenient_scope(program: Program) -> tuple[Scope, list[ArchError]]:
    """The names a document sees, as `Program.scope`; a name defined twice keeps its first
    definition and is an error, instead of hiding every other name."""
    try:
        return program.scope(), []
    except ArchError:
        pass
    blocks: dict[str, Any] = {b.name: b for b in prelude().blocks}
    networks: dict[str, Any] = {}
    owners: dict[str, ir.Node] = {}
    errors = []
    for module in program.modules.values():
        for item in (*module.blocks, *module.networks):
            is_block = isinstance(item, (ir.BlockDef, ir.DerivedBlock))
            kind = "block" if is_block else "network"
            key = f"{kind}:{item.name}"
            if key in owners:
                message = f"{kind} '{item.name}' is defined twice (also at {owners[key].span})"
                with program.located():
                    try:
                        raise ArchError(message, item.span, "rename one of them")
                    except ArchError as error:
                        errors.append(error)
                continue
            owners[key] = item
            (blocks if is_block else networks)[item.name] = item
    return Scope(blocks=blocks, networks=networks), errors


def _check_network(analysis: Analysis, scope: Scope, item: Any) -> Network | None:
    """The network expanded; where it has an error, every unknown block its stages call is
    reported too, and the network up to the failing stage is kept for hover."""
    found = _collect(analysis, lambda: expand(scope, item))
    if found is not None:
        return found
    for stage in getattr(item, "stages", ()) or ():
        for call in stage.calls:
            if call.block not in scope.blocks:
                hint = did_you_mean(call.block, scope.blocks) or "define it with block ... { } or import it"
                message = f"unknown block '{call.block}'"
                _collect(analysis, lambda message=message, call=call, hint=hint: _raise(message, call.span, hint))
    return _partial(analysis, scope, item)


def _raise(message: str, span: ir.Span, hint: str | None) -> None:
    raise ArchError(message, span, hint)


def _partial(analysis: Analysis, scope: Scope, item: Any) -> Network | None:
    """The network's stem and its stages before the first one with an error, head left off:
    exactly what the whole network has there, since a stage depends only on those before it."""
    try:
        net = resolve_network(scope, item)
    except (ArchError, RecursionError):
        return None
    lines = {(e.span.line, e.span.file) for e in analysis.errors}
    cut = next(
        (
            index
            for index, stage in enumerate(net.stages)
            if any(file == stage.span.file and stage.span.line <= line <= stage.span.end_line for line, file in lines)
        ),
        len(net.stages),
    )
    for keep in [cut, *range(min(cut, len(net.stages)) - 1, -1, -1)][:4]:
        try:
            network = expand(scope, net.model_copy(update={"stages": net.stages[:keep], "head": ()}))
        except (ArchError, RecursionError, ValueError, TypeError, KeyError):
            continue
        analysis.partial.add(network.name)
        return network
    return None


def overlay_of(texts: Mapping[Path, str]) -> Overlay:
    """An overlay from resolved paths to the editor's texts."""
    return lambda path: texts.get(path)
