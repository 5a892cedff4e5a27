"""`fmt` keeps meaning: the networks a spec expands to are the same before and after it.

The layout tests (tests/test_formatter.py) hold what `fmt` writes; these hold what it must never
change, whatever it writes: every network of the file, layer for layer (name, kind, options,
inputs, shape, parameters, origin), its stages and its parameters. What `fmt` writes passes
`check`, formats to itself, and keeps every comment of the input. Inputs: every shipped spec
re-spaced with comments everywhere a comment may go (fixed seeds), constructs `fmt` got wrong
before (an empty `stem { }` of a derivation dropped, a comment inside one lost), and small random
networks (Hypothesis, fixed seed, 25 by default; FMT_MEANING_CASES=500 hunts longer).
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from resnet_dsl.language.parser import comments
from resnet_dsl.network.loader import loads_program
from resnet_dsl.review.formatter import format_source
from tests.conftest import REPO
from tests.test_formatter import _perturbed
from tests.test_random_networks import specs

SHIPPED = sorted(str(p.relative_to(REPO)) for p in [*REPO.glob("specs/*/*.arch"), *REPO.glob("tests/specs/*.arch")])

TRICKY = {
    "empty sections of a derivation, comments inside": """
network A(input = 8x8x3, classes = 4, deep = false) {
  stem { conv(4, 3) -> relu if deep }
  stage s: basic(4)
  head { global_avgpool -> dense(classes) }
}
network B = A(deep = true) {
  head { # no head at all
  }
  stem {
    # nor a stem
  } # after
}
network C = A(classes = 2) {
  head {} # a trailing comment
}
""",
    "expressions that need their brackets": """
network N(input = 8x8x3, a = 2, b = 3, c = -(2 + 3) * 4, d = 2 - (3 - 4), e = (a if a > b else b) * 2,
  f = not (true and false) or false, g = [a, b][1] // 2, h = "q\\"s\\\\ \\n", i = 1.50e-3, j = 10 / 4) {
  stem { conv(e + g, 3, padding=same) -> relu }
  head { global_avgpool }
}
""",
    "block derivations, paths and conditions": """
block unit(f, stride = 1, gate = false) {
  project = stride != 1 or in_channels != f
  pre { bn -> relu }
  main { conv(f, 3, stride=stride, padding=same) -> bn }
  se from main if gate { global_avgpool -> dense(f) -> sigmoid }
  shortcut from (pre if project else input) { conv(f, 1, stride=stride) if project }
  out = add(multiply(main, se), shortcut) -> relu
}
block down = unit(stride=2)
block gated = unit(gate=true)
network N(input = 16x16x3) {
  stage s1: unit(8), gated(8) * 2
  stage s2: down(16), unit(16) * 0
  head { global_avgpool -> dense(3) }
}
""",
}


def meaning(text: str, path: str = "<string>") -> list[dict[str, Any]]:
    """Every network a spec expands to, as data: what `fmt` must leave as it is."""
    found = []
    for network in loads_program(text, path).check():
        found.append(
            {
                "name": network.name,
                "params": network.params,
                "stages": [(s.label, [(b.name, b.block, b.args, b.layers) for b in s.blocks]) for s in network.stages],
                "layers": [
                    (layer.name, layer.config, layer.inputs, layer.output_shape, layer.params, layer.origin)
                    for layer in network.layers
                ],
            }
        )
    return found


def assert_fmt_keeps_meaning(text: str, path: str = "<string>") -> None:
    formatted = format_source(text, path)
    assert meaning(formatted, path) == meaning(text, path)
    assert sorted(body for *_, body in comments(formatted)) == sorted(body for *_, body in comments(text))
    assert format_source(formatted, path) == formatted


@pytest.mark.parametrize("spec", SHIPPED)
def test_shipped_specs_respaced_and_commented_keep_their_networks(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / spec).read_text(encoding="utf-8")
    choices = random.Random(f"fmt-meaning {spec}").choices(range(64), k=97)
    monkeypatch.chdir((REPO / spec).parent)  # imports are relative to the spec
    assert_fmt_keeps_meaning(_perturbed(text, choices), str(REPO / spec))


@pytest.mark.parametrize("name", list(TRICKY))
def test_constructs_fmt_got_wrong_keep_their_meaning(name: str) -> None:
    text = TRICKY[name]
    assert_fmt_keeps_meaning(text)
    for index in range(5):  # and re-spaced, comments between every two tokens
        assert_fmt_keeps_meaning(_perturbed(text, random.Random(f"{name} {index}").choices(range(64), k=53)))


@seed(20261201)
@given(specs())
@settings(
    max_examples=int(os.environ.get("FMT_MEANING_CASES", "25")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_random_networks_keep_their_meaning(text: str) -> None:
    assert_fmt_keeps_meaning(text)


def test_the_property_sees_a_dropped_empty_head() -> None:
    """What the property is for: `fmt` dropped a derivation's empty `head { }`, which gave C its
    parent's head back."""
    text = TRICKY["empty sections of a derivation, comments inside"]
    formatted = format_source(text)
    assert "  head {}  # a trailing comment\n" in formatted
    assert meaning(formatted.replace("  head {}  # a trailing comment\n", "")) != meaning(text)
