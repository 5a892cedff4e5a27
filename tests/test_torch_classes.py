"""Generated torch code has one nn.Module class per block kind, as torchvision writes its
`Bottleneck`: the classes the network's stages instantiate, read from the generated source
and matched to the spec's block instances, for every network of the zoo."""

from __future__ import annotations

import ast
from typing import Any

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from tests.conftest import ZOO_NETWORKS, split_network
from tests.test_codegen import import_source

KEPT_APART: dict[tuple[str, str], int] = {
    # `shortcut from (pre if conv_shortcut else input) { conv if conv_shortcut -> subsample if ... }`:
    # `to_torch` makes `downsample` as long as each instance needs, nn.Sequential(conv) or
    # nn.Sequential(nn.Identity(), subsample); one class would append an nn.Identity to the first
    ("specs/keras/resnet50v2.arch", "bottleneck_v2"): 2,
    ("specs/keras/resnet101v2.arch", "bottleneck_v2"): 2,
    ("specs/keras/resnet152v2.arch", "bottleneck_v2"): 2,
}
"""Blocks whose instances still need several classes, and why (see the README's PyTorch section)."""


def stage_classes(source: str, network: str) -> list[str]:
    """The block class of each block instance, in order: the calls in the network class's
    `__init__` of classes the module defines with an `in_channels` argument (a block's),
    `*(Bottleneck(...) for _ in range(n))` counted n times."""
    tree = ast.parse(source)
    defined = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    blocks = set()
    for name, node in defined.items():
        init = next((f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
        if init is not None and len(init.args.args) > 1 and init.args.args[1].arg == "in_channels":
            blocks.add(name)
    init = next(f for f in defined[network].body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    found: list[str] = []

    class Calls(ast.NodeVisitor):  # in source order
        def visit_Starred(self, node: ast.Starred) -> None:
            value = node.value
            if isinstance(value, ast.GeneratorExp) and isinstance(value.elt, ast.Call):
                times = value.generators[0].iter
                assert isinstance(times, ast.Call) and isinstance(times.args[0], ast.Constant)
                found.extend([ast.unparse(value.elt.func)] * times.args[0].value)
                return
            self.generic_visit(node)

        def visit_Call(self, node: ast.Call) -> None:
            if isinstance(node.func, ast.Name) and node.func.id in blocks:
                found.append(node.func.id)
            self.generic_visit(node)

    Calls().visit(init)
    return found


def assert_same_function(module: Any, reference: Any, shape: tuple[int, ...], atol: float) -> None:
    """`reference`'s weights, moved off their initial values, load strictly into `module` (the same
    keys in the same order), and the two give the same outputs."""
    import torch

    with torch.no_grad():
        for value in reference.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(value.numel()))
    module.load_state_dict(reference.state_dict(), strict=True)
    assert list(module.state_dict()) == list(reference.state_dict())
    images = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("entry", ZOO_NETWORKS)
def test_one_class_per_block_kind(entry: str) -> None:
    spec, kwargs = split_network(entry)
    network = resnet_dsl.load(spec, **kwargs)
    source = to_python(network, target="torch")
    tree = ast.parse(source)
    build = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "build_model")
    network_class = next(
        call.func.id
        for call in ast.walk(build)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id[0].isupper()
    )
    kind_of = {block.name: block.kind_def.name for block in network.blocks}  # a derived block: its base's
    kinds = [kind_of[instance.block] for stage in network.stages for instance in stage.blocks]
    classes = stage_classes(source, network_class)
    assert len(classes) == len(kinds), (classes, kinds)
    per_kind: dict[str, set[str]] = {}
    for kind, name in zip(kinds, classes, strict=True):
        per_kind.setdefault(kind, set()).add(name)
    for kind, names in per_kind.items():
        assert len(names) == KEPT_APART.get((spec, kind), 1), (kind, sorted(names))
    owners = [name for names in per_kind.values() for name in names]
    assert len(owners) == len(set(owners)), "two block kinds share a class"


@pytest.mark.parametrize(
    ("entry", "network", "block", "first"),
    [
        ("specs/torchvision/resnet50.arch", "ResNet50", "Bottleneck", "Bottleneck(256, 128, stride=2)"),
        ("specs/torchvision/resnet18.arch", "ResNet18", "Basic", "Basic(64, 128, stride=2)"),
        ("specs/keras/resnet50.arch", "ResNet50", "BottleneckV1", "BottleneckV1(256, 128, stride=2)"),
    ],
)
def test_a_derived_block_is_its_base_class(entry: str, network: str, block: str, first: str) -> None:
    """`bottleneck_projection = bottleneck(stride=2)` is a Bottleneck made with stride 2, as
    torchvision writes its ResNet: one block class, no `BottleneckProjection`."""
    source = to_python(entry, target="torch")
    assert set(stage_classes(source, network)) == {block}
    defined = [node.name for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    assert [name for name in defined if name != network and not name[0].islower()][-1] == block
    assert first in source and "Projection" not in source


DERIVED_ONLY = """
block unit(filters, stride = 1, groups = 1) {
  project = stride != 1 or in_channels != filters
  main {
    conv(filters, 3, stride=stride, padding=same, groups=groups) -> bn -> relu
  }
  shortcut if project {
    conv(filters, 1, stride=stride) -> bn
  }
  out = add(main, shortcut) -> relu
}
block down = unit(stride = 2)
block grouped_down = down(groups = 2)

network N(input = 16x16x4) {
  stage s: down(8), grouped_down(8), down(8, stride = 1)
}
"""


@pytest.mark.torch
def test_blocks_derived_from_one_base_share_its_class_where_the_base_is_never_called() -> None:
    """Two derivations of `unit`, `unit` itself never called: one class `Unit` with `unit`'s
    defaults, each instance made with what its derivation binds; `to_torch` names them alike,
    and the generated module loads its state_dict strictly and computes what it computes."""
    pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(DERIVED_ONLY)
    source = to_python(network, target="torch")
    assert stage_classes(source, "N") == ["Unit"] * 3
    assert "def __init__(self, in_channels, filters, stride=1, groups=1) -> None:" in source
    assert "Unit(4, 8, stride=2),\n            Unit(8, 8, stride=2, groups=2),\n            Unit(8, 8),\n" in source
    module, reference = import_source(source).build_model().eval(), to_torch(network).eval()
    assert [block._get_name() for block in reference.layer1] == ["Unit"] * 3
    assert_same_function(module, reference, (2, 4, 16, 16), atol=1e-6)


CHOSEN = """
block b(filters, c = false) {
  pre {
    bn -> relu
  }
  shortcut from (pre if c else input) {
    conv(filters, 1)
  }
  main {
    conv(filters, 3, padding=same)
  }
  out = add(main, shortcut)
}

network N(input = 8x8x4) {
  stage s: b(4, c=true), b(4)
}
"""


@pytest.mark.torch
def test_a_source_each_instance_chooses_is_chosen_in_forward() -> None:
    """`shortcut from (pre if c else input)` with the shortcut's modules in both instances: one
    class, which reads the source the instance's argument chooses, as `to_torch` does."""
    pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(CHOSEN)
    source = to_python(network, target="torch")
    assert stage_classes(source, "N") == ["B", "B"]
    assert "identity = self.downsample(x2 if self.c else x)" in source
    module, reference = import_source(source).build_model().eval(), to_torch(network).eval()
    assert_same_function(module, reference, (2, 4, 8, 8), atol=1e-6)


SAME = """
block dw(kernel = 3, stride = 1, dilation = 1) {
  main {
    depthwise_conv(kernel, stride=stride, dilation=dilation, padding=same) -> bn
    conv(8, kernel, dilation=dilation, padding=same)
  }
  shortcut {
    conv(8, 1, stride=stride)
  }
  out = add(main, shortcut)
}
block strided(kernel = 3) {
  main {
    depthwise_conv(kernel, stride=2, padding=same)
  }
  shortcut {
    conv(8, 1, stride=2)
  }
  out = add(main, shortcut)
}

network N(input = 15x15x4) {
  stage s: dw(3), dw(3, stride=2), dw(5), dw(2), dw(3, dilation=2), dw(4, dilation=2), dw(1, stride=2)
  stage t: strided(3), strided(5)
}
"""


@pytest.mark.torch
def test_conv2d_same_only_where_keras_same_is_asymmetric() -> None:
    """Keras's `same` is torch's symmetric padding at stride 1 with an odd (dilated) kernel, and
    none for a 1x1 kernel: a class whose instances need Conv2dSame at some of them makes it as
    each is made (`conv2d_same`, timm's create_conv2d_pad), nn.Conv2d(padding=k // 2) at the
    others; one whose instances all need it makes Conv2dSame. Module for module what `to_torch`
    makes, the same state_dict and outputs."""
    pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(SAME)
    source = to_python(network, target="torch")
    assert stage_classes(source, "N") == ["Dw"] * 7 + ["Strided"] * 2
    assert "self.conv_dw1 = conv2d_same(" in source  # stride and kernel are the block's parameters
    assert "self.conv1 = conv2d_same(in_channels, 8, kernel, dilation=dilation)" in source
    assert "self.conv_dw1 = Conv2dSame(" in source  # `strided`: stride 2 at every instance
    module, reference = import_source(source).build_model().eval(), to_torch(network).eval()
    kinds = [type(m).__name__ for m in module.modules() if not list(m.children())]
    assert kinds == [type(m).__name__ for m in reference.modules() if not list(m.children())]
    depthwise = [(type(block.conv_dw1).__name__, block.conv_dw1.padding) for block in module.layer1]
    assert depthwise == [
        ("Conv2d", (1, 1)),
        ("Conv2dSame", (0, 0)),
        ("Conv2d", (2, 2)),
        ("Conv2dSame", (0, 0)),
        ("Conv2d", (2, 2)),
        ("Conv2d", (3, 3)),
        ("Conv2d", (0, 0)),
    ]
    assert_same_function(module, reference, (2, 4, 15, 15), atol=1e-5)


@pytest.mark.torch
def test_keras_efficientnet_pads_its_stride_1_depthwise_convolutions_as_torch_does() -> None:
    """keras.applications' EfficientNet-B0: each MBConv's depthwise convolution is
    nn.Conv2d(padding=k // 2) at stride 1, Conv2dSame only at stride 2, as `to_torch` makes it."""
    pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.load("specs/keras/efficientnet.arch", network="EfficientNetB0")
    source = to_python(network, target="torch")
    assert "self.dwconv = conv2d_same(" in source and "self.dwconv = Conv2dSame(" not in source
    module, reference = import_source(source).build_model(), to_torch(network)
    made = [(type(m).__name__, m.stride, m.padding) for name, m in module.named_modules() if name.endswith("dwconv")]
    assert made == [
        (type(m).__name__, m.stride, m.padding) for name, m in reference.named_modules() if name.endswith("dwconv")
    ]
    assert len(made) == 16 and {kind for kind, stride, _ in made if stride == (1, 1)} == {"Conv2d"}
    assert {kind for kind, stride, _ in made if stride == (2, 2)} == {"Conv2dSame"}
    assert {padding for _, stride, padding in made if stride == (1, 1)} == {(1, 1), (2, 2)}
