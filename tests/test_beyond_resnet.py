"""The networks after ResNet (issue 19), held to torchvision: ConvNeXt and RegNetY.

For each spec, torchvision builds its own model; its counts are the spec's static counts; every
LayerNorm's scale and shift and every layer scale are moved off their initial values (a layer
scale of 1e-6 would hide a wrong block); its state_dict loads strictly, key for key and in
order, into `to_torch`'s module and into the generated one; and the outputs agree in eval mode
within 1e-5 of the largest.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import resnet_dsl  # noqa: E402
from resnet_dsl.analysis.summary import summary  # noqa: E402
from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402
from tests.test_codegen import import_source  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = {"input": "64x64x3"}
"""The same layers at 64x64 (the state_dict does not depend on the input size)."""

# (spec, network, torchvision model, trainable parameters: the figure, torchvision's count)
COUNTS = [
    pytest.param("specs/torchvision/convnext_tiny.arch", None, "convnext_tiny", 28_589_128, id="convnext_tiny"),
    pytest.param("specs/torchvision/convnext_small.arch", None, "convnext_small", 50_223_688, id="convnext_small"),
    pytest.param("specs/torchvision/regnet_y_400mf.arch", None, "regnet_y_400mf", 4_344_144, id="regnet_y_400mf"),
    pytest.param("specs/torchvision/regnet_y_800mf.arch", None, "regnet_y_800mf", 6_432_512, id="regnet_y_800mf"),
]

LOADS = [
    pytest.param("specs/torchvision/convnext_tiny.arch", "convnext_tiny", id="convnext_tiny"),
    pytest.param("specs/torchvision/regnet_y_400mf.arch", "regnet_y_400mf", id="regnet_y_400mf"),
    pytest.param("specs/torchvision/regnet_y_800mf.arch", "regnet_y_800mf", id="regnet_y_800mf"),
]


def randomized_norms(model: Any, seed: int = 0) -> Any:
    """Every norm's scale and shift (BatchNorm's running statistics too) and every layer scale
    moved off their initial values; returned for chaining."""
    generator = torch.Generator().manual_seed(seed)

    def draw(like: Any, low: float, high: float) -> Any:
        return low + (high - low) * torch.rand(like.shape, generator=generator)

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("layer_scale"):
                parameter.copy_(draw(parameter, 0.5, 1.5))
        for module in model.modules():
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                module.weight.copy_(draw(module.weight, 0.5, 1.5))
                module.bias.copy_(draw(module.bias, -0.2, 0.2))
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(draw(module.running_mean, -0.2, 0.2))
                module.running_var.copy_(draw(module.running_var, 0.5, 1.5))
    return model


@pytest.mark.parametrize(("spec", "network", "name", "figure"), COUNTS)
def test_counts_are_torchvisions(spec: str, network: str | None, name: str, figure: int) -> None:
    theirs = getattr(torchvision.models, name)()
    counted = sum(parameter.numel() for parameter in theirs.parameters() if parameter.requires_grad)
    params = summary(resnet_dsl.load(spec, network=network))["params"]
    assert params["trainable"] == counted == figure
    assert params["non_trainable"] == sum(buffer.numel() for buffer in theirs.buffers() if buffer.is_floating_point())


@pytest.mark.parametrize(("spec", "name"), LOADS)
def test_torchvision_weights_load_strictly_and_give_its_outputs(spec: str, name: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    theirs = randomized_norms(getattr(torchvision.models, name)()).eval()
    state = theirs.state_dict()
    network = resnet_dsl.load(spec, overrides=SMALL)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(images)
    for ours in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        assert list(ours.state_dict()) == list(state)  # key for key, in torchvision's order
        ours.load_state_dict(state, strict=True)
        with torch.no_grad():
            difference = (ours.eval()(images) - expected).abs().max().item()
        assert difference <= 1e-5 * expected.abs().max().item(), difference


PLACED = """
block b(filters) {
  main {
    conv(filters, 3, padding=same) as PATH -> relu
  }
  out = add(main, shortcut)
}

