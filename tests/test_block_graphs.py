"""Blocks as small dataflow graphs: named paths, conditions, values, `in_channels`, merge
expressions; each through the static pipeline, the formatter, and (marked keras) Keras and
the generated code."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import parse_module
from resnet_dsl.review.formatter import format_source

# One definition for both the identity and the projecting block; a side path that starts
# from main; a conditional layer and a conditional option value.
GRAPH = """
block unit(filters, stride = 1) {
  project = stride != 1 or in_channels != filters
  main {
    zeropad(1) if project -> conv(filters, 3, stride=stride, padding=valid if project else same) -> bn -> relu
    conv(filters, 3, padding=same) -> bn
  }
  side from main {
    conv(filters, 1) -> bn
  }
  shortcut if project {
    conv(filters, 1, stride=stride) -> bn
  }
  out = add(add(main, side), shortcut) -> relu
}

network Graph(input = 16x16x3, classes = 4) {
  stem {
    c1: conv(8, 3, padding=same) -> relu
  }
  stage s2: unit(8), unit(8)
  stage s3: unit(16, stride=2), unit(16)
  head {
    global_avgpool -> dense(classes)
  }
}
"""


def layer_names(network: resnet_dsl.Network, block: str) -> list[str]:
    return [layer.name for layer in network.layers if layer.origin.block == block]


def test_conditions_leave_out_paths_and_layers() -> None:
    network = resnet_dsl.loads(GRAPH)
    # s2_block1: in_channels == filters and stride 1, so no projection, no padding.
    assert layer_names(network, "s2_block1") == [
        "s2_block1_1_conv", "s2_block1_1_bn", "s2_block1_1_relu", "s2_block1_2_conv", "s2_block1_2_bn",
        "s2_block1_side_1_conv", "s2_block1_side_1_bn", "s2_block1_add_1", "s2_block1_add", "s2_block1_out",
    ]  # fmt: skip
    assert network.layer("s2_block1_1_conv").config.padding == "same"
    # s3_block1: stride 2, so the padding, a valid convolution, and the shortcut's projection.
    names = layer_names(network, "s3_block1")
    assert names[0] == "s3_block1_1_pad" and "s3_block1_0_conv" in names
    assert network.layer("s3_block1_1_conv").config.padding == "valid"
    assert network.layer("s3_block1_add").inputs == ("s3_block1_add_1", "s3_block1_0_bn")
    assert network.layer("s3_block1_add_1").inputs == ("s3_block1_2_bn", "s3_block1_side_1_bn")
    assert network.layer("s3_block1_side_1_conv").inputs == ("s3_block1_2_bn",)  # side from main
    # An identity shortcut is the block's input itself.
    assert network.layer("s3_block2_add").inputs == ("s3_block2_add_1", "s3_block1_out")
    blocks = network.stages[1].blocks
    assert [b.input_shape for b in blocks] == [(16, 16, 8), (8, 8, 16)]


def test_paths_run_after_their_sources_and_pre_main_shortcut_first() -> None:
    text = """
block b(f) {
  late from early { relu }
  early { conv(f, 1) }
  shortcut { conv(f, 1) }
  main { conv(f, 3, padding=same) }
  out = add(main, shortcut, late)
}
network N(input = 8x8x3) {
  stage s: b(4)
}
"""
    network = resnet_dsl.loads(text)
    order = [layer.origin.path for layer in network.layers if layer.origin.block == "s_block1"]
    assert order == ["main", "shortcut", "early", "late", "out"]


def test_network_values_in_conditions_of_stem_and_head_layers() -> None:
    text = """
network N(input = 8x8x3, deep = false) {
  stem {
    c: conv(4, 3) -> relu if deep
  }
}
"""
    assert [layer.name for layer in resnet_dsl.loads(text).layers] == ["input_layer", "c_conv"]
    assert resnet_dsl.loads(text, overrides={"deep": True}).layers[-1].name == "c_relu"


def test_expressions_compare_and_combine() -> None:
    text = """
