"""Glue shared by the commands: loading a spec from CLI arguments, reporting errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_dsl.language.errors import ArchError

if TYPE_CHECKING:
    from resnet_dsl.network.model import Network

USAGE = 2


def report(error: ArchError) -> None:
    print(error.render(), file=sys.stderr)


def load_network(args: argparse.Namespace, path: str | None = None) -> Network:
    """The network named by the command line: FILE, --network and every --set."""
    from resnet_dsl.network.api import parse_assignment
    from resnet_dsl.network.loader import load_program

    overrides = dict(parse_assignment(item) for item in getattr(args, "overrides", []) or [])
    return load_program(path or args.file).expand(getattr(args, "network", None), overrides)


def spec_files(paths: list[str]) -> Iterator[str]:
    """The paths given, each directory replaced by the `.arch` files under it, sorted.

    Hidden directories (`.venv`, `.git`, `.tox`) are skipped, as ruff and black skip them:
    `resnet-dsl fmt .` must never rewrite an installed copy of the zoo.
    """
    for path in paths:
        if Path(path).is_dir():
            yield from sorted(str(p) for p in _walk(Path(path)))
        else:
            yield path


def _walk(root: Path) -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        yield from (Path(directory, name) for name in files if name.endswith(".arch"))


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Print an `ArchError` as a located message and exit 1, never a traceback."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ArchError as error:
            report(error)
            return 1

    return wrapper
