"""Files -> spec IR modules: reads a spec and its imports (and the prelude), once each.

Imports are relative to the importing file; cycles are errors. The prelude's blocks
are visible everywhere, and a spec's own definitions may shadow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from resnet_dsl import ir
from resnet_dsl.docs import attach_docs
from resnet_dsl.errors import ArchError, did_you_mean
from resnet_dsl.expand import Scope, check_block, expand, resolve_block
from resnet_dsl.network import Network
from resnet_dsl.parser import parse
from resnet_dsl.resources import PRELUDE
from resnet_dsl.transform import to_ir

MAX_IMPORT_DEPTH = 64


def parse_module(text: str, path: str = "<string>") -> ir.Module:
    """Text -> spec IR of one file, imports not followed; comments become block docs."""
    return attach_docs(to_ir(parse(text, path), path), text)


@cache
def prelude() -> ir.Module:
    return parse_module(PRELUDE.read_text(encoding="utf-8"), "<prelude>")


@dataclass
class Program:
    """A spec file with everything it imports."""

    main: ir.Module
    modules: dict[str, ir.Module] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def scope(self) -> Scope:
        blocks: dict[str, ir.BlockDef | ir.DerivedBlock] = {b.name: b for b in prelude().blocks}
        networks: dict[str, ir.NetworkDef | ir.DerivedNetwork] = {}
        owners: dict[str, ir.Node] = {}
        for module in self.modules.values():
            for item in (*module.blocks, *module.networks):
                is_block = isinstance(item, (ir.BlockDef, ir.DerivedBlock))
                table: dict[str, Any] = blocks if is_block else networks
                kind = "block" if is_block else "network"
                key = f"{kind}:{item.name}"
                if key in owners:
                    raise ArchError(
                        f"{kind} '{item.name}' is defined twice (also at {owners[key].span})",
                        item.span,
                        "rename one of them",
                    )
                owners[key] = item
                table[item.name] = item
        return Scope(blocks=blocks, networks=networks)

    def network(self, name: str | None = None) -> ir.NetworkDef | ir.DerivedNetwork:
        """The network this file describes: its only one, or the one named."""
        own = self.main.networks
        if name is not None:
            found = next((n for n in own if n.name == name), None)
            if found is None:
                raise ArchError(
                    f"{self.main.path} defines no network '{name}'",
                    self.main.span,
                    did_you_mean(name, [n.name for n in own]),
                )
            return found
        if not own:
            raise ArchError(f"{self.main.path} defines no network", self.main.span, "add network Name(...) { ... }")
        if len(own) > 1:
            raise ArchError(
                f"{self.main.path} defines {len(own)} networks",
                own[1].span,
                "choose one: --network " + " | ".join(n.name for n in own),
            )
        return own[0]

    def expand(self, network: str | None = None, overrides: Mapping[str, Any] | None = None) -> Network:
        with self.located():
            return expand(self.scope(), self.network(network), overrides)

    def check(self) -> list[Network]:
        """Validate the file: its block definitions, and every network it defines, expanded."""
        with self.located():
            scope = self.scope()
            for block in self.main.blocks:
                check_block(resolve_block(scope, block.name, block.span)[0])
            return [expand(scope, item) for item in self.main.networks]

    def located(self) -> _Located:
        return _Located(self.sources)


class _Located:
    """Adds the offending source line to any `ArchError` raised inside."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if isinstance(error, ArchError):
            text = self.sources.get(error.span.file)
            if text is None and error.span.file == "<prelude>":
                text = PRELUDE.read_text(encoding="utf-8")
            if text is not None:
                error.with_source(text)


def load_program(path: str | Path) -> Program:
    """Read a spec file and, recursively, what it imports."""
    path = Path(path)
    text = _read(path, None)
    return _program(text, _display(path.resolve()), path.resolve().parent)


def loads_program(text: str, path: str = "<string>", base: Path | None = None) -> Program:
    """A spec given as text; its imports are relative to `base` (the working directory)."""
    return _program(text, path, base or Path.cwd())


def _program(text: str, path: str, base: Path) -> Program:
    with _Located({path: text}):
        main = parse_module(text, path)
    program = Program(main=main, modules={path: main}, sources={path: text})
    with program.located():
        _follow_imports(program, main, base, [path])
    return program


def _follow_imports(program: Program, module: ir.Module, base: Path, stack: list[str]) -> None:
    for item in module.imports:
        try:
            target = (base / item.path).resolve()
        except (OSError, ValueError) as error:
            raise ArchError(f"cannot import {item.path!r}: {error}", item.span) from None
        key = _display(target)
        if key in stack:
            cycle = " -> ".join([*stack[stack.index(key) :], key])
            raise ArchError(f"import cycle: {cycle}", item.span, "move what both files need into a third")
        if len(stack) > MAX_IMPORT_DEPTH:
            raise ArchError("imports nest too deeply", item.span)
        if key in program.modules:
            continue
        text = _read(target, item)
        program.sources[key] = text
        with program.located():
            imported = parse_module(text, key)
        program.modules[key] = imported
        _follow_imports(program, imported, target.parent, [*stack, key])


def _display(path: Path) -> str:
    """A path as errors show it: relative to the working directory where it can be."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read(path: Path, importer: ir.Import | None) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError) as error:  # UnicodeDecodeError is a ValueError
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        where = importer.span if importer is not None else ir.Span(file=str(path))
        raise ArchError(f"cannot read {_display(path)}: {reason}", where) from None