network N(input = 8x8x2) {
  stem {
    conv1: conv(2, 1) as "features.0.0"
  }
  stage s1: b(2) * 2
}
"""


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ('"f.{block}"', "unknown field 'block'"),
        ('"f.{stage_index ** 2}"', "is not a field or arithmetic on fields"),
        ('"f..{index}"', "is not dotted names"),
        ('"f.{index}.forward"', "names an attribute nn.Module holds itself"),
    ],
)
def test_module_path_errors_are_located(path: str, message: str) -> None:
    from resnet_dsl.language.errors import ArchError

    with pytest.raises(ArchError) as error:
        resnet_dsl.loads(PLACED.replace("PATH", path))
    assert message in error.value.render()
    assert ":4:" in error.value.render()


def test_torch_keyword_is_gone_with_a_hint_to_write_as() -> None:
    from resnet_dsl.language.errors import ArchError

    old = PLACED.replace("padding=same) as PATH", 'padding=same, torch="features.{number}.1")')
    with pytest.raises(ArchError) as error:
        resnet_dsl.loads(old)
    rendered = error.value.render()
    assert "torch= is gone" in rendered and ":4:36:" in rendered, rendered
    assert 'hint: write conv(...) as "features.{number}.1"' in rendered, rendered


def test_module_paths_outside_blocks_take_no_fields_and_defaults_none() -> None:
    from resnet_dsl.language.errors import ArchError

    with pytest.raises(ArchError, match=r"has a field, \{index\}, outside a block"):
        resnet_dsl.loads(PLACED.replace("PATH", '"x"').replace('"features.0.0"', '"features.{index}"'))
    with pytest.raises(ArchError, match="a default cannot name or place layers"):
        resnet_dsl.loads(PLACED.replace("PATH", '"x"').replace("  stem {", '  defaults { conv as "a" }\n  stem {'))


def test_two_modules_on_one_path_from_the_model_are_a_located_error() -> None:
    from resnet_dsl.backends import torch_layout
    from resnet_dsl.language.errors import ArchError

    network = resnet_dsl.loads(PLACED.replace("PATH", '"features.{stage_number}"'))  # both blocks: features.1
    with pytest.raises(ArchError) as error:
        torch_layout.layout(network)
    assert "torch module path 'features.1'" in error.value.message and error.value.span.line == 4


def test_module_paths_place_modules_and_fmt_keeps_them() -> None:
    from resnet_dsl.network.loader import parse_module
    from resnet_dsl.review.formatter import format_source

    text = PLACED.replace("PATH", '"features.{number}.{2 * block_index + 1}"')
    assert format_source(text) == format_source(format_source(text))
    assert parse_module(format_source(text)) == parse_module(text)
    assert 'conv(filters, 3, padding=same) as "features.{number}.{2 * block_index + 1}"' in format_source(text)
    network = resnet_dsl.loads(text)
    assert [layer.name for layer in network.layers[1:3]] == ["conv1_conv", "s1_block1_1_conv"]  # paths name nothing
    model = to_torch(network)
    assert list(model.state_dict()) == [
        "features.0.0.weight", "features.0.0.bias", "features.1.1.weight", "features.1.1.bias",
        "features.2.3.weight", "features.2.3.bias",
    ]  # fmt: skip
    assert isinstance(model.features[1][0], torch.nn.Identity)
    assert "conv1" not in model._modules  # moved; the blocks keep what the spec does not place
    assert [name for name, _ in model.layer1[0].named_children()] == ["act1"]


def test_a_stage_path_that_says_which_block_holds_each_blocks_modules() -> None:
    """`stage s1 as "features.{number}"`: each block's module is there, its layers at their own
    paths or names in it, the rest by torchvision's numbered names; both PyTorch back ends."""
    text = PLACED.replace("PATH", '"body.0"').replace("stage s1:", 'stage s1 as "features.{number}":')
    network = resnet_dsl.loads(text)
    keys = [
        "features.0.0.weight", "features.0.0.bias", "features.1.body.0.weight", "features.1.body.0.bias",
        "features.2.body.0.weight", "features.2.body.0.bias",
    ]  # fmt: skip
    for model in (to_torch(network), import_source(to_python(network, target="torch")).build_model()):
        assert list(model.state_dict()) == keys
        assert [name for name, _ in model.features[1].named_children()] == ["body", "act1"]
        assert "layer1" not in model._modules
        images = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
        assert model(images).shape == (1, 2, 8, 8)


def test_the_readme_shows_the_shipped_convnext_block() -> None:
    from tests.conftest import REPO

    spec = (REPO / "specs/torchvision/convnext_tiny.arch").read_text(encoding="utf-8")
    block = spec[spec.index("block convnext(") : spec.index("\n}\n", spec.index("block convnext(")) + 3]
    assert f"```\n{block}```" in (REPO / "README.md").read_text(encoding="utf-8")
