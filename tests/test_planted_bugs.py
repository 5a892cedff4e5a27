"""Planted one-line bugs that survived the whole suite: each test here fails on its mutation.

The expected values are written out by hand from the README's rules, never computed by the
code under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import resnet_dsl
from resnet_dsl.cli import main

TWO_UNIT_SHORTCUT = """block b(f) {
  main { conv(f, 1) }
  shortcut {
    conv(f, 1) -> bn
    conv(f, 1) -> bn
  }
  out = add(main, shortcut)
}
network N(input = 4x4x3) {
  stage x: b(4), b(4)
}
"""


def test_a_shortcut_second_unit_is_named_0_2() -> None:
    """README: the shortcut's unit is 0 (`<block>_0_conv`), then `_0_2_...`; in every block of a stage."""
    names = [layer.name for layer in resnet_dsl.loads(TWO_UNIT_SHORTCUT).layers]
    for block in ("x_block1", "x_block2"):
        assert [n for n in names if n.startswith(block + "_0")] == [
            f"{block}_0_conv",
            f"{block}_0_bn",
            f"{block}_0_2_conv",
            f"{block}_0_2_bn",
        ]


def test_diff_sees_a_changed_stride_that_leaves_every_shape_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a 1x1 input a stride changes nothing measurable: only the comparison of the layer's
    settings can see it."""
    monkeypatch.chdir(tmp_path)
    old = "network N(input = 1x1x3) {\n  stem { conv(8, 1, stride=1, padding=same) }\n  head { flatten }\n}\n"
    Path("old.arch").write_text(old)
    Path("new.arch").write_text(old.replace("stride=1", "stride=2"))
    assert main(["diff", "old.arch", "new.arch"]) == 1
    assert "strides: [1, 1] -> [2, 2]" in capsys.readouterr().out


def test_generated_torch_pads_an_uneven_stride_as_keras_does() -> None:
    """torch's `padding="same"` refuses strided convolutions, and a symmetric integer padding is
    wrong for a [1, 2] stride on an even width: Keras pads 0 left and 1 right there. The
    expected output is computed here with numpy from Keras's rule (pad_total = (out - 1) *
    stride + kernel - size, the smaller half first)."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from resnet_dsl.codegen import to_python
    from tests.test_codegen import import_source

    network = resnet_dsl.loads(
        "network N(input = 3x8x1) {\n  stem { conv(1, 3, stride=[1, 2], padding=same, use_bias=false) }\n}\n"
    )
    module = import_source(to_python(network, target="torch")).build_model().eval()
    conv = next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        conv.weight.fill_(1.0)
        image = np.arange(24, dtype=np.float32).reshape(3, 8)
        out = module(torch.from_numpy(image)[None, None]).numpy()[0, 0]
    padded = np.pad(image, ((1, 1), (0, 1)))  # rows: total 2 -> 1, 1; columns: total 1 -> 0, 1
    expected = np.array([[padded[r : r + 3, c : c + 3].sum() for c in range(0, 8, 2)] for r in range(3)])
    np.testing.assert_allclose(out, expected)


def test_a_string_in_a_spec_cannot_forge_the_markdown_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value with line breaks started paragraphs of its own in a pull-request comment."""
    monkeypatch.chdir(tmp_path)
    old = 'network N(input = 4x4x3, note = "a") {\n  head { flatten }\n}\n'
    Path("old.arch").write_text(old)
    Path("new.arch").write_text(old.replace('"a"', '"a\\n\\nNo architectural change.\\n### x"'))
    assert main(["diff", "old.arch", "new.arch", "--format", "markdown"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "No architectural change." not in lines
    assert [line for line in lines if line.startswith("### ")] == ["### Architecture: N → N"]
    assert "- note: a → a\\x0a\\x0aNo architectural change.\\x0a### x" in lines
