"""Padding beyond zeros, and fixed filters: `pad(n, mode=reflect|replicate)`, `blur(size, stride)`
and torch's integer `padding=1` on convolutions and average pools.

Each against the real thing: torch's own padded convolution and pools (`nn.Conv2d(padding=1)`,
`nn.AvgPool2d(padding=1)`, which counts the zeros, and `nn.MaxPool2d(padding=1)`, whose -inf a
repeated edge computes), timm's `BlurPool2d`, and Keras's model of the same spec.
"""

from __future__ import annotations

from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.language.errors import ArchError
from resnet_dsl.review.formatter import format_source

TINY = """
network Tiny(input = 24x24x3, classes = 4) {
  stem {
    conv1: conv(8, 3, stride=2, padding=1) -> bn
    pool1: pad(1, mode=replicate) -> maxpool(3, stride=2)
    pool2: avgpool(3, stride=1, padding=[1, 0])
    blur1: pad(1) -> blur(3, stride=2)
    blur2: pad([1, 2], mode=replicate) -> blur([2, 3], stride=1)
  }
  head {
    global_avgpool -> dense(classes)
  }
}
"""


def test_integer_padding_is_a_padding_layer_before_a_valid_one() -> None:
    network = resnet_dsl.loads(TINY)
    kinds = {layer.name: (layer.kind, layer.output_shape) for layer in network.layers}
    assert kinds["conv1_pad"] == ("zeropad", (26, 26, 3))
    assert kinds["conv1_conv"] == ("conv2d", (12, 12, 8))
    assert kinds["pool1_pad"] == ("pad", (14, 14, 8))  # the edge repeated: -inf to a max pool
    assert kinds["pool1_pool"] == ("maxpool", (6, 6, 8))
    assert kinds["pool2_pad"] == ("zeropad", (8, 6, 8))
    assert kinds["blur1_blur"] == ("blur", (3, 2, 8))
    assert kinds["blur2_pad"] == ("pad", (5, 6, 8))
    assert kinds["blur2_blur"] == ("blur", (4, 4, 8))
    blur = next(layer for layer in network.layers if layer.name == "blur1_blur")
    assert (blur.params.trainable, blur.params.non_trainable) == (0, 3 * 3 * 8)


def test_fmt_writes_integer_padding_back_as_written() -> None:
    text = format_source(TINY.lstrip())
    assert "conv(8, 3, stride=2, padding=1) -> bn" in text
    assert "pad(1, mode=replicate) -> maxpool(3, stride=2)" in text
    assert "avgpool(3, stride=1, padding=[1, 0])" in text
    assert "zeropad" not in text and "_pad" not in text
    assert format_source(text) == text
    assert resnet_dsl.loads(text).layers == resnet_dsl.loads(TINY).layers


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("conv1: conv(8, 3, padding=p)", "an integer padding is written in the call itself"),
        ("conv1: pad(12) -> conv(8, 3)", "reflect padding must be smaller than the input"),
        ("conv1: pad(1, mode=zeros)", "expected one of reflect, replicate"),
        ("conv1: avgpool(3, padding=[1, p])", "an integer padding is written in the call itself"),
        ("conv1: flatten -> blur(3)", "blur needs an image input"),
        ("conv1: blur(13, stride=1)", "blur shrinks its 12x12 input to nothing"),
    ],
)
def test_misuse_is_a_located_error(line: str, message: str) -> None:
    text = f"network N(input = 12x12x3, p = 1) {{\n  stem {{\n    {line}\n  }}\n}}\n"
    with pytest.raises(ArchError, match=message) as error:
        resnet_dsl.loads(text)
    assert error.value.span.line == 3


@pytest.fixture(scope="module")
def models() -> tuple[Any, Any, Any]:
    """(network, Keras model, torch model with the Keras model's weights)."""
    pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.keras import to_keras
    from resnet_dsl.backends.torch import keras_weights_to_torch, to_torch

    torch.manual_seed(0)
    network = resnet_dsl.loads(TINY)
    keras_model = to_keras(network)
    torch_model = to_torch(network).eval()
    keras_weights_to_torch(network, keras_model, torch_model)
    return network, keras_model, torch_model


def test_torch_pads_natively_and_agrees_with_keras(models: tuple[Any, Any, Any]) -> None:
    import numpy as np
    import torch

    network, keras_model, torch_model = models
    assert torch_model.conv1.padding == (1, 1)
    assert torch_model.maxpool1.padding == (1, 1)
    assert isinstance(torch_model.maxpool1, torch.nn.MaxPool2d)
    assert isinstance(torch_model.avgpool1, torch.nn.AvgPool2d) and torch_model.avgpool1.padding == (1, 0)
    assert isinstance(torch_model.pad1, torch.nn.ReflectionPad2d)
    assert isinstance(torch_model.pad2, torch.nn.ReplicationPad2d)
    assert not any("filt" in key for key in torch_model.state_dict())  # a buffer that is not saved
    assert {layer.name: layer.count_params() for layer in keras_model.layers} == {
        layer.name: layer.params.total for layer in network.layers
    }
    assert len(keras_model.non_trainable_weights) == 2 + 2  # BatchNorm statistics, two blur kernels
    images = np.random.default_rng(0).normal(size=(2, 24, 24, 3)).astype(np.float32)
    expected = np.asarray(keras_model(images, training=False))
    with torch.no_grad():
        actual = torch_model(torch.from_numpy(images).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


def test_an_edge_padded_max_pool_is_torchs_minus_infinity(models: tuple[Any, Any, Any]) -> None:
    """The Keras model (edge repeated, then a valid pool), which torch folds into
    `nn.MaxPool2d(padding=1)`, against torch's own padded pool on a feature map with negative
    values (after a BatchNorm, no ReLU): the same, pixel for pixel."""
    import keras
    import numpy as np
    import torch

    _, keras_model, _ = models
    upto = keras.Model(keras_model.input, [keras_model.get_layer(n).output for n in ("conv1_bn", "pool1_pool")])
    images = np.random.default_rng(1).normal(size=(2, 24, 24, 3)).astype(np.float32)
    before, pooled = (np.asarray(t) for t in upto(images, training=False))
    assert before.min() < 0
    reference = torch.nn.functional.max_pool2d(torch.from_numpy(before).permute(0, 3, 1, 2), 3, 2, padding=1)
    np.testing.assert_array_equal(pooled, reference.permute(0, 2, 3, 1).numpy())


def test_blur_is_timms_blur_pool() -> None:
    torch = pytest.importorskip("torch")
    timm_blur = pytest.importorskip("timm.layers").BlurPool2d
    from resnet_dsl.backends.torch_modules import Blur2d, pad_module

    images = torch.randn(2, 6, 9, 9, generator=torch.Generator().manual_seed(0))
    for size, stride in ((3, 2), (5, 2), (3, 1)):
        theirs = timm_blur(channels=6, filt_size=size, stride=stride)
        ours = torch.nn.Sequential(pad_module(size // 2, "reflect"), Blur2d(6, size, stride))
        torch.testing.assert_close(ours(images), theirs(images), rtol=0, atol=0)
