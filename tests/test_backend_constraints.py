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


DERIVED = """
network N(input = 16x16x3, classes = 10, width = WIDTH) {
  stem { conv(width, 3) -> relu }
  stage s: basic(width)
  head { global_avgpool -> dense(classes) }
}
"""


def _signature(source: str) -> list[str]:
    import ast

    (build,) = (node for node in ast.parse(source).body if getattr(node, "name", "") == "build_model")
    return [arg.arg for arg in build.args.args]


def test_build_model_takes_classes_only_where_the_spec_computes_nothing_else_from_it() -> None:
    """`build_model(classes=20)` changed the head but not `width = classes * 2`: 1,211 parameters
    where the spec with `--set classes=20` has 2,381. An argument is offered only where
    changing it builds what the spec with that value builds; otherwise it is fixed, and said so."""
    free = resnet_dsl.loads(DERIVED.replace("WIDTH", "8"))
    module = import_source(to_python(free, target="torch")).build_model(classes=20)
    expected = resnet_dsl.summary(resnet_dsl.loads(DERIVED.replace("WIDTH", "8"), overrides={"classes": 20}))
    assert sum(p.numel() for p in module.parameters()) == expected["torch"]["params"]
    assert _signature(to_python(free)) == ["input_shape", "classes"]

    derived = resnet_dsl.loads(DERIVED.replace("WIDTH", "classes * 2"))
    for target in ("keras", "torch"):
        source = to_python(derived, target=target)
        assert "classes" not in _signature(source), target
        assert "classes is fixed at 10: the spec computes other values from it;" in source
    generated = import_source(to_python(derived, target="torch"))
    with pytest.raises(TypeError):
        generated.build_model(classes=20)
    expected = resnet_dsl.summary(derived)["torch"]["params"]
    assert sum(p.numel() for p in generated.build_model().parameters()) == expected


@pytest.mark.parametrize(
    ("params", "fixed"),
    [
        ("input = 16x16x3, classes = 10, width = 8", []),
        ("input = 16x16x3, classes = 10, width = 8, deep = classes > 5", ["classes"]),  # a condition
        ("input = 16x16x3, classes = 10, width = input[2] * 2", ["input"]),
    ],
)
def test_a_parameter_the_spec_computes_from_is_fixed_in_generated_keras(params: str, fixed: list[str]) -> None:
    text = DERIVED.replace("input = 16x16x3, classes = 10, width = WIDTH", params)
    source = to_python(resnet_dsl.loads(text.replace("-> relu", "-> relu if deep" if "deep" in params else "-> relu")))
    offered = {"input_shape": "input", "classes": "classes"}
    assert _signature(source) == [argument for argument, name in offered.items() if name not in fixed]
    assert [name for name in offered.values() if f"{name} is fixed at" in source] == fixed
