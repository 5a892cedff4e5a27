"""Files -> spec IR modules: reads a spec and its imports (and the prelude), once each.

Imports are relative to the importing file; cycles are errors. The prelude's blocks
are visible everywhere, and a spec's own definitions may shadow them. A name of the zoo
(`torchvision/resnet50`, the specs shipped with the package) is found from anywhere, on the
command line, in `load` and in an `import`; a local file of the same name wins.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from resnet_dsl.language import ir, limits
from resnet_dsl.language.docs import attach_docs
from resnet_dsl.language.errors import ArchError, did_you_mean, file_kind
from resnet_dsl.language.parser import parse
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.language.transform import to_ir
from resnet_dsl.network.block_graph import check_block
from resnet_dsl.network.derivation import Scope, resolve_block
from resnet_dsl.network.expand import expand
from resnet_dsl.network.model import Network
from resnet_dsl.network.zoo import SPEC_SUFFIX, locate, zoo_dir, zoo_spec

MAX_IMPORT_DEPTH = limits.MAX_IMPORT_DEPTH
IMPORT_PATH = "RESNET_DSL_IMPORT_PATH"
"""Directories (separated by os.pathsep) that imports may reach besides the spec's own tree."""


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
        return self.expand_all()

    def expand_all(self, overrides: Mapping[str, Any] | None = None) -> list[Network]:
        """Every network the file defines, in order, at most `MAX_CHECKED_LAYERS` layers together
        (`check`, `describe` and `diff` of a file of many networks stop at the same point)."""
        with self.located():
            scope = self.scope()
            networks: list[Network] = []
            total = 0
            for item in self.main.networks:
                networks.append(expand(scope, item, overrides))
                total += len(networks[-1].layers)
                limits.check_total_layers(total, item.span)
            return networks

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
    """Read a spec file (or a zoo spec, by name) and, recursively, what it imports."""
    path = locate(path)
    text = read_spec(path)
    return _program(text, _display(path.resolve()), path.resolve().parent)


def loads_program(text: str, path: str = "<string>", base: Path | None = None) -> Program:
    """A spec given as text; its imports are relative to `base` (the working directory)."""
    return _program(text, path, base or Path.cwd())


def _program(text: str, path: str, base: Path) -> Program:
    with _Located({path: text}):
        main = parse_module(text, path)
    program = Program(main=main, modules={path: main}, sources={path: text})
    roots = [base.resolve(), *import_path(), zoo_dir().resolve()]
    with program.located():
        _follow_imports(program, main, base, [path], roots)
    return program


def import_path() -> list[Path]:
    """The directories `RESNET_DSL_IMPORT_PATH` opens to imports, besides the spec's own tree."""
    value = os.environ.get(IMPORT_PATH, "")
    return [Path(entry).resolve() for entry in value.split(os.pathsep) if entry]


def _follow_imports(program: Program, module: ir.Module, base: Path, stack: list[str], roots: list[Path]) -> None:
    for item in module.imports:
        target = _import_target(item, base, roots)
        key = _display(target)
        if key in stack:
            cycle = " -> ".join([*stack[stack.index(key) :], key])
            raise ArchError(f"import cycle: {cycle}", item.span, "move what both files need into a third")
        if len(stack) > MAX_IMPORT_DEPTH:
            raise ArchError("imports nest too deeply", item.span)
        if key in program.modules:
            continue
        text = read_spec(target, item.span)
        program.sources[key] = text
        limits.check_source_total(sum(len(source) for source in program.sources.values()), item.span)
        with program.located():
            imported = parse_module(text, key)
        program.modules[key] = imported
        _follow_imports(program, imported, target.parent, [*stack, key], roots)


def _import_target(item: ir.Import, base: Path, roots: list[Path]) -> Path:
    """The file an import names, symlinks followed: a `.arch` file inside the allowed trees.

    A zoo name (`torchvision/resnet50`) is the local file `torchvision/resnet50.arch` where one
    exists, else the shipped spec. Only `.arch` files, so an import of `/proc/self/environ` or
    `~/.ssh/id_rsa` is refused before anything is read (an error would otherwise echo the text it could not parse).
    Only inside the importing spec's directory tree (or one listed in
    `RESNET_DSL_IMPORT_PATH`), so a spec from elsewhere cannot reach across the disk.
    """
    local = item.path if Path(item.path).suffix == SPEC_SUFFIX else item.path + SPEC_SUFFIX
    if Path(item.path).suffix != SPEC_SUFFIX and not zoo_spec(item.path):
        raise ArchError(
            f"cannot import {item.path!r}: only {SPEC_SUFFIX} files can be imported", item.span, "name a spec file"
        )
    zoo = zoo_spec(item.path)
    try:
        target = (base / local).resolve()
        if zoo and not target.exists():
            target = zoo.resolve()
    except RuntimeError:  # Python 3.11's word for a symlink loop
        raise ArchError(f"cannot import {item.path!r}: it is a symlink loop", item.span) from None
    except (OSError, ValueError) as error:
        raise ArchError(f"cannot import {item.path!r}: {error}", item.span) from None
    if target.suffix != SPEC_SUFFIX:
        raise ArchError(
            f"cannot import {item.path!r}: it is a link to {target.name}, not to a {SPEC_SUFFIX} file", item.span
        )
    if not any(target.is_relative_to(root) for root in roots):
        raise ArchError(
            f"cannot import {item.path!r}: it is outside {roots[0]}",
            item.span,
            f"imports stay inside the spec's own directory; to allow another, add it to {IMPORT_PATH}",
        )
    return target


def _display(path: Path) -> str:
    """A path as errors show it: relative to the working directory where it can be."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_spec(path: Path | str, where: ir.Span | None = None) -> str:
    """The text of a spec file: a regular file, at most `MAX_SPEC_BYTES`, UTF-8.

    Checked before reading, so `/dev/zero`, `/dev/urandom`, a FIFO (whose `open` would wait
    for a writer) or a directory gives an error at once; a symlink loop is an error too. Text
    that is not UTF-8 is reported at the line and column of its first bad byte, without
    echoing it. `where` is the import statement, when there is one.
    """
    path = Path(path)
    where = where or ir.Span(file=str(path))
    name = _display(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO opens without waiting
    except OSError as error:
        raise ArchError(f"cannot read {name}: {error.strerror or error}", where) from None
    try:
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        if kind != stat.S_IFREG:
            raise ArchError(
                f"cannot read {name}: it is {file_kind(kind)}, not a regular file", where, "name a spec file"
            )
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limits.MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise ArchError(f"cannot read {name}: {error.strerror or error}", where) from None
    finally:
        os.close(fd)
    if len(data) > limits.MAX_SPEC_BYTES:
        raise ArchError(f"cannot read {name}: it is larger than {limits.MAX_SPEC_BYTES:,} bytes", where, limits.HINT)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(data, error, str(path) if where.line == 0 else name, where) from None


def _not_utf8(data: bytes, error: UnicodeDecodeError, name: str, where: ir.Span) -> ArchError:
    """Located at the first bad byte: line, and column in characters (the line's start decodes)."""
    line = data.count(b"\n", 0, error.start) + 1
    line_start = data.rfind(b"\n", 0, error.start) + 1
    column = len(data[line_start : error.start].decode("utf-8")) + 1
    span = ir.Span(file=name, line=line, column=column, end_line=line, end_column=column + 1)
    problem = ArchError(f"not UTF-8: byte 0x{data[error.start]:02x} cannot be decoded", span, "save the file as UTF-8")
    if where.line:
        problem.notes.append(f"imported at {where}")
    return problem
