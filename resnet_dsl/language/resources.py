"""Where the grammar, templates and prelude live: inside the wheel, or in the checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def resource_dir(name: str) -> Path:
    """`grammars/` or `templates/`: shipped in the package, else beside it in the source tree."""
    inside = PACKAGE_DIR / name
    return inside if inside.is_dir() else PACKAGE_DIR.parent / name


PRELUDE = PACKAGE_DIR / "prelude.arch"