network N(input = 8x8x3, a = 3, b = 4, p = same) {
  stem {
    conv(8 if a < b and not a == b else 2, 3, padding=p) if p == same or a >= 10
  }
}
"""
    network = resnet_dsl.loads(text)
    assert network.layers[-1].output_shape == (8, 8, 8)


ERRORS = [
    (
        "unknown source",
        "block b(f) {\n  main { relu }\n  se from mian { relu }\n  out = add(main, se)\n}",
        "starts from 'mian'",
        (3, 3),
        "main",
    ),
    (
        "cycle",
        "block b(f) {\n  main { relu }\n  a from c { relu }\n  c from a { relu }\n  out = add(main, a, c)\n}",
        "cycle",
        (3, 3),
        None,
    ),
    (
        "non-boolean condition",
        "block b(f) {\n  main { relu }\n  shortcut if f { relu }\n  out = add(main, shortcut)\n}",
        "a condition needs true or false, got 4",
        (3, 15),
        "stride != 1",
    ),
    (
        "non-boolean operand",
        "block b(f) {\n  main { relu if f > 1 and 2 }\n  out = add(main, shortcut)\n}",
        "'and' needs true or false, got 2",
        (2, 28),
        None,
    ),
    (
        "merge of mismatched shapes names the paths",
        "block b(f) {\n  main { conv(f, 1) }\n  out = add(main, shortcut)\n}",
        "add of main (None, 8, 8, 4), shortcut (None, 8, 8, 3)",
        (3, 9),
        "projection",
    ),
    (
        "unused path",
        "block b(f) {\n  main { relu }\n  extra { relu }\n  out = add(main, shortcut)\n}",
        "path 'extra' of block 'b' is never used",
        (3, 3),
        None,
    ),
    (
        "in_channels cannot be redefined",
        "block b(f) {\n  in_channels = 3\n  main { relu }\n  out = add(main, shortcut)\n}",
        "cannot be redefined",
        (2, 3),
        None,
    ),
    (
        "unknown path in a nested merge",
        "block b(f) {\n  main { relu }\n  out = add(add(main, shortcat), shortcut)\n}",
        "add takes path names",
        (3, 23),
        "shortcut",
    ),
    (
        "a layer is no merge",
        "block b(f) {\n  main { relu }\n  out = add(relu(main, shortcut), main)\n}",
        "'relu' does not merge paths",
        (3, 13),
        None,
    ),
    (
        "a merge without paths reads main, which is missing, at the merge",  # found by the grammar fuzz
        "block b(f) {\n  extra { relu }\n  out = add\n}",
        "add takes path names",
        (3, 9),
        None,
    ),
    (
        "a path named input",
        "block b(f) {\n  input { relu }\n  out = add(main, shortcut)\n}",
        "'input' cannot name a path",
        (2, 3),
        None,
    ),
]


@pytest.mark.parametrize(("what", "block", "message", "where", "hint"), ERRORS, ids=[e[0] for e in ERRORS])
def test_located_errors(what: str, block: str, message: str, where: tuple[int, int], hint: str | None) -> None:
    text = block + "\nnetwork N(input = 8x8x3) {\n  stage s: b(4)\n}\n"
    with pytest.raises(ArchError) as caught:
        resnet_dsl.loads(text, path="t.arch")
    assert message in caught.value.message
    assert (caught.value.span.line, caught.value.span.column) == where
    if hint is not None:
        assert caught.value.hint is not None and hint in caught.value.hint
    assert "^" in caught.value.render()


def test_format_is_canonical_and_keeps_meaning() -> None:
    messy = GRAPH.replace("  project = ", "project=").replace(" -> ", "->").replace("if project {", "if project{")
    formatted = format_source(messy)
    assert formatted == format_source(formatted)
    assert parse_module(formatted) == parse_module(GRAPH)
    assert "  shortcut if project {\n" in formatted
    assert "  out = add(add(main, side), shortcut) -> relu\n" in formatted


@pytest.mark.keras
def test_keras_and_generated_code_agree() -> None:
    pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.codegen import to_python
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

    network = resnet_dsl.loads(GRAPH)
    reference = to_keras(network)
    assert reference.count_params() == network.total_params.total
    source = to_python(network)
    assert "in_channels = x.shape[-1]" in source
    assert "    if project:\n" in source
    generated = import_source(source).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


# A pre-activation block in one definition: the shortcut starts from the pre-activation
# where it projects, from the raw input where it does not.
PREACT = """
block preact(filters, stride = 1) {
  project = stride != 1 or in_channels != filters
  pre {
    bn -> relu
  }
  main {
    conv(filters, 3, stride=stride, padding=same) -> bn -> relu
  }
  shortcut from (pre if project else input) {
    conv(filters, 1, stride=stride) if project
  }
  out = add(main, shortcut)
}

