"""The zoo by name: shipped specs load from anywhere, with no environment variable, and a local
file of the same name still wins; `resnet-dsl zoo` lists every shipped network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.cli.commands.zoo import entries
from resnet_dsl.network.zoo import zoo_dir
from tests.conftest import REPO

MINE = 'import "torchvision/resnet50"\n\nnetwork MyResNet50 = ResNet50(classes = 10)\n'


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RESNET_DSL_IMPORT_PATH"}
    return subprocess.run(
        [sys.executable, "-m", "resnet_dsl", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_spec_in_an_empty_directory_derives_from_the_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.arch").write_text(MINE, encoding="utf-8")
    monkeypatch.delenv("RESNET_DSL_IMPORT_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    network = resnet_dsl.load("mine.arch")
    assert network.name == "MyResNet50" and network.output_shape == (10,)
    checked = _cli("check", "mine.arch", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "MyResNet50" in checked.stdout


@pytest.mark.torch
def test_the_derived_zoo_network_builds_as_torchvision_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torchvision = pytest.importorskip("torchvision")
    (tmp_path / "mine.arch").write_text(MINE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    module = resnet_dsl.to_torch("mine.arch")
    reference = torchvision.models.resnet50(num_classes=10)
    assert sum(p.numel() for p in module.parameters()) == sum(p.numel() for p in reference.parameters())
    module.load_state_dict(reference.state_dict(), strict=True)


def test_zoo_names_work_on_the_command_line_and_in_load(tmp_path: Path) -> None:
    summary = _cli("summary", "torchvision/resnet50", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("ResNet50 (")
    assert resnet_dsl.load("timm/seresnet50").name == "SEResNet50"
    assert resnet_dsl.load("keras/resnet50v2.arch").name == "ResNet50V2"


def test_a_local_file_of_the_same_name_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "torchvision").mkdir()
    local = (
        "network ResNet50(input = 8x8x3, classes = 2) {\n"
        "  stem { conv(4, 3) }\n  head { flatten -> dense(classes) }\n}\n"
    )
    (tmp_path / "torchvision" / "resnet50.arch").write_text(local, encoding="utf-8")
    (tmp_path / "mine.arch").write_text(MINE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert resnet_dsl.load("mine.arch").input_shape == (8, 8, 3)
    assert resnet_dsl.load("torchvision/resnet50").input_shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nothing/here", "only .arch files can be imported"),
        ("../torchvision/resnet50", "only .arch files can be imported"),
        ("/etc/passwd", "only .arch files can be imported"),
        ("Torchvision/ResNet50", "only .arch files can be imported"),
    ],
)
def test_only_zoo_names_reach_the_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str) -> None:
    (tmp_path / "mine.arch").write_text(f'import "{name}"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(resnet_dsl.ArchError, match=message):
        resnet_dsl.load("mine.arch")


def test_zoo_lists_every_shipped_network() -> None:
    listed = {entry.call.split(" ")[0] for entry in entries()}
    shipped = {p.relative_to(zoo_dir()).with_suffix("").as_posix() for p in zoo_dir().rglob("*.arch")}
    assert listed == shipped
    assert zoo_dir().resolve() == (REPO / "specs").resolve()
    rows = {entry.call: entry for entry in entries()}
    assert rows["torchvision/resnet50"].trainable == 25_557_032
    assert rows["papers/cifar_resnet --network ResNet56"].trainable == 853_018


def test_the_readme_tables_are_generated() -> None:
    """The module map and the zoo table in README.md are what scripts/readme_tables.py makes now."""
    result = subprocess.run(
        [sys.executable, "scripts/readme_tables.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
