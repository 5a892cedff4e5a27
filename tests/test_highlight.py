"""Highlighting: the Pygments lexer (entry point, every shipped spec without error tokens) and the
VS Code folder's TextMate grammar (valid JSON, regexes that compile, the grammar's keywords)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from resnet_dsl.integrations.pygments_lexer import ArchLexer, grammar_keywords, keywords
from tests.conftest import REPO

VSCODE = REPO / "editors" / "vscode"
TEXTMATE = VSCODE / "syntaxes" / "arch.tmLanguage.json"


def shipped_specs() -> list[Path]:
    """Every spec the repository ships: the specs, the prelude, the tests' own."""
    found = [*REPO.glob("specs/**/*.arch"), REPO / "resnet_dsl" / "prelude.arch", *REPO.glob("tests/specs/**/*.arch")]
    return sorted(found)


def test_the_specs_are_found():
    names = {path.relative_to(REPO).as_posix() for path in shipped_specs()}
    assert {"specs/seed/resnet50.arch", "specs/keras/resnet152.arch", "resnet_dsl/prelude.arch"} <= names


@pytest.mark.parametrize("path", shipped_specs(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_shipped_spec_lexes_without_error_tokens(path: Path):
    text = path.read_text(encoding="utf-8")
    tokens = list(ArchLexer().get_tokens(text))
    errors = [value for kind, value in tokens if kind in Error]
    assert errors == [], f"{path}: error tokens {errors[:10]}"
    assert "".join(value for _, value in tokens) == (text if text.endswith("\n") else text + "\n")


def test_the_lexer_tells_the_parts_apart():
    text = 'block b(f, s = 2) {\n  main { c1: conv(4 * f, 3, stride=s) as "x"  # note\n  }\n}\n'
    kinds = {value: kind for kind, value in ArchLexer().get_tokens(text) if value.strip()}
    assert kinds["block"] in Keyword
    assert kinds["b"] in Name.Class
    assert kinds["main"] in Keyword
    assert kinds["c1"] in Name.Label
    assert kinds["conv"] in Name.Function
    assert kinds["stride"] in Name.Attribute
    assert kinds["4"] in Number
    assert kinds['"x"'] in String
    assert kinds["# note"] in Comment
    assert kinds["*"] in Operator


def test_block_graph_syntax_lexes_without_error_tokens():
    """Paths with sources and conditions, merges as expressions, comparisons, boolean words."""
    text = (
        "block se(filters, stride = 1) {\n"
        "  main { conv(filters, 3, stride=stride) if stride != 1 }\n"
        "  squeeze from main if in_channels >= 2 and not (stride == 1 or stride <= 0) { global_avgpool }\n"
        "  out = add(multiply(main, squeeze), shortcut) -> relu\n"
        "}\n"
    )
    assert [value for kind, value in ArchLexer().get_tokens(text) if kind in Error] == []


def test_a_stray_character_is_an_error_token():
    assert [value for kind, value in ArchLexer().get_tokens("stage s: a(1) @ b\n") if kind in Error] == ["@"]


def test_every_grammar_keyword_is_a_lexer_keyword():
    assert {"block", "network", "stage", "out", "import", "from", "if", "else"} <= grammar_keywords()
    assert {"and", "or", "not", "true", "false"} <= grammar_keywords()
    assert {"pre", "main", "shortcut"} <= keywords()
    assert grammar_keywords() == keywords() - {"pre", "main", "shortcut"} | {"true", "false", "and", "or", "not"}


def test_pygments_finds_the_lexer_by_its_entry_point():
    assert isinstance(get_lexer_by_name("arch"), ArchLexer)
    assert isinstance(get_lexer_for_filename("resnet50.arch"), ArchLexer)


def test_pygmentize_highlights_a_spec():
    pygmentize = shutil.which("pygmentize", path=str(Path(sys.executable).parent))
    assert pygmentize, "pygmentize comes with pygments (the test extra)"
    result = subprocess.run(
        [pygmentize, "-l", "arch", "-f", "html", str(REPO / "specs/torchvision/resnet18.arch")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert '<span class="kd">network</span>' in result.stdout


# ------------------------------------------------------------------ TextMate --


def _textmate() -> dict:
    return json.loads(TEXTMATE.read_text(encoding="utf-8"))


def _regexes(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node[key] for key in ("match", "begin", "end") if isinstance(node.get(key), str)]
        return own + [r for value in node.values() for r in _regexes(value)]
    if isinstance(node, list):
        return [r for value in node for r in _regexes(value)]
    return []


def test_the_textmate_grammar_is_json_whose_regexes_compile():
    grammar = _textmate()
    assert grammar["scopeName"] == "source.arch"
    regexes = _regexes(grammar)
    assert len(regexes) > 10
    for regex in regexes:
        re.compile(regex)
    for include in _includes(grammar):
        assert include.removeprefix("#") in grammar["repository"], include


def _includes(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["include"]] if "include" in node else []
        return own + [i for value in node.values() for i in _includes(value)]
    if isinstance(node, list):
        return [i for value in node for i in _includes(value)]
    return []


def _alternatives(regex: str) -> set[str]:
    inner = re.fullmatch(r"\\b\(\?:([a-z_|]+)\)\\b", regex)
    assert inner, regex
    return set(inner.group(1).split("|"))


def test_the_textmate_keywords_are_the_grammars():
    repository = _textmate()["repository"]
    assert _alternatives(repository["keyword"]["match"]) == keywords()
    assert _alternatives(repository["constant"]["match"]) == {"true", "false"}
    assert _alternatives(repository["word-operator"]["match"]) == {"and", "or", "not"}


def _textmate_scan(text: str) -> list[str]:
    """What TextMate's top-level patterns leave unmatched (besides blanks), scanning left to right."""
    grammar = _textmate()
    patterns = [grammar["repository"][p["include"][1:]] for p in grammar["patterns"]]
    flat: list[dict] = []
    for pattern in patterns:
        flat.extend(
            pattern.get("patterns", [pattern]) if "match" not in pattern and "begin" not in pattern else [pattern]
        )
    missed = []
    for line in text.splitlines():
        position = 0
        while position < len(line):
            if line[position].isspace():
                position += 1
                continue
            for pattern in flat:
                if (
                    "match" in pattern
                    and (found := re.compile(pattern["match"]).match(line, position))
                    and found.end() > position
                ):
                    position = found.end()
                    break
                if "begin" in pattern and (found := re.compile(pattern["begin"]).match(line, position)):
                    end = re.compile(pattern["end"]).search(line, found.end())
                    position = end.end() if end else len(line)
                    break
            else:
                missed.append(line[position])
                position += 1
    return missed


@pytest.mark.parametrize("path", shipped_specs(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_textmate_grammar_covers_every_shipped_spec(path: Path):
    missed = _textmate_scan(path.read_text(encoding="utf-8"))
    assert missed == []


def test_the_vscode_extension_names_files_that_exist():
    package = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    language = package["contributes"]["languages"][0]
    assert language["extensions"] == [".arch"]
    assert (VSCODE / language["configuration"]).is_file()
    assert (VSCODE / package["contributes"]["grammars"][0]["path"]).is_file()
    assert (VSCODE / package["main"]).is_file()
    assert package["contributes"]["configuration"]["properties"]["resnetDsl.server.command"]["default"] == [
        "resnet-dsl",
        "lsp",
    ]
    assert "vscode-languageclient" in package["dependencies"]
    assert "server.command" in (VSCODE / "extension.js").read_text(encoding="utf-8")
