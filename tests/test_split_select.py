"""Split and select: `split(groups, index)` (one equal group of the channels) and the merge
`select(attention, b0, b1, ...)` (the branches weighted by a softmax across them), which write
Res2Net's and the Selective Kernel's blocks (`specs/timm/res2net50_26w_4s.arch`,
`specs/timm/skresnet18.arch`; timm's weights and outputs: `tests/test_timm_zoo.py`).

Here: misuse is a located error; Keras builds both specs, and their generated Keras modules,
with the static figures (the random networks hold outputs across every back end).
"""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError
from tests.test_codegen import assert_same_model, import_source

BLOCK = """
block sk(f, groups = 2, index = 1, width = 2) {{
  x0 {{
    split(groups, 0)
  }}
  x1 {{
    split(groups, index)
  }}
  p0 from x0 {{
    conv(f, 3, padding=1)
  }}
  p1 from x1 {{
    conv(f, 3, padding=1)
  }}
  attn from add(p0, p1) {{
    global_avgpool(keepdims=true) -> conv(width * f, 1)
  }}
  main from {merge} {{
    conv(f, 1)
  }}
  out = add(main, shortcut)
}}

network N(input = 8x8x4) {{
  stage s: {call}
}}
"""


@pytest.mark.parametrize(
    ("call", "merge", "message", "line"),
    [
        ("sk(4, groups=3)", "select(attn, p0, p1)", "split into 3 groups needs channels that 3 divides, got 4", 4),
        ("sk(4, index=2)", "select(attn, p0, p1)", r"split\(2, 2\) takes group 2 of 2, which does not exist", 7),
        ("sk(4, width=3)", "select(attn, p0, p1)", "select's attention must be a gate of 2 x 4 = 8 channels", 18),
        ("sk(4)", "select(attn, p0)", "select needs an attention and at least two branches", 18),
        ("sk(4)", "select(p0, p1, attn)", "select's branches differ in shape", 18),
    ],
)
def test_misuse_is_a_located_error(call: str, merge: str, message: str, line: int) -> None:
    with pytest.raises(ArchError, match=message) as error:
        resnet_dsl.loads(BLOCK.format(call=call, merge=merge))
    assert error.value.span.line == line


def test_split_and_select_figures() -> None:
    network = resnet_dsl.loads(BLOCK.format(call="sk(4)", merge="select(attn, p0, p1)"))
    shapes = {layer.name: layer.output_shape for layer in network.layers}
    assert shapes["s_block1_x0_1_split"] == (8, 8, 2)
    assert shapes["s_block1_main_select"] == (8, 8, 4)
    select = next(layer for layer in network.layers if layer.kind == "select")
    assert (select.params.total, select.macs) == (0, 0)
    assert select.inputs == ("s_block1_attn_1_conv", "s_block1_p0_1_conv", "s_block1_p1_1_conv")


@pytest.mark.keras
@pytest.mark.parametrize(
    "spec",
    ["specs/timm/skresnet18.arch", pytest.param("specs/timm/res2net50_26w_4s.arch", marks=pytest.mark.slow)],
)
def test_keras_builds_them_and_their_generated_modules(spec: str) -> None:
    keras = pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.codegen import to_python

    keras.backend.clear_session()
    network = resnet_dsl.load(spec, overrides={"input": "64x64x3"})
    model = to_keras(network)
    assert model.count_params() == network.total_params.total
    trainable = sum(int(w.shape.num_elements() if hasattr(w.shape, "num_elements") else w.numpy().size)
                    for w in model.trainable_weights)  # fmt: skip
    assert trainable == network.total_params.trainable
    generated = import_source(to_python(network)).build_model()
    assert_same_model(generated, model)


def test_graph_labels_say_what_the_layers_do() -> None:
    from resnet_dsl.review.graph import layer_label

    network = resnet_dsl.loads(BLOCK.format(call="sk(4)", merge="select(attn, p0, p1)"))
    labels = {layer.name: layer_label(layer) for layer in network.layers}
    assert labels["s_block1_x1_1_split"].endswith("split: group 2 of 2")
    blurred = resnet_dsl.load("specs/timm/resnetblur50.arch")
    labels = {layer.name: layer_label(layer) for layer in blurred.layers}
    assert labels["pool1_pad"].endswith("pad reflect 1 1 1 1")
    assert labels["pool1_blur"].endswith("blur 3x3, stride 2")
