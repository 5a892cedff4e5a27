"""Inference folding: `to_torch(spec, fold=True)`, `fold(model, spec)`, `generate --target torch --fold`.

Every shipped spec at 64x64 and two blocks a stage (`tests/torch_deploy.py`; the large ones under
`-m slow`), weights and statistics randomized: the folded model gives the unfolded one's outputs in
eval mode within 1e-5 relative, has no BatchNorm after a convolution left and no dropout. Speed is
the benchmark's (bench/bench_torch.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from tests.test_codegen import import_source, ruff
from tests.torch_deploy import randomize_, small, zoo_params

torch = pytest.importorskip("torch")

import resnet_dsl  # noqa: E402
from resnet_dsl.backends.fold_plan import fold_plan  # noqa: E402
from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.backends.torch_export import example_input  # noqa: E402
from resnet_dsl.backends.torch_fold import fold  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def assert_relatively_close(actual: Any, expected: Any, tolerance: float = 1e-5) -> None:
    """Within `tolerance` of the largest value (float32 rounding of a folded product)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.abs(expected).max())
    difference = float(np.abs(actual - expected).max())
    assert difference <= tolerance * scale, f"max abs difference {difference:.3g} (values up to {scale:.3g})"


def output(model: Any, images: Any) -> np.ndarray:
    with torch.no_grad():
        return model(images).numpy()


def batchnorms(model: Any) -> int:
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


@pytest.mark.parametrize("spec", zoo_params())
def test_folded_models_give_the_unfolded_outputs(spec: str) -> None:
    model = randomize_(to_torch(spec, **small(spec))).eval()
    state = model.state_dict()
    images = example_input(spec, batch=2, **small(spec))
    expected = output(model, images)
    plan = fold_plan(resnet_dsl.load(spec, **small(spec)))
    assert plan.folds or not batchnorms(model)  # resnet50_gn normalizes by groups: nothing to fold

    folded = fold(model, spec, **small(spec))
    assert_relatively_close(output(folded, images), expected)
    assert batchnorms(folded) == batchnorms(model) - len(plan.folds)
    assert not any(isinstance(m, torch.nn.Dropout) for m in folded.modules())
    assert output(model, images).tobytes() == expected.tobytes(), "fold() left the model it was given alone"

    built = to_torch(spec, fold=True, **small(spec))
    assert not built.training
    assert set(built.state_dict()) == set(folded.state_dict())

    generated = import_source(to_python(spec, target="torch", fold=True, **small(spec)))
    inference = generated.build_inference_model(state)
    assert_relatively_close(output(inference, images), expected)
    assert batchnorms(inference) == batchnorms(folded)


def test_a_convolution_whose_output_is_also_used_elsewhere_keeps_its_batchnorm() -> None:
    network = resnet_dsl.loads(
        """
        block twice(f) {
          main { conv(f, 3, padding=same) as "c" }
          left from main { bn as "n" }
          out = add(left, main)
        }
        network Net(input = 8x8x3, classes = 2) {
          stem { conv(4, 3, padding=same) -> bn -> relu }
          stage s: twice(4)
          head { global_avgpool -> dropout(0.5) -> dense(classes) }
        }
        """
    )
    plan = fold_plan(network)
    assert [conv for conv, _ in plan.folds] == ["conv1"]  # the stem's; the block's "c" also feeds the add
    assert len(plan.identities) == 1
    model = randomize_(to_torch(network)).eval()
    images = torch.rand(3, 3, 8, 8)
    folded = fold(model, network)
    assert_relatively_close(output(folded, images), output(model, images))
    assert batchnorms(folded) == 1


def test_generated_folding_code_is_ruff_clean(tmp_path: Path) -> None:
    for index, spec in enumerate(("seed/resnet50_dropout", "torchvision/resnet18")):
        (tmp_path / f"module{index}.py").write_text(to_python(spec, target="torch", fold=True), encoding="utf-8")
    config = str(REPO / "pyproject.toml")
    for args in (("format", "--check", "--diff", "--config", config), ("check", "--config", config, "--no-cache")):
        result = ruff(*args, str(tmp_path))
        assert result.returncode == 0, result.stdout + result.stderr


def test_generate_fold_needs_the_torch_target(cli: Any) -> None:
    result = cli("generate", "torchvision/resnet18", "--fold")
    assert result.returncode == 2
    assert "--fold needs --target torch" in result.stderr
