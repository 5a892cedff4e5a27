"""Every command piped into a reader that leaves at once (`| head -0`): no traceback, and the
exit status the command earned (0 ok, 1 errors or findings, 2 usage; `diff`: 1 different)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from resnet_dsl.cli.app import build_parser
from tests.conftest import REPO

R18, R34 = "specs/torchvision/resnet18.arch", "specs/torchvision/resnet34.arch"
BAD, MESSY = "{bad}", "{messy}"

CASES = {
    "check": [(["check", "specs/"], 0), (["check", BAD], 1)],
    "summary": [(["summary", R18, "--layers"], 0), (["summary", R18, "--json"], 0), (["summary", BAD], 1)],
    "ir": [(["ir", R18], 0)],
    "blocks": [(["blocks", "--markdown"], 0)],
    "build": [(["build", R18, "--target", "torch", "--print-module"], 0)],
    "generate": [(["generate", R18], 0), (["generate", R18, "--target", "torch"], 0)],
    "fmt": [(["fmt", "--diff", MESSY], 0), (["fmt", "--check", "--diff", MESSY], 1)],
    "diff": [(["diff", R18, R34], 1), (["diff", R18, R34, "--format", "json"], 1), (["diff", R18, R18], 0)],
    "graph": [(["graph", R18, "-o", "-", "--format", "dot", "--expand"], 0)],
    "describe": [(["describe", R34], 0)],
    "zoo": [(["zoo"], 0), (["zoo", "--markdown"], 0)],
    "export": [(["export", BAD, "-o", "{out}"], 1), (["export", R18, "-o", "-", "--format", "gif"], 2)],
    "usage": [(["summary", R18, "--batch", "0"], 2), (["nonsense"], 2)],
}


def test_the_table_names_every_command():
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) - {"lsp"} <= set(CASES)  # lsp reads its standard input: tests/test_lsp_wire.py


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("pipes")
    (folder / "bad.arch").write_text("network N(input = 8x8x3) {\n  stage s: basci(4)\n}\n", encoding="utf-8")
    (folder / "messy.arch").write_text("network  N(input=8x8x3){\n stage s :   basic( 4 )\n}\n", encoding="utf-8")
    return {"bad": str(folder / "bad.arch"), "messy": str(folder / "messy.arch"), "out": str(folder / "x.onnx")}


@pytest.mark.parametrize(("args", "status"), [case for cases in CASES.values() for case in cases], ids=str)
def test_a_reader_that_leaves_early_changes_nothing_but_the_output(args: list[str], status: int, specs):
    args = [arg.format(**specs) for arg in args]
    read, write = os.pipe()
    os.close(read)  # the reader has left before the first byte
    try:
        result = subprocess.run(
            [sys.executable, "-m", "resnet_dsl", *args],
            cwd=REPO,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr and "Error" not in result.stderr.replace("error:", ""), result.stderr
    assert result.returncode == status, result.stderr


STRIDED = """\
network N(input = 32x32x3) {
  stage s1: basic(8) * 2
  stage s2: basic(16, stride=2), basic(16) * 3
}
"""


def test_a_stage_label_shows_the_first_blocks_call_where_it_differs(tmp_path, cli):
    spec = tmp_path / "strided.arch"
    spec.write_text(STRIDED, encoding="utf-8")
    written = "basic(16, stride=2), basic(16) * 3"  # as the stage line says it
    for form in ("dot", "mermaid"):
        result = cli("graph", str(spec), "-o", "-", "--format", form)
        assert result.returncode == 0, result.stderr
        assert written in result.stdout and "basic * 2" in result.stdout
    old = tmp_path / "old.arch"
    old.write_text(STRIDED.replace("basic(16, stride=2), basic(16) * 3", "basic(16) * 4"), encoding="utf-8")
    result = cli("diff", str(old), str(spec))
    assert result.returncode == 1
    assert f"basic * 4 -> {written}" in result.stdout


def test_build_for_torch_prints_one_screen_and_torchs_own_counts(cli):
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.resnet18()
    parameters = sum(p.numel() for p in reference.parameters())
    buffers = sum(b.numel() for b in reference.buffers())
    result = cli("build", R18, "--target", "torch")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) <= 30
    assert f"Parameters: {parameters:,}  Buffers: {buffers:,}" in result.stdout
    assert "layer1, layer2, layer3, layer4" in result.stdout and "--print-module" in result.stdout
    whole = cli("build", R18, "--target", "torch", "--print-module")
    assert "(layer4): Sequential(" in whole.stdout and len(whole.stdout.splitlines()) > 90
