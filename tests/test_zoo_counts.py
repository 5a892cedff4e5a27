"""Every torchvision and timm spec of the zoo against the real constructor, in the fast suite.

The constructors run on the meta device (no weights allocated: ResNeXt-101 in a fraction of a
second), so each spec's parameters, section by section, are held against what the library
itself builds, not against a constant; MACs against torch's own FLOP counter for one network of
each kind of block. Keras's zoo is held layer for layer against keras.applications in
tests/test_keras_backend.py.
"""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.analysis.summary import sections

reference = pytest.importorskip("tests.torch_reference")

# (spec, library, constructor)
CONSTRUCTED = [
    ("specs/torchvision/resnet18.arch", "torchvision", "resnet18"),
    ("specs/torchvision/resnet34.arch", "torchvision", "resnet34"),
    ("specs/torchvision/resnet50.arch", "torchvision", "resnet50"),
    ("specs/torchvision/resnet101.arch", "torchvision", "resnet101"),
    ("specs/torchvision/resnet152.arch", "torchvision", "resnet152"),
    ("specs/torchvision/resnext50_32x4d.arch", "torchvision", "resnext50_32x4d"),
    ("specs/torchvision/resnext101_32x8d.arch", "torchvision", "resnext101_32x8d"),
    ("specs/torchvision/wide_resnet50_2.arch", "torchvision", "wide_resnet50_2"),
    ("specs/torchvision/wide_resnet101_2.arch", "torchvision", "wide_resnet101_2"),
    ("specs/timm/resnet50d.arch", "timm", "resnet50d"),
    ("specs/timm/seresnet50.arch", "timm", "seresnet50"),
    ("specs/timm/seresnext50_32x4d.arch", "timm", "seresnext50_32x4d"),
    ("specs/timm/resnet50_gn.arch", "timm", "resnet50_gn"),
    ("specs/timm/ecaresnet50d.arch", "timm", "ecaresnet50d"),
]

MACS_CHECKED = {"resnet18", "resnext50_32x4d", "seresnet50", "ecaresnet50d"}
"""One of each kind of block (basic, grouped bottleneck, SE, ECA with a deep stem and average
pooling shortcut): torch's FLOP counter takes a second or two a network even on the meta device."""


def test_every_torchvision_and_timm_spec_is_held_here() -> None:
    from tests.conftest import SPECS

    shipped = {
        f"specs/{p.parent.name}/{p.name}" for p in SPECS.glob("*/*.arch") if p.parent.name in ("torchvision", "timm")
    }
    assert shipped == {spec for spec, _, _ in CONSTRUCTED} | set(HELD_ELSEWHERE)


HELD_ELSEWHERE = {
    "specs/torchvision/convnext_tiny.arch": "tests/test_beyond_resnet.py",
    "specs/torchvision/convnext_small.arch": "tests/test_beyond_resnet.py",
    "specs/torchvision/mobilenet_v2.arch": "tests/test_torchvision_mobile.py",
    "specs/torchvision/efficientnet.arch": "tests/test_torchvision_mobile.py",
}
"""Specs whose torch layout is stated layer by layer (`torch="features.1.0.block.0"`), not stages
`layer1..4`: the test named holds their counts to the constructor and loads its state_dict."""


@pytest.mark.parametrize(("spec", "library", "name"), CONSTRUCTED, ids=[entry[2] for entry in CONSTRUCTED])
def test_parameters_are_the_constructors(spec: str, library: str, name: str) -> None:
    network = resnet_dsl.load(spec)
    model = reference.constructor(library, name)
    trainable, statistics = reference.parameter_count(model)
    assert (network.total_params.trainable, network.total_params.non_trainable) == (trainable, statistics)
    per_section: dict[str, int] = {}
    for child_name, child in model.named_children():
        section = reference.section_of(child_name)
        per_section[section] = per_section.get(section, 0) + sum(reference.parameter_count(child))
    ours = {s.name: s.params for s in sections(network) if s.name != "input"}
    assert ours == per_section


@pytest.mark.parametrize(
    ("spec", "library", "name"),
    [entry for entry in CONSTRUCTED if entry[2] in MACS_CHECKED],
    ids=sorted(MACS_CHECKED, key=[entry[2] for entry in CONSTRUCTED].index),
)
def test_macs_are_torchs_flop_count(spec: str, library: str, name: str) -> None:
    network = resnet_dsl.load(spec, overrides={"input": "64x64x3"})
    theirs = reference.sections(library, name, 64)
    ours = {s.name: s.macs for s in sections(network) if s.name != "input"}
    assert ours == {key: section.macs for key, section in theirs.items()}
