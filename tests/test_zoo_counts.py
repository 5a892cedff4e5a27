"""Every torchvision and timm spec of the zoo against the real constructor, in the fast suite.

The constructors run on the meta device (no weights allocated: ResNeXt-101 in a fraction of a
second; RegNet computes its widths with tensors, so it is built on the CPU), so each spec's
parameters are held against what the library itself builds, not against a constant: the totals
(trainable, and fixed: BatchNorm statistics, a blur filter), and section by section for the
networks laid out as a ResNet; MACs against torch's own FLOP counter for one network of each
kind of block. Keras's zoo is held layer for layer against keras.applications in
tests/test_keras_backend.py and tests/test_keras_mobile.py.
"""

from __future__ import annotations

import pytest

import resnet_dsl
from resnet_dsl.analysis.summary import sections

reference = pytest.importorskip("tests.torch_reference")

# (spec, network (None: the file's only one), library, constructor)
CONSTRUCTED = [
    ("specs/torchvision/resnet18.arch", None, "torchvision", "resnet18"),
    ("specs/torchvision/resnet34.arch", None, "torchvision", "resnet34"),
    ("specs/torchvision/resnet50.arch", None, "torchvision", "resnet50"),
    ("specs/torchvision/resnet101.arch", None, "torchvision", "resnet101"),
    ("specs/torchvision/resnet152.arch", None, "torchvision", "resnet152"),
    ("specs/torchvision/resnext50_32x4d.arch", None, "torchvision", "resnext50_32x4d"),
    ("specs/torchvision/resnext101_32x8d.arch", None, "torchvision", "resnext101_32x8d"),
    ("specs/torchvision/wide_resnet50_2.arch", None, "torchvision", "wide_resnet50_2"),
    ("specs/torchvision/wide_resnet101_2.arch", None, "torchvision", "wide_resnet101_2"),
    ("specs/torchvision/convnext_tiny.arch", None, "torchvision", "convnext_tiny"),
    ("specs/torchvision/convnext_small.arch", None, "torchvision", "convnext_small"),
    ("specs/torchvision/efficientnet.arch", "EfficientNetB0", "torchvision", "efficientnet_b0"),
    ("specs/torchvision/efficientnet.arch", "EfficientNetB1", "torchvision", "efficientnet_b1"),
    ("specs/torchvision/mobilenet_v2.arch", None, "torchvision", "mobilenet_v2"),
    ("specs/torchvision/regnet_y_400mf.arch", None, "torchvision", "regnet_y_400mf"),
    ("specs/torchvision/regnet_y_800mf.arch", None, "torchvision", "regnet_y_800mf"),
    ("specs/timm/resnet50d.arch", None, "timm", "resnet50d"),
    ("specs/timm/seresnet50.arch", None, "timm", "seresnet50"),
    ("specs/timm/seresnext50_32x4d.arch", None, "timm", "seresnext50_32x4d"),
    ("specs/timm/resnet50_gn.arch", None, "timm", "resnet50_gn"),
    ("specs/timm/ecaresnet50d.arch", None, "timm", "ecaresnet50d"),
    ("specs/timm/resnetblur50.arch", None, "timm", "resnetblur50"),
    ("specs/timm/skresnet18.arch", None, "timm", "skresnet18"),
    ("specs/timm/res2net50_26w_4s.arch", None, "timm", "res2net50_26w_4s"),
    ("specs/timm/resnetrs50.arch", None, "timm", "resnetrs50"),
    ("specs/timm/resnetv2_50.arch", None, "timm", "resnetv2_50"),
    ("specs/timm/resnetv2_101.arch", None, "timm", "resnetv2_101"),
]
IDS = [entry[3] for entry in CONSTRUCTED]

MACS_CHECKED = {"resnet18", "resnext50_32x4d", "seresnet50", "ecaresnet50d"}
"""One of each kind of block (basic, grouped bottleneck, SE, ECA with a deep stem and average
pooling shortcut): torch's FLOP counter takes a second or two a network even on the meta device."""


def test_every_torchvision_and_timm_spec_is_held_here() -> None:
    from tests.conftest import SPECS

    shipped = {
        f"specs/{p.parent.name}/{p.name}" for p in SPECS.glob("*/*.arch") if p.parent.name in ("torchvision", "timm")
    }
    assert len(set(CONSTRUCTED)) == len(CONSTRUCTED), "a row twice (two merges adding the same spec?)"
    missing = shipped - {entry[0] for entry in CONSTRUCTED} - set(HELD_ELSEWHERE)
    assert not missing, f"add a row for each to CONSTRUCTED (its torchvision or timm constructor): {sorted(missing)}"


HELD_ELSEWHERE = {
    "specs/torchvision/convnext_tiny.arch": "tests/test_beyond_resnet.py",
    "specs/torchvision/convnext_small.arch": "tests/test_beyond_resnet.py",
    "specs/torchvision/mobilenet_v2.arch": "tests/test_torchvision_mobile.py",
    "specs/torchvision/efficientnet.arch": "tests/test_torchvision_mobile.py",
}
"""Specs whose torch layout is stated layer by layer (`as "features.1.0.block.0"`), not stages
`layer1..4`: the test named holds their counts to the constructor and loads its state_dict."""


@pytest.mark.parametrize(("spec", "network", "library", "name"), CONSTRUCTED, ids=IDS)
def test_parameters_are_the_constructors(spec: str, network: str | None, library: str, name: str) -> None:
    ours = resnet_dsl.load(spec, network=network)
    model = reference.constructor(library, name)
    trainable, fixed = reference.parameter_count(model)
    assert (ours.total_params.trainable, ours.total_params.non_trainable) == (trainable, fixed)
    if not hasattr(model, "layer1"):
        return  # not laid out as a ResNet (stem, layer1..4, head): the totals only
    per_section: dict[str, int] = {}
    for child_name, child in model.named_children():
        section = reference.section_of(child_name)
        per_section[section] = per_section.get(section, 0) + sum(reference.parameter_count(child))
    assert {s.name: s.params for s in sections(ours) if s.name != "input"} == per_section


@pytest.mark.parametrize(
    ("spec", "network", "library", "name"),
    [entry for entry in CONSTRUCTED if entry[3] in MACS_CHECKED],
    ids=sorted(MACS_CHECKED, key=IDS.index),
)
def test_macs_are_torchs_flop_count(spec: str, network: str | None, library: str, name: str) -> None:
    loaded = resnet_dsl.load(spec, network=network, overrides={"input": "64x64x3"})
    theirs = reference.sections(library, name, 64)
    ours = {s.name: s.macs for s in sections(loaded) if s.name != "input"}
    assert ours == {key: section.macs for key, section in theirs.items()}
