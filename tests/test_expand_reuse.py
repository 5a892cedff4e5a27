"""Replayed block instances: `expand` copies an instance identical to one made before (same
block, arguments and input shape) under its own names; the network must be exactly the one
that evaluating every instance makes, for every network of the zoo and the test specs."""

from __future__ import annotations

import pytest

from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.builder import instance_key
from resnet_dsl.network.expand import expand
from resnet_dsl.network.loader import load_program, loads_program
from tests.conftest import REPO

SPEC_FILES = sorted(
    path.relative_to(REPO).as_posix() for path in [*REPO.glob("specs/**/*.arch"), *REPO.glob("tests/specs/*.arch")]
)


def _layers(network) -> list[tuple]:
    """Everything a layer holds: its fields, its span and where it comes from."""
    return [(layer.model_dump(), layer.span, layer.origin) for layer in network.layers]


@pytest.mark.parametrize("spec", SPEC_FILES)
def test_replayed_instances_equal_fresh_ones(spec: str) -> None:
    program = load_program(REPO / spec)
    scope = program.scope()
    for item in program.main.networks:
        reused, fresh = expand(scope, item), expand(scope, item, reuse=False)
        assert _layers(reused) == _layers(fresh)
        assert reused == fresh


def test_arguments_that_compare_equal_but_differ_in_type_key_apart() -> None:
    """1, 1.0 and true are equal in Python; a replay keyed on them could copy layers made
    from another value."""
    block = loads_program(SPEC).main.blocks[0]
    keys = {instance_key(block, {"f": value}, (8, 8, 4)) for value in (1, 1.0, True, (1,), (1.0,))}
    assert len(keys) == 5
    assert instance_key(block, {"f": 1}, (8, 8, 4)) == instance_key(block, {"f": 1}, (8, 8, 4))
    assert instance_key(block, {"f": 1}, (8, 8, 4)) != instance_key(block, {"f": 1}, (8, 8, 3))


SPEC = """
block b(f) {
  main { conv(f, 3, padding=same) as "fixed" }
  out = add(main, shortcut)
}
network N(input = 8x8x4) {
  stem { relu as "s_block2_fixed" }
  stage s: b(4) * 2
}
"""


def test_a_replayed_instance_reports_a_duplicate_name_as_a_fresh_one_does() -> None:
    """The second `b(4)` is a replay of the first; its `s_block2_fixed` is taken by the stem."""
    program = loads_program(SPEC)
    messages = []
    for reuse in (True, False):
        with pytest.raises(ArchError) as error:
            expand(program.scope(), program.main.networks[0], reuse=reuse)
        messages.append(error.value.render())
    assert "duplicate layer name 's_block2_fixed'" in messages[0]
    assert messages[0] == messages[1]
