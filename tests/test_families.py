"""The families the costly sweeps lean on (`tests/families.py`): each member's generated Keras and
torch code is its representative's but for its numbers, so what the sweeps hold of the
representative's code holds of the member's. The same holds of the shallow networks the
sweeps run (`shallow`) against their full depth."""

from __future__ import annotations

import functools

import pytest

import resnet_dsl
from resnet_dsl.codegen import to_python
from resnet_dsl.language.errors import ArchError
from tests.conftest import ZOO_NETWORKS, split_network
from tests.families import FAMILIES, shallow, swept, up_to_numbers, zoo_name


@functools.cache  # a representative serves several members
def generated(name: str, target: str, overrides: tuple[tuple[str, str], ...] = ()) -> str:
    """The spec's code for `target`, up to numbers; a located error's message where it has none."""
    file, _, network = name.partition(":")
    spec = f"specs/{file}.arch"
    options = {"network": network} if network else {}
    try:
        source = to_python(spec, target=target, overrides=dict(overrides), **options)
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


ZOO_NAMES = [zoo_name(spec, options.get("network")) for spec, options in map(split_network, ZOO_NETWORKS)]


@pytest.mark.parametrize("target", ["keras", "torch"])
@pytest.mark.parametrize("name", [name for name in ZOO_NAMES if swept(name) and shallow(name)])
def test_a_shallow_network_generates_its_full_depth_code_but_for_numbers(name: str, target: str) -> None:
    """A stage cut to its first block and a repeat keeps every kind of block the stage has."""
    shallow_code = generated(name, target, tuple(shallow(name).items()))
    assert shallow_code == generated(name, target), f"{name} loses a block at {shallow(name)}: give it more in DEEPER"
