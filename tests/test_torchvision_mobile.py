"""torchvision's mobile families from specs: their state_dicts load strictly into `to_torch`'s module
and the generated one, and give torchvision's outputs with every norm moved off its start."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import resnet_dsl  # noqa: E402
from resnet_dsl.analysis.summary import summary  # noqa: E402
from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402
from tests.test_beyond_resnet import randomized_norms  # noqa: E402
from tests.test_codegen import import_source  # noqa: E402

pytestmark = pytest.mark.torch

# (spec, network, torchvision model, trainable parameters: the figure, torchvision's count)
FAMILIES = [
    pytest.param("specs/torchvision/mobilenet_v2.arch", None, "mobilenet_v2", 3_504_872, id="mobilenet_v2"),
    pytest.param("specs/torchvision/efficientnet.arch", "EfficientNetB0", "efficientnet_b0", 5_288_548, id="b0"),
    # B1 is B0 with one line: EfficientNetB1 = EfficientNetB0(input = 240x240x3, depth = 1.1)
    pytest.param("specs/torchvision/efficientnet.arch", "EfficientNetB1", "efficientnet_b1", 7_794_184, id="b1"),
]


@pytest.mark.parametrize(("spec", "network", "name", "figure"), FAMILIES)
def test_counts_are_torchvisions(spec: str, network: str | None, name: str, figure: int) -> None:
    theirs = getattr(torchvision.models, name)()
    params = summary(resnet_dsl.load(spec, network=network))["params"]
    assert params["trainable"] == sum(p.numel() for p in theirs.parameters()) == figure
    assert params["non_trainable"] == sum(b.numel() for b in theirs.buffers() if b.is_floating_point())


@pytest.mark.parametrize(("spec", "network", "name", "figure"), FAMILIES)
def test_torchvision_weights_load_strictly_and_give_its_outputs(
    spec: str, network: str | None, name: str, figure: int
) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    theirs = randomized_norms(getattr(torchvision.models, name)()).eval()
    state = theirs.state_dict()
    net = resnet_dsl.load(spec, network=network, overrides={"input": "64x64x3"})
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = theirs(images)
    for ours in (to_torch(net), import_source(to_python(net, target="torch")).build_model()):
        assert list(ours.state_dict()) == list(state)  # key for key, in torchvision's order
        ours.load_state_dict(state, strict=True)
        with torch.no_grad():
            difference = (ours.eval()(images) - expected).abs().max().item()
        assert difference <= 1e-5 * expected.abs().max().item(), difference
