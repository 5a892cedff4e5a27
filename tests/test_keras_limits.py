"""`to_keras` at the edges: what no back end can hold, and what is merely deep.

A spec with absurd sizes is refused by `check` itself, with a located error, before Keras (or
torch) allocates anything: the one limit is `limits.MAX_ALLOCATION`, held at its edges in
tests/test_limits.py. A network deep enough to exhaust Keras's recursion (CIFAR ResNet-1202)
builds, and matches its summary layer for layer.
"""

from __future__ import annotations

import re

import pytest

import resnet_dsl
from resnet_dsl.cli import main
from resnet_dsl.language.errors import ArchError
from tests.conftest import REPO

keras = pytest.importorskip("keras")
from resnet_dsl.backends.keras import to_keras  # noqa: E402

pytestmark = pytest.mark.keras

RESNET_1202 = REPO / "tests" / "specs" / "resnet1202.arch"

# (what, spec, the error): TensorFlow refused the first three itself, and would have tried the last
UNBUILDABLE = [
    (
        "filters",
        "network N(input = 3x3x3) {\n  stem { conv(300000000, 3) }\n}\n",
        r"layer 'conv': the network's parameters reach 8,400,000,000 here, over the limit of 2,147,483,647 "
        r"\(8 GiB of float32\)",
    ),
    (
        "units",
        "network N(input = 8x8x3) {\n  head { flatten -> dense(100000000) }\n}\n",
        r"layer 'dense': the network's parameters reach 19,300,000,000 here, over the limit of 2,147,483,647 "
        r"\(8 GiB of float32\)",
    ),
    (
        "input",
        "network N(input = 4294967296x1x3) {\n  head { global_avgpool }\n}\n",
        r"layer 'input_layer': its output 4294967296x1x3 has more than 2,147,483,647 elements per sample",
    ),
    (
        "model",
        'network N(input = 8x8x3) {\n  stem { conv(40000, 3) as "a" -> conv(40000, 1) as "b" -> conv(40000, 1) as "c" }'
        "\n}\n",
        r"layer 'c': the network's parameters reach 3,201,200,000 here, over the limit of 2,147,483,647 "
        r"\(8 GiB of float32\)",
    ),
]


@pytest.mark.parametrize(("what", "spec", "message"), UNBUILDABLE, ids=[c[0] for c in UNBUILDABLE])
def test_a_spec_no_back_end_can_hold_is_a_located_check_error(what: str, spec: str, message: str) -> None:
    with pytest.raises(ArchError) as raised:
        resnet_dsl.loads(spec, path="t.arch")
    first = raised.value.render().splitlines()[0]
    assert re.fullmatch(rf"t.arch:\d+:\d+: error: {message}", first), first


@pytest.mark.parametrize("target", ["keras", "torch"])
def test_build_reports_an_unbuildable_spec_with_exit_1(
    tmp_path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    spec = tmp_path / "huge.arch"
    spec.write_text(UNBUILDABLE[0][1])
    saved = tmp_path / ("model.keras" if target == "keras" else "model.pt")
    assert main(["build", str(spec), "--target", target, "--save", str(saved)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:10: error: layer 'conv': the network's parameters reach" in err
    assert "Traceback" not in err
    assert not saved.exists()


@pytest.mark.slow
def test_resnet_1202_builds_and_matches_its_summary() -> None:
    """4,212 layers: Keras's graph walk recursed past Python's limit before `to_keras` made room."""
    network = resnet_dsl.load(RESNET_1202)
    assert len(network.layers) == 4212
    keras.backend.clear_session()
    model = to_keras(network)
    summary = resnet_dsl.summary(network)
    layers = {layer.name: layer for layer in model.layers}  # Keras orders them its own way
    assert sorted(layers) == sorted(row["name"] for row in summary["layers"])
    for row in summary["layers"]:
        assert list(layers[row["name"]].output.shape) == row["output_shape"], row["name"]
        assert layers[row["name"]].count_params() == row["params"], row["name"]
    assert model.count_params() == summary["params"]["total"] == 19_513_850
