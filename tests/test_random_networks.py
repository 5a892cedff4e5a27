"""Random small networks through every back end: the static summary, `to_keras`, `to_torch` and
both generated modules must agree layer for layer (Hypothesis draws the specs).

12 networks a run; `RANDOM_NETWORKS=200 pytest tests/test_random_networks.py` hunts longer.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resnet_dsl
from resnet_dsl.analysis.summary import summary
from resnet_dsl.codegen import to_python
from tests.test_codegen import assert_same_model, assert_same_outputs, import_source

pytestmark = pytest.mark.keras

LOCAL_BLOCK = """
block squeeze(f, act = relu) {
  pre { bn }
  main {
    reduce: conv(f // 2, 1) -> activation(act)
    conv(f, 3, padding=same) as "expand"
  }
  shortcut from pre {}
  out = add(main, shortcut, input) -> relu
}

block graph(f, stride = 1, side = false) {
  project = stride != 1 or in_channels != f
  main {
    zeropad(1) if project -> conv(f, 3, stride=stride, padding=valid if project else same) -> bn
  }
  gate from main if side {
    global_avgpool -> dense(f) -> sigmoid
  }
  shortcut if project {
    conv(f, 1, stride=stride)
  }
  out = add(multiply(main, gate), shortcut) -> relu
}

block gated(f, keep = false) {
  main {
    depthwise_conv(3, padding=same) -> gn(2) -> relu -> dropout(0.1)
    separable_conv(f, 3, padding=same, use_bias=false) -> ln
  }
  shortcut {
    global_avgpool(keepdims=keep) -> dense(f) -> sigmoid
  }
  out = multiply(main, shortcut) -> relu
}

block option_a(f, pad, stride) {
  main {
    conv(f, 3, stride=stride, padding=same, use_bias=false) -> bn -> relu
  }
  shortcut {
    subsample(stride) -> zeropad(channels=[pad, pad])
  }
  out = add(main, shortcut)
}

block eca(f, k = 3) {
  main {
    conv(f, 3, padding=same, use_bias=false) -> bn
  }
  se from main {
    global_avgpool -> reshape([-1, 1]) -> conv1d(1, k, padding=same, use_bias=false) -> reshape([1, 1, -1]) -> sigmoid
  }
  out = add(multiply(main, se), input) -> relu
}

block preact(f, stride = 1) {
  project = stride != 1 or in_channels != f
  pre {
    bn -> relu
  }
  main {
    conv(f, 3, stride=stride, padding=same, use_bias=false) -> bn -> relu
  }
  shortcut from (pre if project else input) {
    conv(f, 1, stride=stride) if project
  }
  out = add(main, shortcut)
}

block blurred(f, stride = 1, mode = reflect) {
  main {
    conv(f, 3, padding=1, use_bias=false) -> bn -> relu
    pad(1, mode=mode) -> blur(3, stride=stride)
  }
  shortcut {
    pad([0, 1], mode=replicate) -> blur([1, 3], stride=stride) -> conv(f, 1)
  }
  out = add(main, shortcut)
}

block selective(f) {
  x0 {
    split(2, 0)
  }
  x1 {
    split(2, 1)
  }
  p0 from x0 {
    conv(f, 3, padding=1, use_bias=false) -> bn -> relu
  }
  p1 from x1 {
    conv(f, 3, padding=2, dilation=2) -> relu
  }
  attn from add(p0, p1) {
    global_avgpool(keepdims=true) -> conv(2 * f, 1)
  }
  main from select(attn, p0, p1) {
    conv(f, 1)
  }
  out = add(main, shortcut) -> relu
}

block cnx(f, scale = 1e-6, rate = 0.0) {
  main {
    depthwise_conv(7, padding=same) -> ln -> conv(4 * f, 1) -> activation(gelu) -> conv(f, 1)
    layer_scale(scale) -> drop_path(rate)
  }
  out = add(main, input)
}

block grow(f) {
  main {
    conv(f, 1) -> upsample(2) -> subsample(2)
  }
  out = concat(main, shortcut)
}
"""


FAMILIES = (
    "basic",
    "bottleneck",
    "seed",
    "squeeze",
    "gated",
    "option_a",
    "grow",
    "graph",
    "eca",
    "preact",
    "blurred",
    "convnext",
    "selective",
)
"""The kinds of stage a random network draws from (a stage's blocks are of one kind)."""


@st.composite
def specs(draw: st.DrawFn, families: tuple[str, ...] = FAMILIES) -> str:
    """A small random network; its stages draw their blocks from `families`."""
    size = draw(st.sampled_from([8, 12, 16]))
    channels = draw(st.integers(1, 4))
    lines = [LOCAL_BLOCK, f"network Random(input = {size}x{size}x{channels}, classes = {draw(st.integers(2, 5))}) {{"]
    width = draw(st.sampled_from([4, 8]))
    stem = [f"conv({width}, {draw(st.sampled_from([1, 3]))}, padding=same)"]
    stem += draw(st.lists(st.sampled_from(["bn(momentum=0.9)", "relu", "activation(gelu)"]), max_size=2, unique=True))
    if draw(st.booleans()):
        pools = ["maxpool(2)", "pad(1, mode=replicate) -> maxpool(3, stride=2)", "avgpool(3, stride=2, padding=1)"]
        stem.append(draw(st.sampled_from(pools)))
        size //= 2
    lines += ["  stem {", "    s: " + " -> ".join(stem), "  }"]
    for index in range(draw(st.integers(1, 3))):
        stride = draw(st.sampled_from([1, 2])) if size >= 4 else 1
        size = (size + stride - 1) // stride
        width = draw(st.sampled_from([4, 8]))
        repeats = draw(st.integers(0, 2))
        family = draw(st.sampled_from(families))
        if family == "basic":
            calls = f"basic_projection({width}, stride={stride}), basic({width}) * {repeats}"
        elif family == "bottleneck":
            calls = f"bottleneck_projection({width}, stride={stride}), bottleneck({width}) * {repeats}"
            width *= 4
        elif family == "seed":
            filters = f"[{width}, {width}, {2 * width}]"
            calls = f"convolutional(3, {filters}, s={stride}), identity(3, {filters}) * {repeats}"
            width *= 2
        elif family == "graph":
            side = draw(st.sampled_from(["true", "false"]))
            calls = f"graph({width}, stride={stride}, side={side}), graph({width}) * {repeats}"
        elif family == "squeeze":
            calls = f"basic_projection({width}, stride={stride}), squeeze({width}, act=sigmoid) * {repeats + 1}"
        elif family == "gated":
            keep = draw(st.sampled_from(["true", "false"]))
            calls = f"basic_projection({width}, stride={stride}), gated({width}, keep={keep}) * {repeats}"
        elif family == "eca":
            kernel = draw(st.sampled_from([1, 3, 5]))
            calls = f"basic_projection({width}, stride={stride}), eca({width}, k={kernel}) * {repeats + 1}"
        elif family == "blurred":
            # reflection needs more than the one row or column it reflects, in every block
            mode = draw(st.sampled_from(["reflect", "replicate"])) if size >= 2 else "replicate"
            calls = f"blurred({width}, stride={stride}, mode={mode}), blurred({width}, mode={mode}) * {repeats}"
        elif family == "selective":  # channels split in two, a softmax over the two branches
            calls = f"basic_projection({width}, stride={stride}), selective({width}) * {repeats + 1}"
        elif family == "convnext":  # layer scale, and drop path (the identity at inference)
            scale, rate = draw(st.sampled_from(["0.5", "1.0", "1e-6"])), draw(st.sampled_from(["0.0", "0.1"]))
            calls = f"basic_projection({width}, stride={stride}), cnx({width}, {scale}, {rate}) * {repeats + 1}"
        elif family == "preact":
            calls = f"preact({width}, stride={stride}), preact({width}) * {repeats}"
        elif family == "option_a":
            previous, width = width, 2 * width
            calls = f"basic_projection({previous}, stride=1), option_a({width}, {previous // 2}, {stride})"
            calls += f", basic({width}) * {repeats}"
        else:
            calls = f"basic_projection({width}, stride={stride}), grow({width // 2}) * {repeats}"
            width += repeats * (width // 2)
        lines.append(f"  stage c{index + 2}: {calls}")
    head = draw(
        st.sampled_from(
            [
                "global_avgpool",
                "global_maxpool",
                "flatten",
                "avgpool(1) -> flatten",
                "global_avgpool(keepdims=true) -> reshape([-1])",
            ]
        )
    )
    dropout = " -> dropout(0.25)" if draw(st.booleans()) else ""
    lines += ["  head {", f"    {head}{dropout} -> dense(classes, activation=softmax)", "  }", "}"]
    return "\n".join(lines) + "\n"


@given(specs())
@settings(
    max_examples=int(os.environ.get("RANDOM_NETWORKS", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_summary_to_keras_and_generated_code_agree(text: str) -> None:
    keras = pytest.importorskip("keras")
    from resnet_dsl.backends.keras import to_keras

    keras.backend.clear_session()
    network = resnet_dsl.loads(text)
    reference = to_keras(network)
    static: dict[str, Any] = summary(network)
    rows = {row["name"]: row for row in static["layers"]}  # the IR's order is its own topological one
    assert set(rows) == {layer.name for layer in reference.layers}
    for layer in reference.layers:
        assert tuple(rows[layer.name]["output_shape"]) == tuple(layer.output.shape), layer.name
        assert rows[layer.name]["params"] == layer.count_params(), layer.name
    assert static["params"]["total"] == reference.count_params()

    generated = import_source(to_python(network)).build_model()
    assert_same_model(generated, reference)
    assert_same_outputs(generated, reference)
    assert_torch_agrees(network, reference, static)


def assert_torch_agrees(network: resnet_dsl.Network, reference: Any, static: dict[str, Any]) -> None:
    """`to_torch` and the generated torch module: the summary's parameters layer for layer, and,
    given the Keras model's weights, its outputs."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch
    from resnet_dsl.backends.torch_layout import layout

    model = to_torch(network).eval()
    rows = {row["name"]: row for row in static["layers"]}
    for name, path in layout(network).module_paths().items():
        module = model.get_submodule(path)
        counted = sum(t.numel() for t in (*module.parameters(), *module.buffers()) if t.is_floating_point())
        assert counted == rows[name]["params"], name
    assert static["torch"]["params"] == sum(p.numel() for p in model.parameters())
    assert static["torch"]["buffers"] == sum(b.numel() for b in model.buffers())
    keras_weights_to_torch(network, reference, model)
    images = np.random.default_rng(1).random((2, *network.input_shape), dtype=np.float32)
    expected = np.asarray(reference(images, training=False))
    with torch.no_grad():
        actual = model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)

    generated = import_source(to_python(network, target="torch"), "generated_torch").build_model().eval()
    assert list(generated.state_dict()) == list(model.state_dict())
    generated.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(
            generated(torch.from_numpy(images).permute(0, 3, 1, 2)), torch.from_numpy(actual), rtol=1e-5, atol=1e-6
        )
