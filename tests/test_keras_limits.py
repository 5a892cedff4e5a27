"""`to_keras` at the edges: what passes `check` but cannot be built, and what is merely deep.

A spec with absurd sizes is refused with a located error before Keras allocates anything;
a network deep enough to exhaust Keras's recursion (CIFAR ResNet-1202) builds, and matches
its summary layer for layer.
"""

from __future__ import annotations

import re

import pytest

import resnet_dsl
from resnet_dsl.cli import main
from resnet_dsl.language.errors import ArchError
from tests.conftest import REPO

keras = pytest.importorskip("keras")
from resnet_dsl.backends.keras import MAX_MODEL_PARAMS, MAX_TENSOR_SIZE, to_keras  # noqa: E402

pytestmark = pytest.mark.keras

RESNET_1202 = REPO / "tests" / "specs" / "resnet1202.arch"

# (what, spec, the error)
UNBUILDABLE = [
    (
        "filters",
        "network N(input = 8x8x3) {\n  stem { conv(300000000, 3) }\n}\n",
        r"Keras cannot build layer 'conv': a weight of 8,100,000,000 elements is over TensorFlow's limit of "
        r"2,147,483,647",
    ),
    (
        "units",
        "network N(input = 8x8x3) {\n  head { flatten -> dense(100000000) }\n}\n",
        r"Keras cannot build layer 'dense': a weight of 19,200,000,000 elements is over TensorFlow's limit of "
        r"2,147,483,647",
    ),
    (
        "input",
        "network N(input = 4294967296x1x3) {\n  head { global_avgpool }\n}\n",
        r"Keras cannot build layer 'input_layer': a dimension of 4,294,967,296 in its output "
        r"\(None, 4294967296, 1, 3\) is over TensorFlow's limit of 2,147,483,647",
    ),
    (
        "model",
        'network N(input = 8x8x3) {\n  stem { conv(40000, 3) as "a" -> conv(40000, 1) as "b" -> conv(40000, 1) as "c" }'
        "\n}\n",
        r"Keras cannot build N: 3,201,200,000 parameters is over the limit of 2,147,483,647 \(8 GiB of float32\)",
    ),
]


@pytest.mark.parametrize(("what", "spec", "message"), UNBUILDABLE, ids=[c[0] for c in UNBUILDABLE])
def test_a_spec_keras_cannot_build_is_a_clear_error(what: str, spec: str, message: str) -> None:
    network = resnet_dsl.loads(spec, path="t.arch")  # it passes check
    with pytest.raises(ArchError) as raised:
        to_keras(network)
    first = raised.value.render().splitlines()[0]
    assert re.fullmatch(rf"t.arch:\d+:\d+: error: {message}", first), first


def test_the_limits_are_tensorflows() -> None:
    assert MAX_TENSOR_SIZE == MAX_MODEL_PARAMS == 2**31 - 1


def test_build_reports_an_unbuildable_spec_with_exit_1(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "huge.arch"
    spec.write_text(UNBUILDABLE[0][1])
    target = tmp_path / "model.keras"
    assert main(["build", str(spec), "--save", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"{spec}:2:10: error: Keras cannot build layer 'conv'" in err
    assert "Traceback" not in err
    assert not target.exists()


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
