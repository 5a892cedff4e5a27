"""A spec's own torch layout (`as` module paths, a stage's `as`): collisions are `check` errors.

Two modules on one path, a path through another module, a part that is one of nn.Module's own
attributes: each is reported by `check` at the text that caused it (file:line:col, a caret, a
hint), before any torch is imported. The zoo's layouts themselves are held against timm's
models in tests/test_timm_zoo.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_dsl.cli.app import main

STEM = """import "torchvision/resnet18"

network Bad = ResNet18() {{
  stem {{
    conv1: zeropad(3) -> conv(64, 7, stride=2){conv} -> bn{bn} -> relu
    pool1: zeropad(1) -> maxpool(3, stride=2)
  }}
}}
"""

SHORTCUT = """import "torchvision/resnet18"

block down(filters, stride = 2) {
  main {
    zeropad(1) -> conv(filters, 3, stride=stride) -> bn -> relu
    conv(filters, 3, padding=same) -> bn
  }
  shortcut {
    conv(filters, 1, stride=stride) as "downsample.conv" -> bn
  }
  out = add(main, shortcut) -> relu
}

network Bad = ResNet18() {
  stage conv3: down(128), basic(128) * (depths[1] - 1)
}
"""

TWICE = SHORTCUT.replace('as "downsample.conv"', 'as "features.{stage_index}"').replace(
    "basic(128) * (depths[1] - 1)", "down(128, stride=1)"
)
"""Both blocks of a stage place their projection at one path from the model."""

# (what, spec, message, line, column, hint)
CASES = [
    (
        "a module under another module",
        STEM.format(conv=' as "stem.conv"', bn=' as "stem.conv.bn"'),
        "torch module path 'stem.conv.bn' of layer 'conv1_bn': 'stem.conv' is layer 'conv1_conv', not a container",
        5,
        66,
        "give each module its own path",
    ),
    (
        "nn.Module's own attribute",
        STEM.format(conv=' as "stem.training"', bn=""),
        "'training' is one of nn.Module's own attributes",
        5,
        26,
        "each part is a name",
    ),
    (
        "numbered and named children in one container",
        STEM.format(conv=' as "stem.0"', bn=' as "stem.norm"'),
        "'stem' holds both numbered and named modules",
        5,
        63,
        "give each module its own path",
    ),
    (
        "a stem module inside a stage's",
        STEM.format(conv=' as "layer1.conv"', bn=""),
        "'layer1' is a stage's module",
        5,
        26,
        "give each module its own path",
    ),
    (
        "two stages on one path",
        'import "torchvision/resnet18"\n\nnetwork Bad = ResNet18() {\n'
        '  stage conv3 as "layer1": basic_projection(128), basic(128) * (depths[1] - 1)\n}\n',
        "stage 'conv3': torch module path 'layer1' collides with 'layer1' of stage 'conv2'",
        4,
        3,
        "give each stage its own path",
    ),
    (
        "an unknown field in a stage's path",
        'import "torchvision/resnet18"\n\nnetwork Bad = ResNet18() {\n'
        '  stage conv3 as "stages.{block}": basic_projection(128), basic(128) * (depths[1] - 1)\n}\n',
        "stage 'conv3': unknown field 'block' in {block} in the torch path 'stages.{block}'",
        4,
        3,
        "fields: stage, stage_index",
    ),
    (
        "two blocks on one path from the model",
        TWICE,
        "torch module path 'features.1' of layer 'conv3_block2_0_conv': layer 'conv3_block1_0_conv' is there too",
        9,
        5,
        "give each module its own path",
    ),
    (
        "a path's nn.Sequential and the spec's named container",
        SHORTCUT,
        "'downsample' is also the nn.Sequential of other layers",
        9,
        5,
        "give each module its own path",
    ),
]


@pytest.mark.parametrize(("what", "text", "message", "line", "column", "hint"), CASES, ids=[c[0] for c in CASES])
def test_layout_collisions_are_located_check_errors(
    what: str,
    text: str,
    message: str,
    line: int,
    column: int,
    hint: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text(text, encoding="utf-8")
    assert main(["check", str(spec)]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith(f"{spec}:{line}:{column}: error: "), err
    assert message in lines[0], err
    assert "^" in lines[2], err
    assert any(entry.startswith("hint: ") and hint in entry for entry in lines), err
    assert "Traceback" not in err


def test_a_spec_without_collisions_checks() -> None:
    """The same stem with distinct paths is fine, and the names torch takes are the spec's; the
    layers keep their own names (a path places a module, it names no layer)."""
    from resnet_dsl.backends import torch_layout
    from resnet_dsl.network.api import loads

    network = loads(STEM.format(conv=' as "stem.conv"', bn=' as "stem.norm"'))
    paths = torch_layout.layout(network).module_paths()
    assert paths["conv1_conv"] == "stem.conv"
    assert paths["conv1_bn"] == "stem.norm"
    assert paths["conv2_block1_1_conv"] == "layer1.0.conv1"


def test_a_stages_path_takes_the_stages_fields() -> None:
    """`stage conv3 as "stages.{stage_index}.blocks"` is the stage's path with its place filled in."""
    from resnet_dsl.backends import torch_layout
    from resnet_dsl.network.api import loads

    text = 'import "torchvision/resnet18"\n\nnetwork Good = ResNet18() {\n'
    text += '  stage conv3 as "stages.{stage_index}.x{stage_number}_{stage}": basic_projection(128), basic(128)\n}\n'
    layout = torch_layout.layout(loads(text))
    assert [stage.attribute for stage in layout.stages] == ["layer1", "stages.1.x2_conv3", "layer3", "layer4"]
    assert layout.module_paths()["conv3_block1_1_conv"] == "stages.1.x2_conv3.0.conv1"


def test_the_language_server_reports_a_collision_where_check_does() -> None:
    from resnet_dsl.integrations.lsp.analysis import analyze

    text = STEM.format(conv=' as "stem.conv"', bn=' as "stem.conv.bn"')
    errors = analyze("bad.arch", text).errors
    assert [(e.span.line, e.span.column) for e in errors] == [(5, 66)]
    assert "'stem.conv' is layer 'conv1_conv', not a container" in errors[0].message


def test_the_language_server_reports_a_collision_from_the_model_where_check_does() -> None:
    from resnet_dsl.integrations.lsp.analysis import analyze

    text = TWICE
    errors = analyze("bad.arch", text).errors
    assert [(e.span.line, e.span.column) for e in errors] == [(9, 5)]
    assert "layer 'conv3_block1_0_conv' is there too" in errors[0].message
