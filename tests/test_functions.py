"""Values computed in a spec: `make_divisible`, `ceil`, `round`, ... as torchvision and Keras compute them."""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl import ArchError
from resnet_dsl.codegen import to_python
from resnet_dsl.network.functions import make_divisible
from tests.test_codegen import import_source, ruff

WIDTHS = [i / 4 for i in range(1, 4 * 1300)] + [32 * m for m in (0.35, 0.5, 0.75, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0)]


def _spec_value(expr: str) -> int | float:
    """What the language computes for `expr`, read back from a layer's filters."""
    net = resnet_dsl.loads(f"network N(input = 4x4x1) {{\n  stem {{\n    conv({expr}, 1)\n  }}\n}}\n")
    return net.layers[-1].output_shape[-1]


def test_make_divisible_is_torchvisions() -> None:
    from torchvision.models._utils import _make_divisible

    for divisor in (4, 8, 16):
        assert [make_divisible(v, divisor) for v in WIDTHS] == [_make_divisible(v, divisor) for v in WIDTHS]
    assert [make_divisible(v, 8, 16) for v in WIDTHS] == [_make_divisible(v, 8, 16) for v in WIDTHS]


def test_make_divisible_is_keras_mobilenet_v2s() -> None:
    mobilenet_v2 = pytest.importorskip("keras.src.applications.mobilenet_v2")
    assert [make_divisible(v, 8) for v in WIDTHS] == [mobilenet_v2._make_divisible(v, 8) for v in WIDTHS]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("make_divisible(32 * 1.1, 8)", make_divisible(32 * 1.1, 8)),
        ("make_divisible(19, 8)", 24),  # 16 would be 16% below 19: one divisor more
        ("make_divisible(3, 8, 4)", 4),
        ("ceil(3 * 1.1)", 4),
        ("floor(2.9) + 1", 3),
        ("round(2.5) + round(3.5)", 6),  # halves to even, as Python's (torchvision's) round
        ("int(7.9)", 7),
        ("max(1, 3 // 4) + min(5, 2, 9)", 3),
    ],
)
def test_functions_in_expressions(expr: str, expected: int) -> None:
    assert _spec_value(expr) == expected


def test_efficientnet_b1_widths_and_depths_as_torchvision_computes_them() -> None:
    """Every stage's width and depth of torchvision's efficientnet_b1 from B0's by one formula each."""
    from torchvision.models.efficientnet import _efficientnet_conf

    settings, _ = _efficientnet_conf("efficientnet_b1", width_mult=1.0, depth_mult=1.1)
    base, _ = _efficientnet_conf("efficientnet_b0", width_mult=1.0, depth_mult=1.0)
    for setting, b0 in zip(settings, base, strict=True):
        assert _spec_value(f"make_divisible({b0.out_channels} * 1.0, 8)") == setting.out_channels
        assert _spec_value(f"ceil({b0.num_layers} * 1.1)") == setting.num_layers
    wide, _ = _efficientnet_conf("efficientnet_b4", width_mult=1.4, depth_mult=1.8)
    for setting, b0 in zip(wide, base, strict=True):
        assert _spec_value(f"make_divisible({b0.out_channels} * 1.4, 8)") == setting.out_channels
        assert _spec_value(f"ceil({b0.num_layers} * 1.8)") == setting.num_layers


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("make_divisible()", "make_divisible takes 1 to 3 arguments, got 0"),
        ("ceil(1, 2)", "ceil takes 1 arguments, got 2"),
        ("max(1)", "max takes at least 2 arguments, got 1"),
        ("make_divisible(10, divisor=8)", "make_divisible takes positional arguments only"),
        ("make_divisible(10, 0)", "make_divisible's argument 2 must be a positive integer"),
        ("make_divisible(10, 2.5)", "make_divisible's argument 2 must be a positive integer"),
        ('ceil("a")', "expected a number"),
        ("ceil(nope)", "unknown name 'nope'"),
        ("cell(1.5)", "unknown initializer 'cell'"),
    ],
)
def test_function_errors_are_located(expr: str, message: str) -> None:
    text = f"network N(input = 4x4x1) {{\n  stem {{\n    conv({expr}, 1)\n  }}\n}}\n"
    with pytest.raises(ArchError, match=message) as caught:
        resnet_dsl.loads(text)
    assert caught.value.span.line == 3


BLOCK_SPEC = """
block inverted(filters, expand = 6, width = 1.1) {
  hidden = make_divisible(in_channels * expand * width, 8)
  main {
    conv(hidden, 1) -> bn -> relu6
    conv(ceil(filters * width) + max(0, round(0.4)), 1) -> bn
  }
  shortcut {
    conv(ceil(filters * width), 1)
  }
  out = add
}

network N(input = 8x8x3, width = 1.3) {
  stem {
    conv(make_divisible(32 * width, 8), 3)
  }
  stage s: inverted(make_divisible(16 * width, 8)) * ceil(1.5), inverted(20, expand=3)
}
"""


@pytest.mark.parametrize("target", ["keras", "torch"])
def test_generated_code_computes_them_at_run_time(target: str, tmp_path) -> None:
    """A block's values are computed by the generated code itself (one function per block):
    it defines `make_divisible` and imports `math` for `ceil`, and stays ruff-clean."""
    spec = tmp_path / "n.arch"
    spec.write_text(BLOCK_SPEC)
    source = to_python(spec, target=target)
    assert "def make_divisible(value, divisor=8, min_value=None):" in source
    assert "import math" in source and "math.ceil(filters * width)" in source
    (tmp_path / "n.py").write_text(source)
    assert ruff("check", "--no-cache", str(tmp_path / "n.py")).returncode == 0
    if target == "torch":
        torch = pytest.importorskip("torch")
        torch.set_num_threads(1)
        from resnet_dsl.backends.torch import to_torch

        ours = import_source(source).build_model().state_dict()
        reference = to_torch(spec).state_dict()
        assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in reference.items()}
        assert reference["conv1.weight"].shape[0] == 40  # torchvision: _make_divisible(32 * 1.3, 8)
    else:
        pytest.importorskip("keras")
        model = import_source(source).build_model()
        static = {layer.name: layer.output_shape for layer in resnet_dsl.load(spec).layers}
        assert {layer.name: tuple(layer.output.shape)[1:] for layer in model.layers} == static
