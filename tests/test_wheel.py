"""The built wheel works on its own: grammar, templates and prelude inside, CLI on PATH."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("resnet_dsl-*.whl")
    return path


def test_wheel_carries_its_resources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "resnet_dsl/grammars/arch.lark" in names
    assert "resnet_dsl/prelude.arch" in names
    assert any(name.startswith("resnet_dsl/templates/") and name.endswith(".jinja") for name in names)
    assert "resnet_dsl/specs/torchvision/resnet50.arch" in names  # the zoo, importable by name
    assert not any(name.startswith(("tests/", "specs/")) for name in names)


def test_wheel_installs_and_checks_a_spec(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)
    work = tmp_path / "work"
    work.mkdir()
    for name in ("resnet18.arch", "resnet34.arch"):
        shutil.copy(REPO / "specs" / "torchvision" / name, work / name)
    result = subprocess.run(
        [env_dir / "bin" / "resnet-dsl", "check", "resnet34.arch"], cwd=work, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "resnet34.arch: ok, ResNet34, 130 layers, 21,814,696 parameters" in result.stdout
    zoo = subprocess.run(
        [env_dir / "bin" / "resnet-dsl", "check", "torchvision/resnet50"], cwd=work, capture_output=True, text=True
    )
    assert zoo.returncode == 0, zoo.stderr
    assert "torchvision/resnet50: ok, ResNet50, 181 layers" in zoo.stdout
    located = subprocess.run(
        [python, "-c", "import resnet_dsl.language.resources as r; print(r.resource_dir('specs'))"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert str(env_dir) in located.stdout  # the grammar came from the installed package, not the checkout
