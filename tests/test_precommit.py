"""The pre-commit hooks (.pre-commit-hooks.yaml), run by pre-commit itself on a scratch git
repository whose config points at this checkout: pre-commit clones it at HEAD and installs the
package into its own environment, as a user's pre-commit does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resnet_dsl.codegen.keras import render
from resnet_dsl.network.api import load
from tests.conftest import REPO

SPEC = """\
network Tiny(input = 16x16x3, classes = 4) {
  stem {
    conv1: conv(8, 3, padding=same) -> bn -> relu
  }
  stage s1: basic(8)
  head {
    global_avgpool -> dense(classes) as "fc"
  }
}
"""


def _git(folder: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _pre_commit(folder: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("pre-commit", path=str(Path(sys.executable).parent))
    assert executable, "pre-commit comes with the test extra"
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(
        [executable, "run", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def test_the_hooks_file_names_the_three_commands():
    hooks = {hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["resnet-dsl-fmt"]["entry"] == "resnet-dsl fmt --check"
    assert hooks["resnet-dsl-check"]["entry"] == "resnet-dsl check"
    assert hooks["resnet-dsl-generate"]["entry"] == "resnet-dsl generate --check"
    assert hooks["resnet-dsl-generate"]["pass_filenames"] is False
    assert all(hook["language"] == "python" for hook in hooks.values())


@pytest.mark.slow
def test_pre_commit_runs_the_hooks_on_a_scratch_repository(tmp_path: Path):
    head = _git(REPO, "rev-parse", "HEAD")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    _git(scratch, "init", "-q")
    (scratch / "tiny.arch").write_text(SPEC, encoding="utf-8")
    (scratch / "tiny_model.py").write_text(render(load(scratch / "tiny.arch"), "tiny.arch"), encoding="utf-8")
    config = {
        "repos": [
            {
                "repo": str(REPO),
                "rev": head,
                "hooks": [
                    {"id": "resnet-dsl-fmt"},
                    {"id": "resnet-dsl-check"},
                    {"id": "resnet-dsl-generate", "args": ["tiny.arch", "-o", "tiny_model.py"]},
                ],
            }
        ]
    }
    (scratch / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    _git(scratch, "add", ".")
    home = tmp_path / "pre-commit-home"

    clean = _pre_commit(scratch, home, "--all-files")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    for name in ("resnet-dsl fmt --check", "resnet-dsl check", "resnet-dsl generate --check"):
        assert any(line.startswith(name) and line.endswith("Passed") for line in clean.stdout.splitlines()), name

    # a layout change: fmt fails and names the file, the others pass
    (scratch / "tiny.arch").write_text(SPEC.replace("stage s1: basic(8)", "stage s1 :  basic( 8 )"))
    messy = _pre_commit(scratch, home, "resnet-dsl-fmt", "--all-files")
    assert messy.returncode == 1 and "tiny.arch" in messy.stdout
    assert _pre_commit(scratch, home, "resnet-dsl-check", "--all-files").returncode == 0

    # an error: check fails with the located message and its hint
    (scratch / "tiny.arch").write_text(SPEC.replace("basic(8)", "basik(8)"))
    broken = _pre_commit(scratch, home, "resnet-dsl-check", "--all-files")
    assert broken.returncode == 1
    assert "tiny.arch:5:13: error: unknown block 'basik'" in broken.stdout
    assert "did you mean 'basic'?" in broken.stdout

    # a meaningful change without regenerating: generate --check fails
    (scratch / "tiny.arch").write_text(SPEC.replace("classes = 4", "classes = 5"))
    stale = _pre_commit(scratch, home, "resnet-dsl-generate", "--all-files")
    assert stale.returncode == 1 and "tiny_model.py: out of date" in stale.stdout
