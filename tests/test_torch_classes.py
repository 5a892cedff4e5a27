"""Generated torch code has one nn.Module class per block kind, as torchvision writes its
`Bottleneck`: the classes the network's stages instantiate, read from the generated source
and matched to the spec's block instances, for every network of the zoo."""

from __future__ import annotations

import ast

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
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(DERIVED_ONLY)
    source = to_python(network, target="torch")
    assert stage_classes(source, "N") == ["Unit"] * 3
    assert "def __init__(self, in_channels, filters, stride=1, groups=1) -> None:" in source
    assert "Unit(4, 8, stride=2),\n            Unit(8, 8, stride=2, groups=2),\n            Unit(8, 8),\n" in source
    module, reference = import_source(source).build_model().eval(), to_torch(network).eval()
    assert [block._get_name() for block in reference.layer1] == ["Unit"] * 3
    with torch.no_grad():
        for value in reference.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(value.numel()))
    module.load_state_dict(reference.state_dict(), strict=True)
    assert list(module.state_dict()) == list(reference.state_dict())
    images = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-6)


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
    torch = pytest.importorskip("torch")
    from resnet_dsl.backends.torch import to_torch

    network = resnet_dsl.loads(CHOSEN)
    source = to_python(network, target="torch")
    assert stage_classes(source, "N") == ["B", "B"]
    assert "identity = self.downsample(x2 if self.c else x)" in source
    module, reference = import_source(source).build_model().eval(), to_torch(network).eval()
    with torch.no_grad():
        for value in reference.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(value.numel()))
    module.load_state_dict(reference.state_dict(), strict=True)
    assert list(module.state_dict()) == list(reference.state_dict())
    images = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(module(images), reference(images), rtol=1e-5, atol=1e-6)
