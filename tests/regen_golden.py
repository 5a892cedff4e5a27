"""Regenerate tests/golden/: the generated source (Keras and torch) of every shipped spec.

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


def golden_path(spec: str, target: str = "keras") -> Path:
    """`specs/seed/resnet50.arch` -> tests/golden/seed_resnet50.py; `specs/keras/x.arch` -> keras_x.py;
    for the torch target, torch_seed_resnet50.py and torch_keras_x.py; one network of a file that
    defines several, `specs/papers/cifar_resnet.arch:ResNet20`, torch_papers_cifar_resnet_resnet20.py."""
    spec, _, network = spec.partition(":")
    relative = Path(spec).relative_to("specs").with_suffix("")
    prefix = "torch_" if target == "torch" else ""
    suffix = f"_{network.lower()}" if network else ""
    return GOLDEN / (prefix + "_".join(relative.parts) + suffix + ".py")


def main() -> int:
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    from resnet_dsl.codegen import to_python
    from tests.conftest import SHIPPED_SPECS, ZOO_NETWORKS, split_network

    GOLDEN.mkdir(exist_ok=True)
    wanted = [(spec, "keras") for spec in SHIPPED_SPECS] + [(entry, "torch") for entry in ZOO_NETWORKS]
    for entry, target in wanted:
        spec, kwargs = split_network(entry)
        path = golden_path(entry, target)
        path.write_bytes(to_python(spec, target=target, **kwargs).encode("utf-8"))
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
