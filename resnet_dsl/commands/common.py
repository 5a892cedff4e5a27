"""Glue shared by the commands: loading a spec from CLI arguments, reporting errors."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_dsl.errors import ArchError

if TYPE_CHECKING:
    from resnet_dsl.network import Network

USAGE = 2


def report(error: ArchError) -> None:
    print(error.render(), file=sys.stderr)


def load_network(args: argparse.Namespace, path: str | None = None) -> Network:
    """The network named by the command line: FILE, --network and every --set."""
    from resnet_dsl.api import parse_assignment
    from resnet_dsl.loader import load_program

    overrides = dict(parse_assignment(item) for item in getattr(args, "overrides", []) or [])
    return load_program(path or args.file).expand(getattr(args, "network", None), overrides)


def spec_files(paths: list[str]) -> Iterator[str]:
    """The paths given, each directory replaced by the `.arch` files under it, sorted."""
    for path in paths:
        if Path(path).is_dir():
            yield from sorted(str(p) for p in Path(path).rglob("*.arch"))
        else:
            yield path


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print an `ArchError` as a located message and exit 1, never a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ArchError as error:
            report(error)
            return 1

    return wrapper


def _mode_for(target: Path) -> int:
    """The existing file's permissions, or what a plain `open` would give (mkstemp gives 0600)."""
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str | Path, data: str | bytes | Callable[[Path], Any]) -> None:
    """Write the whole file or nothing: into a temporary file beside it, then rename.

    `data` is the content, or a function that writes the temporary path itself (as
    `model.save` does). An existing file is never truncated by a failed write.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    os.close(fd)
    try:
        if callable(data):
            data(Path(temporary))
        elif isinstance(data, bytes):
            Path(temporary).write_bytes(data)
        else:
            with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(data)
        os.chmod(temporary, _mode_for(target))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
