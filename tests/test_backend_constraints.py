"""Specs that pass `check` build in every back end: cases that passed `check` and broke one.

Torch only (no Keras start-up): the generated Keras source is compiled, and its counterpart
in torch is run, so each case stays a second or two.
"""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from tests.test_codegen import import_source

torch = pytest.importorskip("torch")

CONDITIONAL = """
network N(input = 16x16x3, classes = 10, deep = false) {
  stem { conv(8, 3) -> relu if deep -> bn }
  stage s: basic(8)
  head { global_avgpool -> dropout(0.5) if deep -> dense(classes) }
}
"""


@pytest.mark.parametrize("deep", ["false", "true"])
def test_classes_with_a_stem_or_head_layer_left_out_generates_code_that_builds(deep: str) -> None:
    """`generate` raised `ValueError: zip() argument 2 is longer than argument 1` (48 of 114
    random conditional specs) though `check`, `build` and `build --target torch` passed."""
    network = resnet_dsl.loads(CONDITIONAL.replace("deep = false", f"deep = {deep}"))
    compile(to_python(network), "<keras>", "exec")
    module = import_source(to_python(network, target="torch")).build_model()
    expected = resnet_dsl.summary(network)["torch"]["params"]
    assert sum(p.numel() for p in module.parameters()) == expected
    wider = import_source(to_python(network, target="torch")).build_model(classes=20)
    assert wider(torch.zeros(1, 3, 16, 16)).shape == (1, 20)
