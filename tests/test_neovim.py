"""A real editor: headless Neovim (the distribution's package) drives `resnet-dsl lsp` through its
built-in LSP client: a spec with two errors shows both, a stage's hover gives its shape and
parameters, go-to-definition reaches the prelude, formatting lays out what parses, and the server
ends with status 0 and nothing on stderr. Skipped, saying how to install it, without `nvim`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network.api import load
from resnet_dsl.review.formatter import format_source
from tests.conftest import REPO

NVIM = shutil.which("nvim")
pytestmark = pytest.mark.skipif(
    NVIM is None, reason="Neovim is not installed: apt-get install neovim (scripts/test.sh does, as root)"
)

FINE = """\
network Fine(input = 32x32x3,  classes = 10) {
  stage s1: basic(16) * 2
  stage s2: basic(32, stride=2), basic(32)
  head {
    global_avgpool -> dense(classes)
  }
}
"""
SPEC = (
    FINE
    + """
network Broken(input = 32x32x3) {
  stage s1: basci(16)
}

block half(filters {
}
"""
)


def _at(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index), index - (text.rfind("\n", 0, index) + 1)


def test_neovim_edits_a_spec_through_the_language_server(tmp_path: Path):
    spec = tmp_path / "edited.arch"
    spec.write_text(SPEC, encoding="utf-8")
    result, stderr = tmp_path / "result.json", tmp_path / "server.stderr"
    hover_line, hover_char = _at(SPEC, "s2:")
    def_line, def_char = _at(SPEC, "basic(16)")
    env = {
        **os.environ,
        "SPEC": str(spec),
        "RESULT": str(result),
        "LSP_PYTHON": sys.executable,
        "LSP_STDERR": str(stderr),
        "PYTHONPATH": str(REPO),
        "HOVER_LINE": str(hover_line),
        "HOVER_CHAR": str(hover_char + 1),
        "DEF_LINE": str(def_line),
        "DEF_CHAR": str(def_char + 2),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    script = REPO / "tests" / "editors" / "neovim_session.lua"
    subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"luafile {script}"],
        cwd=tmp_path,
        env=env,
        timeout=240,
        check=True,
        capture_output=True,
    )
    seen = json.loads(result.read_text(encoding="utf-8"))
    assert "error" not in seen, seen.get("error")
    # two errors, each where it is
    found = sorted((d["line"], d["col"], d["message"].splitlines()[0]) for d in seen["diagnostics"])
    assert found[0] == (*_at(SPEC, "basci(16)"), "unknown block 'basci'")
    assert found[1][0] == _at(SPEC, "block half(filters {")[0] and found[1][2].startswith("missing ')'")
    assert len(found) == 2
    # the hover of a stage: its output shape and parameters, as the network loaded on its own
    alone = tmp_path / "fine.arch"
    alone.write_text(FINE, encoding="utf-8")
    network = load(alone)
    stage = network.stages[1]
    params = sum(layer.params.total for layer in network.layers if layer.origin.stage == "s2")
    assert "**stage s2** of Fine" in seen["hover"]
    assert "(None, " + ", ".join(map(str, stage.blocks[-1].output_shape)) + ")" in seen["hover"]
    assert f"params {params:,}" in seen["hover"]
    # go to definition: the prelude's block, in the prelude's file
    assert Path(seen["definition"]["file"]).resolve() == PRELUDE.resolve()
    assert seen["definition"]["text"].startswith("block basic(")
    # formatting: the definition that parses as fmt lays it out, the broken ones as typed
    assert seen["formatted"] == format_source(FINE) + SPEC[len(FINE) :]
    # the session's end: status 0, nothing on stderr
    assert seen["exit"] == 0
    assert stderr.read_text(encoding="utf-8") == ""
