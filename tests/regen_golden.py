"""Regenerate tests/golden/: the generated source of every shipped spec.

    .venv/bin/python tests/regen_golden.py

Run it after a deliberate change to the generated code, then review `git diff tests/golden`.
It works from the repository root whatever the current directory, so each header names
its spec as `specs/...`, as test_codegen.py expects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"


def golden_path(spec: str) -> Path:
    """`specs/resnet50.arch` -> tests/golden/resnet50.py; `specs/keras/x.arch` -> keras_x.py."""
    relative = Path(spec).relative_to("specs").with_suffix("")
    return GOLDEN / ("_".join(relative.parts) + ".py")


def main() -> int:
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    from resnet_dsl.codegen import to_python
    from tests.conftest import SHIPPED_SPECS

    GOLDEN.mkdir(exist_ok=True)
    for spec in SHIPPED_SPECS:
        path = golden_path(spec)
        path.write_bytes(to_python(spec).encode("utf-8"))
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
