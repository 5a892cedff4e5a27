"""The zoo: the specs shipped with the package, importable by name from anywhere.

A zoo name is a spec's path under `specs/` without `.arch`: `torchvision/resnet50`,
`timm/seresnet50`, `keras/resnet50v2`. `resnet-dsl summary torchvision/resnet50`,
`resnet_dsl.load("timm/seresnet50")` and `import "torchvision/resnet50"` all find it; a local
file of that name is always preferred.
"""

from __future__ import annotations

import re
from pathlib import Path

from resnet_dsl.language.resources import resource_dir

SPEC_SUFFIX = ".arch"
ZOO_NAME = re.compile(r"[a-z0-9_]+(/[a-z0-9_]+)*")
"""Lower-case words and slashes: never `..`, an absolute path or anything outside the zoo."""


def zoo_dir() -> Path:
    """The shipped specs: inside the installed package, or `specs/` in a checkout."""
    return resource_dir("specs")


def zoo_spec(name: str) -> Path | None:
    """The shipped spec a zoo name (with or without `.arch`) stands for, if there is one."""
    stem = name.removesuffix(SPEC_SUFFIX)
    if not ZOO_NAME.fullmatch(stem):
        return None
    path = zoo_dir() / (stem + SPEC_SUFFIX)
    return path if path.is_file() else None


def locate(path: str | Path) -> Path:
    """The file a spec argument names: the path itself, or with `.arch`, where either exists; else the
    zoo's spec of that name; else the path as given (whose reading then fails with its own error)."""
    path = Path(path)
    for local in (path, path.with_name(path.name + SPEC_SUFFIX)) if path.name else (path,):
        if local.exists() or local.is_symlink():
            return local
    return zoo_spec(path.as_posix()) or path
