"""Shared test helpers: the repository's paths, the shipped specs, and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Under pytest-xdist each worker gets its share of the cores for TensorFlow's and torch's thread
# pools (each would take every core, and the workers would fight over them). Set before either loads.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _THREADS = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    for _name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_name, _THREADS)

# torchvision and timm import triton, which crashes the process when TensorFlow was loaded
# before it; loaded first, the two coexist. So the torch side comes in before any test module.
with contextlib.suppress(ImportError):
    import torchvision  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"

# (spec path relative to the repo, what it must reproduce)
SHIPPED_SPECS = [
    "specs/seed/resnet50.arch",
    "specs/torchvision/resnet18.arch",
    "specs/torchvision/resnet34.arch",
    "specs/torchvision/resnet101.arch",
    "specs/torchvision/resnet152.arch",
    "specs/keras/resnet50.arch",
    "specs/keras/resnet101.arch",
    "specs/keras/resnet152.arch",
    "specs/keras/resnet50v2.arch",
    "specs/keras/resnet101v2.arch",
    "specs/keras/resnet152v2.arch",
    "specs/keras/mobilenet_v2.arch",
    "specs/torchvision/convnext_tiny.arch",
]


def _zoo_networks() -> list[str]:
    """Every network the zoo ships: `specs/x/y.arch`, or `specs/x/y.arch:Name` where a file defines several."""
    from resnet_dsl.network.loader import load_program

    found = []
    for path in sorted(SPECS.rglob("*.arch")):
        spec = path.relative_to(REPO).as_posix()
        names = [network.name for network in load_program(path).main.networks]
        found += [spec] if len(names) == 1 else [f"{spec}:{name}" for name in names]
    return found


ZOO_NETWORKS = _zoo_networks()
"""What the torch target's golden files and equivalence tests cover: the whole zoo."""


def split_network(entry: str) -> tuple[str, dict[str, str]]:
    """`specs/x.arch:Name` -> (`specs/x.arch`, {"network": "Name"}): the arguments of `to_python`."""
    spec, _, network = entry.partition(":")
    return spec, {"network": network} if network else {}


def run_cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m resnet_dsl ARGS` in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "resnet_dsl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def _run_from_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs name their sources relative to the working directory: keep it the repo."""
    monkeypatch.chdir(REPO)
