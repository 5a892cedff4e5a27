"""Fuzzing the whole static pipeline: whatever the text, the only failure is an `ArchError`.

Mutations of the shipped specs, token soup, and the hostile classes of the hardening work
(deep nesting, huge numbers, doubling values, control characters, long lines, derivation
chains) go through parse, expand, summary, describe, fmt, graph and code generation; a few
go through the CLI, which must answer with exit 0, 1 or 2 (diff: 0, 1 or 2) and no traceback.
Deterministic (seeded) and bounded: run with `-m fuzz`; `FUZZ_CASES=5000 FUZZ_SEED=7` runs more.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.backends import torch_layout
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import loads_program
from resnet_dsl.review.archdiff import diff
from resnet_dsl.review.diffreport import describe, render_text
from resnet_dsl.review.formatter import format_source
from resnet_dsl.review.graph import to_dot
from resnet_dsl.review.mermaid import to_mermaid
from tests.conftest import REPO, SHIPPED_SPECS
from tests.test_fmt_meaning import TRICKY, assert_fmt_keeps_meaning
from tests.test_random_networks import LOCAL_BLOCK

pytestmark = pytest.mark.fuzz

CASES = int(os.environ.get("FUZZ_CASES", "150"))
SEED = int(os.environ.get("FUZZ_SEED", "20261128"))

SOURCES = [(REPO / spec).read_text(encoding="utf-8") for spec in SHIPPED_SPECS]
SOURCES = [text for text in SOURCES if "import" not in text]  # alone, without the files they import
CONSTRUCTS = [
    *TRICKY.values(),
    LOCAL_BLOCK
    + """
network R(input = 16x16x3, classes = 3) {
  stem { conv(8, 3, padding=same) -> bn -> relu }
  stage c2: graph(8, stride=2, side=true), eca(8, k=3), preact(16, stride=2), squeeze(16) * 2
  stage c3: gated(16), grow(8)
  head { global_avgpool -> dropout(0.25) -> dense(classes) }
}
""",
    """
