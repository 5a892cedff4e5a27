"""Specs that place every module where a torchvision model holds it generate that model's own tree.

The generated module builds torchvision's containers itself (`self.features = nn.Sequential(...)`,
a block's `self.conv = nn.Sequential(...)`), as torchvision's model files do, with no helper
that moves modules after the fact; printed, its top-level children are torchvision's. That the
weights load key for key and give torchvision's outputs is held in tests/test_torchvision_mobile.py
and tests/test_beyond_resnet.py.
"""

from __future__ import annotations

import re

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from resnet_dsl.codegen.torch_tree import module_calls
from tests.test_codegen import import_source

FEATURES, TRUNK = "x = self.features(x)", "x = self.trunk_output(x)"

# (spec, network, torchvision model, a line of the model's forward)
TREES = [
    pytest.param("specs/torchvision/mobilenet_v2.arch", None, "mobilenet_v2", FEATURES, id="mobilenet_v2"),
    pytest.param("specs/torchvision/efficientnet.arch", "EfficientNetB0", "efficientnet_b0", FEATURES, id="b0"),
    pytest.param("specs/torchvision/efficientnet.arch", "EfficientNetB1", "efficientnet_b1", FEATURES, id="b1"),
    pytest.param("specs/torchvision/regnet_y_400mf.arch", None, "regnet_y_400mf", TRUNK, id="400mf"),
    pytest.param("specs/torchvision/regnet_y_800mf.arch", None, "regnet_y_800mf", TRUNK, id="800mf"),
    pytest.param("specs/torchvision/convnext_tiny.arch", None, "convnext_tiny", FEATURES, id="convnext_tiny"),
    pytest.param("specs/torchvision/convnext_small.arch", None, "convnext_small", FEATURES, id="convnext_small"),
]


def children(printed: str) -> list[str]:
    """The names of a printed module's top-level children: `  (features): Sequential(`."""
    return re.findall(r"^  \(([^)]+)\): ", printed, re.MULTILINE)


@pytest.mark.parametrize(("spec", "network", "name", "call"), TREES)
def test_the_generated_model_is_torchvisions_tree(spec: str, network: str | None, name: str, call: str) -> None:
    source = to_python(resnet_dsl.load(spec, network=network), target="torch")
    for moved in ("rehome", "MovedSequential", "made_with", "paths = {", "ZeroPad2d"):  # paddings in the convolutions
        assert moved not in source, moved
    assert call in source
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    ours, theirs = import_source(source).build_model(), getattr(torchvision.models, name)()
    assert children(str(ours)) == children(str(theirs)) != []
    assert list(ours.state_dict()) == list(theirs.state_dict())


# (what, module paths in the order forward runs them, whether each reads the one before alone, calls)
CALLS = [
    (
        "a container whose modules run in a chain, called once",
        ["conv.0.0", "conv.0.1", "conv.1.0", "conv.2"],
        [False, True, True, True],
        [(0, 4, "conv")],
    ),
    (
        "a module between a container's members: each part alone",
        ["conv.0.0", "conv.0.1", "pad", "conv.1.0", "conv.2"],
        [False, True, True, True, True],
        [(0, 2, "conv.0"), (2, 3, "pad"), (3, 4, "conv.1"), (4, 5, "conv.2")],
    ),
    (
        "an nn.Sequential's members run against its order",
        ["seq.1", "seq.0"],
        [False, True],
        [(0, 1, "seq.1"), (1, 2, "seq.0")],
    ),
    (
        "members that do not feed one another (parallel paths, a merge between)",
        ["paths.0", "paths.1", None, "block.0"],
        [False, False, False, False],
        [(0, 1, "paths.0"), (1, 2, "paths.1"), (2, 3, None), (3, 4, "block")],
    ),
    (
        "a named container left and entered again",
        ["f.a.0", "f.b.0", "f.a.1"],
        [False, True, True],
        [(0, 1, "f.a.0"), (1, 2, "f.b"), (2, 3, "f.a.1")],
    ),
]


@pytest.mark.parametrize(("what", "modules", "chained", "calls"), CALLS, ids=[case[0] for case in CALLS])
def test_forward_calls_a_container_whole_only_where_that_runs_the_same(
    what: str, modules: list[str | None], chained: list[bool], calls: list[tuple[int, int, str | None]]
) -> None:
    assert module_calls(modules, chained) == calls
