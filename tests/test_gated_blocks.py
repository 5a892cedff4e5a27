"""Paths that start from a merge (`project from multiply(main, se)`) and merges made only where a
condition holds (`out = add(project, input) if residual`): every back end computes the same."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import resnet_dsl
from resnet_dsl import ArchError
from resnet_dsl.codegen import to_python
from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

SPEC = "tests/specs/mbconv_gate.arch"


def test_the_gate_is_a_merge_the_projection_reads() -> None:
    network = resnet_dsl.load(SPEC)
    layers = {layer.name: layer for layer in network.layers}
    assert layers["s2_block2_se_excite"].inputs == ("s2_block2_activation", "s2_block2_se_1_sigmoid")
    assert layers["s2_block2_project_conv"].inputs == ("s2_block2_se_excite",)
    assert layers["s2_block2_add"].inputs == ("s2_block2_drop", "s2_block1_project_bn")
    # where the shape changes no add is made: the block's output is the merge's first input
    assert "s2_block1_add" not in layers and "s1_block1_add" not in layers
    assert layers["s2_block2_expand_conv"].inputs == ("s2_block1_project_bn",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("project from multiply(add(main, se), se) { conv(4, 1) }", "starts from one merge of paths"),
        ("project from multiply(main, nope) { conv(4, 1) }", "no path of block"),
    ],
)
def test_merge_sources_are_checked(text: str, message: str) -> None:
    spec = (
        "block b() {\n  main { conv(4, 1) }\n  se from main { global_avgpool(keepdims=true) -> sigmoid }\n"
        f"  {text}\n  out = add(project, input)\n}}\nnetwork N(input = 8x8x4) {{\n  stage s: b()\n}}\n"
    )
    with pytest.raises(ArchError, match=message):
        resnet_dsl.loads(spec)


def test_a_conditional_merge_names_a_path_first() -> None:
    spec = (
        "block b(r = true) {\n  main { conv(4, 1) }\n  out = add(multiply(main, input), input) if r\n}\n"
        "network N(input = 8x8x4) {\n  stage s: b()\n}\n"
    )
    with pytest.raises(ArchError, match="must name a path first"):
        resnet_dsl.loads(spec)


def test_formatting_keeps_both() -> None:
    from resnet_dsl.review.formatter import format_source

    text = Path(SPEC).read_text(encoding="utf-8")
    assert format_source(text) == text  # already canonical
    assert 'project from multiply(main, se) as "se_excite" {' in text
    assert 'out = add(project, input) as "add" if residual' in text


@pytest.mark.keras
def test_generated_keras_is_to_keras() -> None:
    pytest.importorskip("keras")
    generated = import_source(to_python(SPEC)).build_model()
    reference = resnet_dsl.to_keras(SPEC)
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)


@pytest.mark.keras
def test_keras_torch_and_generated_torch_agree() -> None:
    pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch
    from tests.test_torch_backend import randomized

    network = resnet_dsl.load(SPEC)
    keras_model = randomized(resnet_dsl.to_keras(network))
    module = to_torch(network).eval()
    keras_weights_to_torch(network, keras_model, module)
    generated = import_source(to_python(SPEC, target="torch")).build_model().eval()
    generated.load_state_dict(module.state_dict(), strict=True)
    images = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype(np.float32)
    expected = np.asarray(keras_model(images, training=False))
    with torch.no_grad():
        batch = torch.from_numpy(images).permute(0, 3, 1, 2)
        for model in (module, generated):
            actual = model(batch).numpy()
            assert np.abs(actual - expected).max() <= 1e-5 * max(np.abs(expected).max(), 1.0)
