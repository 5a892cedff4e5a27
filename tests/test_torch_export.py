"""Deployment of the torch models: `torch.export` and `torch.compile(fullgraph=True)` for every
shipped spec, ONNX through `resnet-dsl export`, run by onnxruntime, for one spec of each kind of
block (`FAMILIES`; the large ones under `-m slow`), for `to_torch`'s modules and the generated ones.

`torch.compile` runs with the "eager" backend: dynamo must capture the whole forward pass as one
graph (`fullgraph=True` fails on any graph break), which is what the test holds; inductor's code
generation on top takes minutes per model on two cores and is held once, on a small network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_codegen import import_source
from tests.torch_deploy import cli_args, family_params, randomize_, small, zoo_params

torch = pytest.importorskip("torch")

from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.backends.torch_export import INPUT_NAME, example_input, exported, to_onnx  # noqa: E402
from resnet_dsl.cli import main as cli_main  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # helpers and CI share two cores


def assert_close(actual: Any, expected: Any, tolerance: float = 1e-4) -> None:
    """Within `tolerance`, relative to the largest value where that exceeds 1."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1.0)
    difference = float(np.abs(actual - expected).max())
    assert difference <= tolerance * scale, f"max abs difference {difference:.3g} (values up to {scale:.3g})"


def models(spec: str) -> tuple[Any, Any]:
    """`to_torch`'s model at 64x64, weights randomized, and the generated module with the same weights."""
    model = randomize_(to_torch(spec, **small(spec))).eval()
    generated = import_source(to_python(spec, target="torch", **small(spec))).build_model()
    generated.load_state_dict(model.state_dict(), strict=True)
    return model, generated.eval()


def output(model: Any, images: Any) -> np.ndarray:
    with torch.no_grad():
        return model(images).numpy()


@pytest.mark.parametrize("spec", family_params())
def test_torch_export_and_onnxruntime_give_the_outputs(spec: str, tmp_path: Path) -> None:
    """One capture per module; the ONNX file (of `to_torch`'s) run by onnxruntime at two batch sizes."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, generated = models(spec)
    images = example_input(spec, batch=3, **small(spec))  # not the example's batch: it stays free
    expected = output(model, images)
    assert_close(output(exported(generated, spec, **small(spec)).module(), images), expected)
    program = exported(model, spec, **small(spec))
    assert_close(output(program.module(), images), expected)
    to_onnx(program, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        images = example_input(spec, batch=batch, **small(spec))
        (actual,) = session.run(None, {INPUT_NAME: images.numpy()})
        assert_close(actual, output(model, images))


@pytest.mark.parametrize("spec", zoo_params())
def test_compile_captures_one_graph(spec: str) -> None:
    model, generated = models(spec)
    images = example_input(spec, batch=3, **small(spec))
    expected = output(model, images)
    for module in (model, generated):
        torch._dynamo.reset()
        assert_close(output(torch.compile(module, fullgraph=True, backend="eager"), images), expected)


def test_the_export_command_writes_what_onnxruntime_runs_folded(tmp_path: Path, cli: Any) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    spec = "papers/cifar_resnet"
    model = randomize_(to_torch(spec, **small(spec))).eval()
    weights, path = tmp_path / "weights.pt", tmp_path / "model.onnx"
    torch.save(model.state_dict(), weights)
    result = cli("export", spec, *cli_args(spec), "--weights", str(weights), "--fold", "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {path}\n"
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = example_input(spec, batch=2, **small(spec))
    (actual,) = session.run(None, {INPUT_NAME: images.numpy()})
    assert_close(actual, output(model, images))


@pytest.mark.slow
def test_inductor_compiles_a_small_network() -> None:
    spec = "papers/cifar_resnet"
    model = randomize_(to_torch(spec, network="ResNet20")).eval()
    images = example_input(spec, batch=2, network="ResNet20")
    torch._dynamo.reset()
    assert_close(output(torch.compile(model, fullgraph=True), images), output(model, images))


# ------------------------------------------------------------------ failures --


def test_a_bad_weights_file_is_a_located_error_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.onnx"
    other = tmp_path / "other.pt"
    torch.save(to_torch("papers/cifar_resnet", network="ResNet32").state_dict(), other)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a state_dict\n")
    args = ["export", "papers/cifar_resnet", "--network", "ResNet20", "-o", str(path)]
    for weights, message in (
        (other, "the weights do not fit ResNet20: "),
        (junk, "cannot read the weights: not a file torch.save wrote"),
        (tmp_path / "missing.pt", "cannot read the weights: no such file"),
    ):
        assert cli_main([*args, "--weights", str(weights)]) == 1
        stderr = capsys.readouterr().err
        assert stderr.startswith(f"{weights}: error: {message}"), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.pt", "other.pt"]


def test_an_export_that_fails_half_way_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """torch refuses the export inside the write: the message names the spec; the file is untouched."""
    spec = tmp_path / "net.arch"
    spec.write_text(
        "network Net(input = 8x8x3, classes = 2) {\n"
        "  stem { conv(4, 3) -> bn -> relu }\n"
        "  head { global_avgpool -> dense(classes) }\n"
        "}\n"
    )
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old file")

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("an operator this exporter does not know\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", refuse)
    assert cli_main(["export", str(spec), "-o", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"{spec}: error: torch cannot export Net to onnx: an operator this exporter does not know"
    )
    assert path.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "net.arch"]


def test_a_spec_error_is_located_and_a_directory_target_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "bad.arch"
    spec.write_text("network Net(input = 8x8x3) {\n  stem { conv(4, 3) -> bogus }\n}\n")
    assert cli_main(["export", str(spec), "-o", str(tmp_path / "model.onnx")]) == 1
    assert capsys.readouterr().err.startswith(f"{spec}:2:")
    assert cli_main(["export", "torchvision/resnet18", "-o", str(tmp_path)]) == 1
    assert "it is a directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arch"]