block scaled(f, rate = 0.1) {
  main { depthwise_conv(7, padding=same) -> ln -> conv(4 * f, 1) -> activation(gelu) -> conv(f, 1) -> drop_path(rate) }
  out = add(main, input)
}
block lsd(f) {
  main { conv(f, 3, padding=same) -> layer_scale(1e-6) -> drop_path(0.1) }
  out = add(main, input)
}
network T(input = 16x16x8) {
  stage s: lsd(8) * 2, scaled(8)
  head { global_avgpool -> ln -> dense(4) }
}
network U = T() {
  stage s: lsd(8)
  stage t after s: lsd(8)
}
""",
    *(
        path.read_text(encoding="utf-8")
        for path in sorted([*REPO.glob("specs/*/*.arch"), *REPO.glob("tests/specs/*.arch")])
        if path.stat().st_size < 6000 and not {"import", "1202"} & set(re.findall(r"\w+", path.read_text("utf-8")))
    ),
]
"""The newer constructs (block graphs, `from` and conditions on paths, derivations of blocks and
networks, stages placed `after`, drop path and layer scale, ECA's conv1d, concat): the texts of
the zoo and of the other tests that use them (none that imports, nor ResNet-1202: seconds to
expand), mutated; a mutation that still checks must also keep its meaning under `fmt`."""

TOKENS = [
    "network", "block", "stage", "stem", "head", "main", "shortcut", "pre", "out", "defaults", "import",
    "from", "as", "true", "false", "{", "}", "(", ")", "[", "]", ",", ":", "=", "->", "*", "+", "-", "//",
    "/", "x", "conv", "bn", "relu", "add", "dense", "flatten", "basic", "identity", "input", "classes",
    "0", "1", "3", "64", "224x224x3", "1e999", "9" * 30, '"s"', '"\\n"', "#c\n", "\n", " ",
    "\x1b[2J", "\x00", "\u202e", "\t", "after", "before", "removed", "if", "else", "not", "and", "or",
    "drop_path", "layer_scale", "concat", "multiply", "in_channels", "none",
]  # fmt: skip


def hostile(rng: random.Random) -> str:
    """One of the classes the limits exist for, at a random size (often far past the limit)."""
    size = rng.choice([5, 50, 99, 101, 300, 2000])
    kind = rng.randrange(9)
    net = "network N(input = 8x8x3{}) {{\n  stem {{ conv(4, 3) }}\n  head {{ flatten }}\n}}\n"
    if kind == 0:
        return net.format(", a = " + "[" * size + "1" + "]" * size)
    if kind == 1:
        return net.format(", a = " + " + ".join(["1"] * size))
    if kind == 2:
        return net.format(", a = " + "- " * size + "1")
    if kind == 3:
        return net.format(", a = " + "9" * size + ", b = a * a")
    if kind == 4:
        return net.format(", p0 = [1, 1]" + "".join(f", p{i} = [p{i - 1}, p{i - 1}]" for i in range(1, size % 64)))
    if kind == 5:
        chain = "".join(f"network N{i} = N{i - 1}(c = {i})\n" for i in range(1, size))
        return "network N0(input = 8x8x3, c = 1) {\n  head { flatten }\n}\n" + chain
    if kind == 6:
        return net.format(", a = [" + "1, " * size * 3 + "1]")
    if kind == 7:
        return net.format(", a = " + " * ".join(["4294967296"] * (size % 7 + 1)) + " / 1e-300")
    return net.format(", a = " + rng.choice(['"\x1b[31m"', "1e308 * 1e308", "-9007199254740992", "[[]]"]))


def mutate(rng: random.Random, text: str) -> str:
    """A few random edits: delete, duplicate, insert a token, swap two slices."""
    for _ in range(rng.randint(1, 4)):
        if not text:
            break
        i, j = sorted(rng.randrange(len(text) + 1) for _ in range(2))
        edit = rng.randrange(4)
        if edit == 0:
            text = text[:i] + text[j:]
        elif edit == 1:
            text = text[:j] + text[i:j] + text[j:]
        elif edit == 2:
            text = text[:i] + rng.choice(TOKENS) + text[i:]
        else:
            k = rng.randrange(len(text) + 1)
            text = text[:i] + text[k:] + text[i:k] if i < k else text
    return text


def soup(rng: random.Random) -> str:
    return " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 60)))


def texts(kind: str) -> Iterator[str]:
    rng = random.Random(f"{SEED}-{kind}")
    for _ in range(CASES):
        if kind == "mutation":
            yield mutate(rng, rng.choice(SOURCES))
        elif kind == "soup":
            yield soup(rng)
        elif kind == "constructs":
            yield mutate(rng, rng.choice(CONSTRUCTS))
        else:
            yield mutate(rng, hostile(rng)) if rng.random() < 0.3 else hostile(rng)


def exercise(text: str, keeps_meaning: bool = False) -> None:
    """Everything a spec goes through without TensorFlow; only `ArchError` may escape (and, with
    `keeps_meaning`, a spec that checks keeps its networks under `fmt`)."""
    with contextlib.suppress(ArchError):
        format_source(text, "fuzz.arch")
    try:
        networks = loads_program(text, "fuzz.arch").check()
    except ArchError as error:
        assert error.render().startswith("fuzz.arch"), error.render()
        return
    for network in networks[:2]:
        resnet_dsl.summary(network)
        describe(network)
        to_dot(network, expand=True)
        to_mermaid(network, expand=True)
        render_text(diff(network, network))
        to_python(network)
        with contextlib.suppress(ArchError):  # a constraint of the torch back end: still located
            torch_layout.layout(network)
            to_python(network, target="torch")
    if keeps_meaning:
        assert_fmt_keeps_meaning(text, "fuzz.arch")


@pytest.mark.parametrize("kind", ["mutation", "soup", "hostile", "constructs"])
def test_only_arch_errors(kind: str) -> None:
    for text in texts(kind):
        try:
            exercise(text, keeps_meaning=kind == "constructs")
        except ArchError:
            pass  # from a step after check (e.g. generate): still a located error
        except Exception as error:  # pragma: no cover - a finding
            pytest.fail(f"{type(error).__name__}: {error}\nfor the spec:\n{text[:2000]!r}")


def test_random_bytes_and_encodings(tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-bytes")
    spec = tmp_path / "b.arch"
    for _ in range(CASES // 3):
        base = rng.choice(SOURCES).encode()
        position = rng.randrange(len(base))
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        spec.write_bytes(base[:position] + noise + base[position:])
        try:
            resnet_dsl.load(spec)
        except ArchError as error:
            assert error.render().startswith(str(spec)), error.render()


CLI_CASES: list[tuple[list[str], Callable[[random.Random], str], set[int]]] = [
    (["check"], hostile, {0, 1}),
    (["summary"], hostile, {0, 1}),
    (["fmt", "--check"], lambda rng: mutate(rng, rng.choice(SOURCES)), {0, 1}),
    (["describe", "--textconv"], hostile, {0}),
    (["generate"], lambda rng: mutate(rng, rng.choice(SOURCES)), {0, 1}),
    (["graph", "-o", "-"], hostile, {0, 1}),
]


@pytest.mark.parametrize(("command", "make", "codes"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_cli_paths_never_show_a_traceback(
    tmp_path: Path, command: list[str], make: Callable[[random.Random], str], codes: set[int]
) -> None:
    rng = random.Random(f"{SEED}-{command[0]}")
    spec = tmp_path / "f.arch"
    spec.write_text(make(rng))
    args = [command[0], str(spec), *command[1:]]
    result = subprocess.run(
        [sys.executable, "-m", "resnet_dsl", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode in codes, result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 1 and command[0] != "fmt":
        assert result.stderr.startswith(str(spec)), result.stderr


def test_diff_exits_2_on_any_error(tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}-diff")
    good, bad = tmp_path / "good.arch", tmp_path / "bad.arch"
    good.write_text((REPO / "specs/torchvision/resnet18.arch").read_text())
    for _ in range(3):
        bad.write_text(hostile(rng) + "\nnetwork")  # an error whatever else it holds
        for args in ([str(good), str(bad)], [str(bad), str(good)]):
            result = subprocess.run(
                [sys.executable, "-m", "resnet_dsl", "diff", *args], cwd=REPO, capture_output=True, text=True
            )
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr
