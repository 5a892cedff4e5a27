"""Deployment of the torch models: ONNX through `to_onnx` (what `resnet-dsl export` writes), run by
onnxruntime, and `torch.export`, of `to_torch`'s module; `torch.export` of the generated one;
`torch.compile(fullgraph=True)` of both. For every shipped spec (the large ones under `-m slow`)
but a family's deeper members, whose code is a smaller one's but for its numbers
(`tests/families.py`); each at 64x64 and at most two blocks a stage (`tests/torch_deploy.py`),
which generates the full network's code but for its numbers too.

One test a spec, so its two modules are built once for every check; pytest-xdist spreads the
specs. The ONNX round trip is the costly check (the dynamo exporter decomposes, translates and
optimizes the graph in Python: about 8 s of one core for a ResNet-50, where `torch.export` takes
2 s; `bench/deploy_costs.py` measures each step), so nothing in it is done twice.

`torch.compile` runs with the "eager" backend: dynamo must capture the whole forward pass as one
graph (`fullgraph=True` fails on any graph break), which is what the test holds; inductor's code
generation on top takes minutes per model on two cores and is held once, on a small network.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.test_codegen import import_source
from tests.torch_deploy import cli_args, randomize_, small, zoo_params

torch = pytest.importorskip("torch")

from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.backends.torch_export import INPUT_NAME, example_input, exported, to_onnx  # noqa: E402
from resnet_dsl.cli import main as cli_main  # noqa: E402
from resnet_dsl.codegen import to_python  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # helpers and CI share two cores


@pytest.fixture(autouse=True, scope="module")
def _one_torchlib_registry() -> Iterator[None]:
    """`torch.onnx.export` builds onnxscript's registry of ATen translations anew on every call,
    re-reading some 500 functions' source (0.5 to 1 s a call, most of a small model's export); the
    registry is read-only where no custom translations are given, so this module's exports share one.
    Where torch keeps it elsewhere, the exports build their own, as they would anyway."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ONNXRegistry, "from_torchlib", classmethod(functools.cache(ONNXRegistry.from_torchlib.__func__)))
        yield


def assert_close(actual: Any, expected: Any, tolerance: float = 1e-4) -> None:
    """Within `tolerance`, relative to the largest value where that exceeds 1."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1.0)
    difference = float(np.abs(actual - expected).max())
    assert difference <= tolerance * scale, f"max abs difference {difference:.3g} (values up to {scale:.3g})"


def reference(spec: str) -> Any:
    """`to_torch`'s model at 64x64, weights randomized, in eval mode."""
    return randomize_(to_torch(spec, **small(spec))).eval()


def generated_like(model: Any, spec: str) -> Any:
    """The generated module of `spec` at 64x64, holding `model`'s weights, in eval mode."""
    generated = import_source(to_python(spec, target="torch", **small(spec))).build_model()
    generated.load_state_dict(model.state_dict(), strict=True)
    return generated.eval()


def output(model: Any, images: Any) -> np.ndarray:
    with torch.no_grad():
        return model(images).numpy()


def one_thread_session(path: Path) -> Any:
    """An onnxruntime session on one thread: its default pool spins on every core, which two
    xdist workers on two cores pay for twice."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("spec", zoo_params())
def test_the_spec_deploys(spec: str, tmp_path: Path) -> None:
    """Each deployment path of one spec, on one `to_torch` module and one generated module."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    options = small(spec)
    model = reference(spec)
    generated = generated_like(model, spec)
    images = example_input(spec, batch=3, **options)
    expected = output(model, images)

    # ONNX, one capture: the exported program's outputs, then its file's under onnxruntime at two
    # batch sizes (neither the example's: the batch stays free).
    program = exported(model, spec, **options)
    assert_close(output(program.module(), images), expected)
    path = tmp_path / "model.onnx"
    to_onnx(program, path)
    session = one_thread_session(path)
    path.unlink()  # a large spec's file is hundreds of MB; pytest keeps the last runs' tmp_path
    for batch in (1, 3):
        batch_images = example_input(spec, batch=batch, **options)
        (actual,) = session.run(None, {INPUT_NAME: batch_images.numpy()})
        assert_close(actual, output(model, batch_images))

    # torch.export of the generated module; torch.compile(fullgraph=True) of both
    assert_close(output(exported(generated, spec, **options).module(), images), expected)
    for module in (model, generated):
        torch._dynamo.reset()
        assert_close(output(torch.compile(module, fullgraph=True, backend="eager"), images), expected)


def test_the_export_command_writes_what_onnxruntime_runs_folded(tmp_path: Path, cli: Any) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    spec = "papers/cifar_resnet"
    model = randomize_(to_torch(spec, **small(spec))).eval()
    weights, path = tmp_path / "weights.pt", tmp_path / "model.onnx"
    torch.save(model.state_dict(), weights)
    result = cli("export", spec, *cli_args(spec), "--weights", str(weights), "--fold", "-o", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {path}\n"
    session = one_thread_session(path)
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
