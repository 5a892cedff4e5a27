"""The static commands, run as a user runs them: exit codes, output, no TensorFlow.

Golden output lives in tests/golden/; `UPDATE_GOLDEN=1 pytest tests/test_cli.py` rewrites it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SHIPPED_SPECS

GOLDEN = REPO / "tests" / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_check_all_shipped_specs(cli) -> None:
    result = cli("check", *SHIPPED_SPECS, "resnet_dsl/prelude.arch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(SHIPPED_SPECS) + 1
    # total and trainable parameters, as the README's table gives them
    assert "specs/seed/resnet50.arch: ok, ResNet50, 177 layers, 23,600,006 parameters (23,546,886 trainable)\n" in (
        result.stdout
    )


def test_check_a_directory(cli) -> None:
    result = cli("check", "specs")
    assert result.returncode == 0, result.stderr
    checked = sorted({line.split(":")[0] for line in result.stdout.splitlines()})  # a line per network
    assert checked == sorted(str(path.relative_to(REPO)) for path in (REPO / "specs").rglob("*.arch"))


def test_a_directory_walk_skips_hidden_directories(cli, tmp_path: Path) -> None:
    """`fmt .` in a project must never reach into `.venv` (an installed zoo) or `.git`."""
    (tmp_path / "net.arch").write_text((REPO / "specs/torchvision/resnet18.arch").read_text())
    hidden = tmp_path / ".venv" / "site-packages"
    hidden.mkdir(parents=True)
    (hidden / "broken.arch").write_text("network {\n")
    result = cli("check", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("net.arch: ok, ResNet18")
    result = cli("fmt", ".", "--check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (hidden / "broken.arch").read_text() == "network {\n"


@pytest.mark.parametrize("command", [["check", ""], ["fmt", ""], ["summary", ""], ["diff", "", "x.arch"]])
def test_an_empty_path_is_a_usage_error(cli, command: list[str]) -> None:
    """An empty FILE would otherwise mean the current directory, silently."""
    result = cli(*command)
    assert result.returncode == 2
    assert "an empty path names no file" in result.stderr


def test_summary_layers_golden(cli) -> None:
    result = cli("summary", "specs/seed/resnet50.arch", "--layers")
    assert result.returncode == 0, result.stderr
    assert_golden("summary_resnet50.txt", result.stdout)


def test_summary_stages_golden(cli) -> None:
    result = cli("summary", "specs/keras/resnet50.arch", "--batch", "16")
    assert result.returncode == 0, result.stderr
    assert_golden("summary_stages_keras_resnet50.txt", result.stdout)
    assert "Receptive field: 483 px, jump 32 (conv5_block3_out)" in result.stdout


def test_summary_json(cli) -> None:
    result = cli("summary", "specs/seed/resnet50.arch", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"name", "input_shape", "output_shape", "params", "macs", "layers"}
    assert data["params"] == {"total": 23_600_006, "trainable": 23_546_886, "non_trainable": 53_120}
    assert data["input_shape"] == [None, 64, 64, 3] and data["output_shape"] == [None, 6]
    assert len(data["layers"]) == 177
    assert set(data["layers"][0]) == {"name", "kind", "output_shape", "params", "macs"}
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]["total"]
    assert sum(layer["macs"] for layer in data["layers"]) == data["macs"]
    stages = data["stages"]
    assert [stage["name"] for stage in stages] == ["input", "stem", "conv2", "conv3", "conv4", "conv5", "head"]
    assert [stage["blocks"] for stage in stages[2:6]] == [3, 4, 6, 3]
    assert sum(stage["layers"] for stage in stages) == 177
    assert sum(stage["params"] for stage in stages) == data["params"]["total"]
    assert stages[5]["receptive_field"] == {"size": [483, 483], "jump": [32, 32]}
    assert data["memory"]["batch"] == 32 and data["memory"]["params"] == 4 * 23_600_006


def test_set_overrides_parameters(cli) -> None:
    result = cli(
        "summary", "specs/torchvision/resnet18.arch", "--json", "--set", "classes=10", "--set", "input=32x32x3"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input_shape"] == [None, 32, 32, 3]
    assert data["output_shape"] == [None, 10]
    assert data["params"]["trainable"] == 11_689_512 - 990 * 513  # fc: 1000 -> 10 classes


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["summary", "specs/torchvision/resnet18.arch", "--set", "clases=10"], 1, "has no parameter 'clases'"),
        (["summary", "specs/torchvision/resnet18.arch", "--set", "classes"], 2, "argument --set: takes name=value"),
        (["summary", "specs/torchvision/resnet18.arch", "--set", "input=32x32x"], 1, "error: unexpected"),
        (["summary", "specs/no-such.arch"], 1, "cannot read specs/no-such.arch"),
        (["summary"], 2, "the following arguments are required: FILE"),
        (["frobnicate"], 2, "invalid choice"),
        (["summary", "specs/seed/resnet50.arch", "--bogus"], 2, "unrecognized arguments"),
        (["summary", "specs/seed/resnet50.arch", "--batch", "0"], 2, "expected a positive integer"),
    ],
)
def test_exit_codes(cli, args: list[str], code: int, message: str) -> None:
    result = cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_and_version(cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("check", "summary", "ir", "build", "generate", "fmt", "diff", "graph"):
        assert command in result.stdout
    assert cli("--version").stdout.startswith("resnet-dsl ")


def test_ir_json(cli) -> None:
    result = cli("ir", "specs/keras/resnet50.arch")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "ResNet50"
    conv = next(layer for layer in data["layers"] if layer["name"] == "conv2_block1_0_conv")
    assert conv["config"]["filters"] == 256 and conv["inputs"] == ["pool1_pool"]
    assert "span" not in json.dumps(data)


@pytest.mark.parametrize("command", ["check", "summary", "ir"])
def test_static_commands_never_import_tensorflow(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "resnet_dsl", command, "specs/torchvision/resnet152.arch"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "lark" in imported  # the measurement itself works
    assert not imported & {"tensorflow", "keras", "jinja2", "numpy", "torch"}


def test_check_a_library_file(tmp_path: Path, cli) -> None:
    library = tmp_path / "blocks.arch"
    library.write_text("block plain(f) {\n  main { conv(f, 3, padding=same) }\n  out = add(main, shortcut)\n}\n")
    result = cli("check", str(library))
    assert result.returncode == 0
    assert "ok (blocks only)" in result.stdout


@pytest.mark.parametrize(("form", "suffix"), [("text", "txt"), ("markdown", "md")])
def test_diff_golden(cli, form: str, suffix: str) -> None:
    result = cli("diff", "specs/keras/resnet50.arch", "specs/keras/resnet101.arch", "--format", form)
    assert result.returncode == 1, result.stderr
    assert_golden(f"diff_keras_resnet50_resnet101.{suffix}", result.stdout)
