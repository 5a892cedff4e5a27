"""The VS Code extension as VS Code gets it: packaged into a `.vsix` by `@vscode/vsce`, and its
TextMate grammar, taken from that package, run by VS Code's own engine (`vscode-textmate` with
`vscode-oniguruma`) over every shipped spec. Every keyword, layer, block, number and comment gets
its scope; two specs' scopes are golden files (`UPDATE_GOLDEN=1` rewrites them).

The npm tools live in `.cache/editor-tools/` (ignored by git), installed by `scripts/test.sh`;
without them these tests skip, saying so."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network import ops
from resnet_dsl.network.loader import parse_module, prelude
from tests.conftest import REPO

TOOLS = REPO / ".cache" / "editor-tools"
NODE_MODULES = TOOLS / "node_modules"
VSCE = NODE_MODULES / ".bin" / "vsce"
EXTENSION_DEPENDENCIES = TOOLS / "vscode" / "node_modules"
VSCODE = REPO / "editors" / "vscode"
GOLDEN = REPO / "tests" / "golden" / "textmate"
GOLDEN_SPECS = ["specs/seed/resnet50.arch", "specs/timm/seresnet50.arch"]
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (NODE_MODULES / "vscode-textmate").is_dir() or not VSCE.exists(),
    reason="the npm tools are not installed: bash scripts/test.sh installs them into .cache/editor-tools",
)


@pytest.fixture(scope="module")
def vsix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The extension packaged as `vsce package` makes it, its npm dependencies included."""
    folder = tmp_path_factory.mktemp("vscode") / "extension"
    shutil.copytree(VSCODE, folder)
    if EXTENSION_DEPENDENCIES.is_dir():
        shutil.copytree(EXTENSION_DEPENDENCIES, folder / "node_modules")
    out = folder.parent / "resnet-dsl-arch.vsix"
    result = subprocess.run(
        [str(VSCE), "package", "--allow-missing-repository", "--skip-license", "--out", str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_extension_packages_into_a_vsix_with_what_it_needs(vsix: Path):
    with zipfile.ZipFile(vsix) as package:
        names = set(package.namelist())
        manifest = json.loads(package.read("extension/package.json"))
    assert {"extension/package.json", "extension/extension.js", "extension/language-configuration.json"} <= names
    assert f"extension/{manifest['contributes']['grammars'][0]['path'].removeprefix('./')}" in names
    assert "extension/node_modules/vscode-languageclient/package.json" in names  # the client it requires
    assert manifest["contributes"]["languages"][0]["extensions"] == [".arch"]


def _specs() -> list[Path]:
    return sorted([*REPO.glob("specs/**/*.arch"), PRELUDE, *REPO.glob("tests/specs/**/*.arch")])


@pytest.fixture(scope="module")
def tokens(vsix: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[tuple[str, list[str]]]]]:
    """Every shipped spec tokenized by vscode-textmate with the grammar inside the .vsix."""
    folder = tmp_path_factory.mktemp("grammar")
    with zipfile.ZipFile(vsix) as package:
        grammar = folder / "arch.tmLanguage.json"
        grammar.write_bytes(package.read("extension/syntaxes/arch.tmLanguage.json"))
    result = subprocess.run(
        [NODE, str(REPO / "tests" / "editors" / "tokenize.js"), str(grammar), *map(str, _specs())],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _keywords() -> set[str]:
    from resnet_dsl.language.parser import grammar

    return {t.pattern.value for t in grammar().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}


def test_every_keyword_layer_block_number_and_comment_gets_its_scope(tokens):
    keywords, layers = _keywords(), set(ops.known_names())
    checked = {"keyword": 0, "layer": 0, "block": 0, "number": 0, "comment": 0}
    for file, lines in tokens.items():
        text = Path(file).read_text(encoding="utf-8")
        module = parse_module(text, file)
        blocks = {b.name for b in (*prelude().blocks, *module.blocks)}
        for number, line in enumerate(lines, 1):
            column = 0
            for token, scopes in line:
                where = f"{file}:{number}:{column + 1} {token!r} {scopes}"
                after = text.split("\n")[number - 1][column + len(token) :].lstrip()
                column += len(token)
                scope = scopes[-1] if scopes else ""
                if token.strip() and not scopes:
                    pytest.fail(f"no scope: {where}")
                if any(name.startswith("string.") for name in scopes):  # inside "...": a string
                    continue
                if token.startswith("#"):
                    assert scope.startswith("comment."), where
                    checked["comment"] += 1
                elif re.fullmatch(r"[0-9][0-9x.eE+-]*", token):
                    assert scope.startswith("constant.numeric."), where
                    checked["number"] += 1
                elif token in keywords and not after.startswith("="):
                    assert scope.split(".")[0] in {"keyword", "storage", "constant"}, where
                    checked["keyword"] += 1
                elif token in layers and not after.startswith("=") and not after.startswith(":"):
                    assert scope == "support.function.layer.arch", where
                    checked["layer"] += 1
                elif token in blocks and after.startswith("("):  # a call, or the definition's name
                    assert scope in {"entity.name.function.arch", "entity.name.type.arch"}, where
                    checked["block"] += 1
    assert min(checked.values()) > 50, checked  # each kind seen, many times


def test_bare_layers_are_highlighted_as_layers(tokens):
    line = next(
        line
        for line in tokens[str(REPO / "specs" / "seed" / "resnet50.arch")]
        if any(token == "relu" for token, _ in line) and any(token == "bn" for token, _ in line)
    )
    found = {token: scopes[-1] for token, scopes in line if token in {"bn", "relu", "conv"}}
    assert found == dict.fromkeys(("bn", "relu", "conv"), "support.function.layer.arch")


def test_the_layer_rule_names_every_layer_the_language_has():
    grammar = json.loads((VSCODE / "syntaxes" / "arch.tmLanguage.json").read_text(encoding="utf-8"))
    inner = re.fullmatch(r"\\b\(\?:([a-z_0-9|]+)\)\\b.*", grammar["repository"]["layer"]["match"])
    assert inner and set(inner.group(1).split("|")) == set(ops.known_names())


def _golden_text(lines: list[list[tuple[str, list[str]]]]) -> str:
    rows = []
    for number, line in enumerate(lines, 1):
        column = 1
        for token, scopes in line:
            if token.strip():
                rows.append(f"{number}:{column} {token} {' '.join(scopes)}")
            column += len(token)
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("spec", GOLDEN_SPECS)
def test_the_scopes_of_two_specs_are_golden(tokens, spec: str):
    actual = _golden_text(tokens[str(REPO / spec)])
    golden = GOLDEN / (Path(spec).stem + ".scopes")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8")
