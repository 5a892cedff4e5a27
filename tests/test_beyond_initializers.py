"""The torchvision specs after ResNet initialise as torchvision's own init loops do (convnext.py,
efficientnet.py, mobilenetv2.py, regnet.py): every weight and bias both state_dicts hold, drawn
alike (`test_initializers.drawn_tensors`: mean, deviation and tails within sampling error).

Two spellings matter: torchvision's `trunc_normal_(std=0.02)` cuts at -2 and 2, a hundred
deviations, so it is `random_normal(stddev=0.02)` (Keras's `truncated_normal` cuts at two
deviations: 12% narrower); and a depthwise kernel's fan-out in torch (C x k x k) is its fan-in as
Keras counts it, so `kaiming_normal_(mode="fan_out")` there is `variance_scaling(2.0, mode=fan_in)`.
"""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from tests.test_codegen import import_source
from tests.test_initializers import drawn_tensors

SPECS = [
    # spec, network, torchvision's builder
    ("specs/torchvision/convnext_tiny.arch", None, "convnext_tiny"),
    ("specs/torchvision/efficientnet.arch", "EfficientNetB0", "efficientnet_b0"),
    ("specs/torchvision/mobilenet_v2.arch", None, "mobilenet_v2"),
    # regnet.py's loop sets convolution weights only: SE's biases keep nn.Conv2d's uniform draw
    # there, and the spec says so (`conv(bias_init=variance_scaling(1 / 3, ...))`)
    ("specs/torchvision/regnet_y_400mf.arch", None, "regnet_y_400mf"),
]


@pytest.mark.torch
@pytest.mark.parametrize(("spec", "network", "name"), SPECS)
@pytest.mark.parametrize("built_by", ["to_torch", "generated"])
def test_every_tensor_is_drawn_as_torchvision_draws_it(
    spec: str, network: str | None, name: str, built_by: str
) -> None:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)().state_dict()
    if built_by == "to_torch":
        model = resnet_dsl.to_torch(spec, network=network)
    else:
        model = import_source(to_python(spec, target="torch", network=network)).build_model()
    ours = model.state_dict()
    compared = drawn_tensors(ours, theirs)
    depthwise = [key for key in compared if theirs[key].dim() == 4 and theirs[key].shape[1] == 1]
    assert len(compared) == sum(key.endswith(("weight", "bias")) for key in theirs)
    assert depthwise or name == "regnet_y_400mf", name  # RegNet's convolutions are grouped, not depthwise
