"""timm's ResNet variants in specs/timm/: each spec's torch model is timm's, key for key.

For every spec, timm builds its own model, every norm layer's weights (and BatchNorm's running
statistics) are moved off their initial values (timm zeroes the last norm of each block, which
would hide a wrong main path), its state_dict loads into ours and into the generated module
strictly, and the outputs agree in eval mode.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

import resnet_dsl  # noqa: E402
from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402
from tests.test_codegen import import_source  # noqa: E402

pytestmark = pytest.mark.torch

SMALL = {"input": "64x64x3"}
"""The same layers at 64x64: every spatial size stays even, as at 224x224."""

# (spec, timm model, trainable parameters: timm's count)
TIMM = [
    pytest.param("specs/timm/resnet50_gn.arch", "resnet50_gn", 25_557_032, id="resnet50_gn"),
    pytest.param("specs/timm/resnetrs50.arch", "resnetrs50", 35_691_912, id="resnetrs50", marks=pytest.mark.slow),
    pytest.param("specs/timm/resnetv2_50.arch", "resnetv2_50", 25_549_352, id="resnetv2_50"),
    pytest.param("specs/timm/resnetv2_101.arch", "resnetv2_101", 44_541_480, id="resnetv2_101", marks=pytest.mark.slow),
    pytest.param("specs/timm/ecaresnet50d.arch", "ecaresnet50d", 25_576_350, id="ecaresnet50d", marks=pytest.mark.slow),
    pytest.param("specs/timm/resnetblur50.arch", "resnetblur50", 25_557_032, id="resnetblur50"),
    pytest.param("specs/timm/skresnet18.arch", "skresnet18", 11_958_056, id="skresnet18"),
    pytest.param(
        "specs/timm/res2net50_26w_4s.arch",
        "res2net50_26w_4s",
        25_699_120,
        id="res2net50_26w_4s",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "specs/timm/seresnext50_32x4d.arch",
        "seresnext50_32x4d",
        27_559_896,
        id="seresnext50_32x4d",
        marks=pytest.mark.slow,
    ),
]


def randomized_norms(model: Any, seed: int = 0) -> Any:
    """Every BatchNorm's and GroupNorm's scale, shift and running statistics moved off their
    initial values; returned for chaining."""
    generator = torch.Generator().manual_seed(seed)

    def draw(like: Any, low: float, high: float) -> Any:
        return low + (high - low) * torch.rand(like.shape, generator=generator)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
                module.weight.copy_(draw(module.weight, 0.5, 1.5))
                module.bias.copy_(draw(module.bias, -0.2, 0.2))
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(draw(module.running_mean, -0.2, 0.2))
                module.running_var.copy_(draw(module.running_var, 0.5, 1.5))
    return model


@pytest.mark.parametrize(("spec", "name", "trainable"), TIMM)
def test_timm_weights_load_and_give_its_outputs(spec: str, name: str, trainable: int) -> None:
    torch.manual_seed(0)
    reference = randomized_norms(timm.create_model(name, pretrained=False)).eval()
    theirs = reference.state_dict()
    assert resnet_dsl.load(spec).total_params.trainable == trainable
    assert sum(p.numel() for p in reference.parameters()) == trainable
    model = to_torch(spec, overrides=SMALL).eval()
    ours = model.state_dict()
    assert set(ours) == set(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    model.load_state_dict(theirs, strict=True)
    generated = import_source(to_python(spec, target="torch")).build_model().eval()
    generated.load_state_dict(theirs, strict=True)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(images)
        assert expected.abs().max().item() > 0.1, "a model whose output is near zero proves nothing"
        torch.testing.assert_close(model(images), expected, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(generated(images), expected, rtol=1e-5, atol=1e-6)
