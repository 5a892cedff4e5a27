"""The families the costly sweeps lean on (`tests/families.py`): each member's generated Keras and
torch code is its representative's but for its numbers, so what the sweeps hold of the
representative's code holds of the member's."""

from __future__ import annotations

import functools

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError
from tests.families import FAMILIES, up_to_numbers


@functools.cache  # a representative serves several members
def generated(name: str, target: str) -> str:
    """The spec's code for `target`, up to numbers; a located error's message where it has none."""
    file, _, network = name.partition(":")
    spec = f"specs/{file}.arch"
    options = {"network": network} if network else {}
    try:
        source = to_python(spec, target=target, **options)
    except ArchError as error:  # timm's ResNetV2 pools as only torch does: both refuse Keras alike
        return f"refused: {error.message}"
    return up_to_numbers(source, spec, resnet_dsl.load(spec, **options).name)


@pytest.mark.parametrize("target", ["keras", "torch"])
@pytest.mark.parametrize(("member", "representative"), FAMILIES.items(), ids=list(FAMILIES))
def test_a_member_generates_its_representatives_code_but_for_numbers(
    member: str, representative: str, target: str
) -> None:
    expected, actual = generated(representative, target), generated(member, target)
    assert actual == expected, f"{member} is not {representative} in {target}: sweep it in its own right"


def test_a_network_with_other_blocks_is_no_member() -> None:
    """The comparison sees a difference of kind: ResNeXt's grouped bottleneck is not ResNet's."""
    assert generated("torchvision/resnext50_32x4d", "torch") != generated("torchvision/resnet50", "torch")
    assert generated("keras/resnet50v2", "keras") != generated("keras/resnet50", "keras")