network P(input = 8x8x3) {
  stem {
    c: conv(4, 3, padding=same)
  }
  stage s: preact(8, stride=2), preact(8)
  head {
    global_avgpool -> dense(2)
  }
}
"""


def test_a_path_chooses_its_source_per_call() -> None:
    network = resnet_dsl.loads(PREACT)
    assert network.layer("s_block1_0_conv").inputs == ("s_block1_preact_relu",)
    assert network.layer("s_block1_out").inputs == ("s_block1_1_relu", "s_block1_0_conv")
    assert network.layer("s_block2_out").inputs == ("s_block2_1_relu", "s_block1_out"), "the raw input"
    formatted = format_source(PREACT.replace("from (pre if project else input)", "from(pre   if project else input)"))
    assert "  shortcut from (pre if project else input) {\n" in formatted
    assert parse_module(formatted) == parse_module(PREACT)


@pytest.mark.parametrize(
    ("old", "new", "message", "hint"),
    [
        ("else input)", "else inptu)", "starts from 'inptu', which is no path", "did you mean 'input'?"),
        (
            "conv(filters, 1, stride=stride) if project\n",
            "",
            "chooses its source but has no layers",
            "merge the source",
        ),
    ],
)
def test_a_chosen_source_is_checked(old: str, new: str, message: str, hint: str) -> None:
    with pytest.raises(ArchError) as caught:
        resnet_dsl.loads(PREACT.replace(old, new, 1), path="t.arch")
    assert message in caught.value.message
    assert caught.value.hint is not None and hint in caught.value.hint


@pytest.mark.keras
def test_a_chosen_source_in_keras_torch_and_generated_code() -> None:
    """Both generated modules choose the source as `to_keras` and `to_torch` do, per call."""
    pytest.importorskip("keras")
    from resnet_dsl.analysis.summary import summary
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.codegen import to_python
    from tests.test_codegen import assert_same_model, assert_same_outputs, import_source
    from tests.test_random_networks import assert_torch_agrees

    network = resnet_dsl.loads(PREACT)
    reference = to_keras(network)
    source = to_python(network)
    assert "shortcut = preact if project else inputs\n" in source
    generated = import_source(source).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)
    assert_torch_agrees(network, reference, summary(network))


@pytest.mark.keras
def test_instances_that_choose_other_sources_share_one_torch_class_that_chooses() -> None:
    """Same modules, another source: one generated class (one per block kind, issue 16) whose
    forward chooses each instance's source, and computes what Keras computes."""
    pytest.importorskip("keras")
    from resnet_dsl.analysis.summary import summary
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.codegen import to_python
    from tests.test_random_networks import assert_torch_agrees

    text = (
        "block choose(f, a = true) {\n  pre {\n    bn -> relu\n  }\n  main {\n    conv(f, 3, padding=same)\n  }\n"
        "  shortcut from (pre if a else input) {\n    conv(f, 1)\n  }\n  out = add(main, shortcut)\n}\n"
        "network C(input = 8x8x4) {\n  stage s: choose(4), choose(4, a=false)\n"
        "  head {\n    flatten -> dense(2)\n  }\n}\n"
    )
    network = resnet_dsl.loads(text)
    assert network.layer("s_block2_0_conv").inputs == ("s_block1_out",)
    assert to_python(network, target="torch").count("class Choose") == 1
    assert_torch_agrees(network, to_keras(network), summary(network))
