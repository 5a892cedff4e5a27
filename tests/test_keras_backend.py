"""The Keras back end: the models it builds are the seed's, keras.applications' and torchvision's.

Large models are built once per session (`built` and `reference` cache them), so the
whole module stays within a few minutes on two cores.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO, SHIPPED_SPECS, run_cli

keras = pytest.importorskip("keras")

import resnet_dsl  # noqa: E402
from resnet_dsl import to_keras  # noqa: E402
from resnet_dsl.analysis.summary import render_stages, summary  # noqa: E402
from tests.seed_resnet50 import ResNet50 as seed_resnet50  # noqa: E402

pytestmark = pytest.mark.keras

SMALL = {"input": "32x32x3", "classes": 3}
"""Overrides that make a ResNet cheap to train in a test."""

KERAS_APPLICATIONS = [
    ("specs/keras/resnet50.arch", "ResNet50"),
    ("specs/keras/resnet101.arch", "ResNet101"),
    ("specs/keras/resnet152.arch", "ResNet152"),
    ("specs/keras/resnet50v2.arch", "ResNet50V2"),
    pytest.param("specs/keras/resnet101v2.arch", "ResNet101V2", marks=pytest.mark.slow),
    pytest.param("specs/keras/resnet152v2.arch", "ResNet152V2", marks=pytest.mark.slow),
]

UNNAMED = re.compile(r"max_pooling2d(_[0-9]+)?\Z")
"""keras.applications' V2 leaves its subsampling shortcuts unnamed, so Keras numbers them."""

CONFIG_KEYS = (
    "filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "use_bias",
    "axis", "epsilon", "momentum", "pool_size", "activation", "units", "rate",
)  # fmt: skip
"""The layer settings that decide what a layer computes (names and dtypes aside)."""

TINY_SEED_STYLE = """
network Tiny(input = 16x16x3, classes = 2) {
  stem {
    conv1: conv(8, 3, padding=same, init=glorot_uniform(seed=0)) -> bn(axis=3) -> relu
  }
  stage conv2: convolutional(3, [4, 4, 8], s=2), identity(3, [4, 4, 8])
  head {
    global_avgpool -> dense(classes, activation=softmax, init=glorot_uniform(seed=0)) as "predictions"
  }
}
"""

HIDE_TENSORFLOW = """
import runpy, sys

class HideTensorFlow:
    '''Behave as if neither TensorFlow nor Keras were installed.'''

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"tensorflow", "keras"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideTensorFlow())
runpy.run_module("resnet_dsl", run_name="__main__", alter_sys=True)
"""

MIRRORED_TRAINING_STEP = """
import json
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras
import numpy as np
from resnet_dsl import to_keras


def trained(strategy, weights):
    # One SGD step on the same 8 images, BatchNorm frozen (each replica would otherwise normalize
    # over its own 4 images): the model, its weights before the step, and the step's loss.
    with strategy.scope():
        model = to_keras("specs/torchvision/resnet18.arch", overrides={"input": "32x32x3", "classes": 3})
        for layer in model.layers:
            layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    if weights is not None:
        model.set_weights(weights)
    start = model.get_weights()
    rng = np.random.default_rng(0)
    images, labels = rng.random((8, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, 8)
    history = model.fit(images, labels, batch_size=8, shuffle=False, verbose=0)
    return model, start, history.history["loss"]


mirrored = tf.distribute.MirroredStrategy([device.name for device in tf.config.list_logical_devices("CPU")])
model, start, loss = trained(mirrored, None)
single, _, single_loss = trained(tf.distribute.get_strategy(), start)
pairs = list(zip(model.get_weights(), single.get_weights(), start))
print(json.dumps({
    "replicas": mirrored.num_replicas_in_sync,
    "mirrored": all(isinstance(v.value, tf.distribute.DistributedValues) for v in model.trainable_variables),
    "loss": loss,
    "single_loss": single_loss,
    "trainable": len(model.trainable_weights),
    "moved": sum(not np.array_equal(after, before) for after, _, before in pairs),
    "difference": max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)) for a, b, _ in pairs),
}))
"""


# ---------------------------------------------------------------- helpers --


def weight_count(weights: list[Any]) -> int:
    return sum(int(np.prod(weight.shape)) for weight in weights)


def random_images(shape: tuple[int, ...], batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)


def same_weights(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def settings(layer: keras.layers.Layer) -> dict[str, Any]:
    config = layer.get_config()
    return {key: config[key] for key in CONFIG_KEYS if key in config}


def layer_names(model: keras.Model) -> list[str]:
    """The names after the input's; an unnamed subsampling shortcut is named as the spec names
    it, after the block whose add it feeds (`conv2_block3_out` -> `conv2_block3_0_pool`)."""
    names = []
    for layer in model.layers[1:]:
        if UNNAMED.match(layer.name):
            (consumer,) = {node.operation.name for node in layer._outbound_nodes}
            names.append(consumer.removesuffix("_out") + "_0_pool")
        else:
            names.append(layer.name)
    return names


def assert_close(actual: np.ndarray, expected: np.ndarray, relative: float = 1e-4) -> None:
    """Equal within float32 noise, relative to the magnitude of the values compared."""
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert float(np.abs(actual - expected).max()) <= relative * scale


# --------------------------------------------------------------- fixtures --


@pytest.fixture(scope="session")
def built() -> Callable[[str], keras.Model]:
    """`to_keras(path)`, built once per spec for the whole session."""
    cache: dict[str, keras.Model] = {}

    def build(path: str) -> keras.Model:
        if path not in cache:
            cache[path] = to_keras(path)
        return cache[path]

    return build


@pytest.fixture(scope="session")
def reference() -> Callable[[str], keras.Model]:
    """`keras.applications.<name>(weights=None)`, built once per name for the whole session."""
    cache: dict[str, keras.Model] = {}

    def build(name: str) -> keras.Model:
        if name not in cache:
            cache[name] = getattr(keras.applications, name)(weights=None)
        return cache[name]

    return build


class SeedPair:
    """The DSL's and the notebook's ResNet-50, with their weights as first built."""

    def __init__(self, dsl: keras.Model, seed: keras.Model) -> None:
        self.dsl, self.seed = dsl, seed
        self.dsl_initial, self.seed_initial = dsl.get_weights(), seed.get_weights()


@pytest.fixture(scope="module")
def seed_pair(built: Callable[[str], keras.Model]) -> SeedPair:
    return SeedPair(built("specs/seed/resnet50.arch"), seed_resnet50(input_shape=(64, 64, 3), classes=6))


# ------------------------------------------------------------ seed model --


def test_seed_resnet50_has_the_reference_figures(built: Callable[[str], keras.Model]) -> None:
    model = built("specs/seed/resnet50.arch")
    assert model.name == "ResNet50"
    assert model.count_params() == 23_600_006
    assert weight_count(model.trainable_weights) == 23_546_886
    assert len(model.layers) == 177
    assert tuple(model.output.shape) == (None, 6)


def test_seed_resnet50_has_the_notebooks_layers(seed_pair: SeedPair) -> None:
    dsl, seed = seed_pair.dsl.layers, seed_pair.seed.layers
    assert [type(layer) for layer in dsl] == [type(layer) for layer in seed]
    assert [layer.count_params() for layer in dsl] == [layer.count_params() for layer in seed]
    assert [settings(layer) for layer in dsl] == [settings(layer) for layer in seed]
    assert [tuple(layer.output.shape) for layer in dsl] == [tuple(layer.output.shape) for layer in seed]


def test_seed_resnet50_starts_from_the_notebooks_weights(seed_pair: SeedPair) -> None:
    assert same_weights(seed_pair.dsl_initial, seed_pair.seed_initial)


def test_seed_resnet50_computes_what_the_notebook_computes(seed_pair: SeedPair) -> None:
    images = random_images((64, 64, 3), batch=4)
    # Called without `training`, the blocks' BatchNorm layers run with training=True, as
    # the notebook calls them; the stem's uses its moving statistics.
    np.testing.assert_array_equal(np.asarray(seed_pair.dsl(images)), np.asarray(seed_pair.seed(images)))
    np.testing.assert_array_equal(seed_pair.dsl.predict(images, verbose=0), seed_pair.seed.predict(images, verbose=0))


def test_two_builds_start_from_identical_weights(seed_pair: SeedPair) -> None:
    assert same_weights(to_keras("specs/seed/resnet50.arch").get_weights(), seed_pair.dsl_initial)


# ------------------------------------------------------ keras.applications --


@pytest.mark.parametrize(("spec", "name"), KERAS_APPLICATIONS)
def test_matches_keras_applications_layer_for_layer(
    spec: str, name: str, built: Callable[[str], keras.Model], reference: Callable[[str], keras.Model]
) -> None:
    dsl, ref = built(spec), reference(name)
    # The input layer's name is whatever Keras numbered it; everything after is named.
    assert [layer.name for layer in dsl.layers[1:]] == layer_names(ref)
    assert [type(layer) for layer in dsl.layers] == [type(layer) for layer in ref.layers]
    assert [settings(layer) for layer in dsl.layers] == [settings(layer) for layer in ref.layers]
    assert [tuple(layer.output.shape) for layer in dsl.layers] == [tuple(layer.output.shape) for layer in ref.layers]
    assert dsl.count_params() == ref.count_params()


@pytest.mark.parametrize(("spec", "name"), KERAS_APPLICATIONS)
def test_keras_applications_weights_give_the_same_outputs(
    spec: str, name: str, built: Callable[[str], keras.Model], reference: Callable[[str], keras.Model]
) -> None:
    dsl, ref = built(spec), reference(name)
    for layer in ref.layers[1:]:
        if layer.weights:  # every layer with weights is named as keras.applications names it
            dsl.get_layer(layer.name).set_weights(layer.get_weights())
    # Pooled features as well as the softmax, which can hide differences by saturating.
    dsl_probe, ref_probe = (keras.Model(m.input, [m.get_layer("avg_pool").output, m.output]) for m in (dsl, ref))
    images = random_images((224, 224, 3), batch=2)
    for actual, expected in zip(dsl_probe(images), ref_probe(images), strict=True):
        assert_close(np.asarray(actual), np.asarray(expected))


@pytest.mark.parametrize(("spec", "name"), KERAS_APPLICATIONS[::3])
def test_keras_applications_weights_file_loads(
    spec: str, name: str, reference: Callable[[str], keras.Model], tmp_path: Path
) -> None:
    dsl, ref = to_keras(spec), reference(name)
    assert not same_weights(dsl.get_weights(), ref.get_weights())
    ref.save_weights(tmp_path / "model.weights.h5")
    dsl.load_weights(tmp_path / "model.weights.h5")
    assert same_weights(dsl.get_weights(), ref.get_weights())


# ------------------------------------------------ torchvision and summary --


@pytest.mark.parametrize(
    ("spec", "trainable"),
    [
        ("specs/torchvision/resnet18.arch", 11_689_512),
        ("specs/torchvision/resnet34.arch", 21_797_672),
        ("specs/torchvision/resnet101.arch", 44_549_160),
        ("specs/torchvision/resnet152.arch", 60_192_808),
    ],
)
def test_torchvision_parameter_counts(spec: str, trainable: int, built: Callable[[str], keras.Model]) -> None:
    assert weight_count(built(spec).trainable_weights) == trainable


@pytest.mark.parametrize("spec", SHIPPED_SPECS)
def test_static_summary_is_what_keras_reports(spec: str, built: Callable[[str], keras.Model]) -> None:
    network, model = resnet_dsl.load(spec), built(spec)
    static = summary(network)
    assert sorted(row["name"] for row in static["layers"]) == sorted(layer.name for layer in model.layers)
    for row, layer in zip(static["layers"], network.layers, strict=True):
        keras_layer = model.get_layer(row["name"])
        assert row["output_shape"] == list(keras_layer.output.shape), row["name"]
        assert row["params"] == keras_layer.count_params(), row["name"]
        assert layer.params.trainable == weight_count(keras_layer.trainable_weights), row["name"]
        assert layer.params.non_trainable == weight_count(keras_layer.non_trainable_weights), row["name"]
    assert static["params"] == {
        "total": model.count_params(),
        "trainable": weight_count(model.trainable_weights),
        "non_trainable": weight_count(model.non_trainable_weights),
    }
    assert static["input_shape"] == list(model.input.shape)
    assert static["output_shape"] == list(model.output.shape)
    assert model.name == network.name


# ---------------------------------------------------------------- training --


@pytest.fixture(scope="module")
def trained() -> tuple[keras.Model, list[float], np.ndarray]:
    """A small ResNet-18 after a few steps on random data, its losses, and the data."""
    keras.utils.set_random_seed(0)
    model = to_keras("specs/torchvision/resnet18.arch", overrides=SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(True))
    images = random_images((32, 32, 3), batch=16)
    labels = np.random.default_rng(1).integers(0, 3, size=16)
    history = model.fit(images, labels, batch_size=16, epochs=6, verbose=0)
    return model, history.history["loss"], images


def test_fit_lowers_the_loss(trained: tuple[keras.Model, list[float], np.ndarray]) -> None:
    _, losses, _ = trained
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0]


def test_saved_model_reloads_with_identical_predictions(
    trained: tuple[keras.Model, list[float], np.ndarray], tmp_path: Path
) -> None:
    model, _, images = trained
    model.save(tmp_path / "resnet18.keras")
    reloaded = keras.models.load_model(tmp_path / "resnet18.keras")
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_saved_model_keeps_call_time_training(tmp_path: Path) -> None:
    model = to_keras(resnet_dsl.loads(TINY_SEED_STYLE))
    images = random_images((16, 16, 3), batch=4)
    model.save(tmp_path / "tiny.keras")
    reloaded = keras.models.load_model(tmp_path / "tiny.keras")
    in_blocks_training_mode = np.asarray(model(images))
    assert not np.allclose(in_blocks_training_mode, np.asarray(model(images, training=False)))
    np.testing.assert_array_equal(np.asarray(reloaded(images)), in_blocks_training_mode)


def test_trains_under_mirrored_strategy() -> None:
    """A zoo spec's model trains a step under MirroredStrategy on two logical CPUs, its variables
    mirrored, and ends where the same step on one device ends. Two logical CPUs must be configured
    before TensorFlow starts: a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_TRAINING_STEP],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["replicas"] == 2
    assert outcome["mirrored"] is True
    assert len(outcome["loss"]) == 1 and np.isfinite(outcome["loss"][0])
    assert outcome["loss"] == pytest.approx(outcome["single_loss"], rel=1e-5)
    assert outcome["moved"] == outcome["trainable"] > 20  # each kernel and bias moved; BatchNorm stayed
    assert outcome["difference"] <= 1e-5, outcome["difference"]


# --------------------------------------------------------------------- CLI --


TENSORFLOW_NOISE = ("oneDNN", "cuda", "cuInit", "absl", "I0000", "E0000", "W0000", "WARNING", "cpu_feature_guard")


def test_build_prints_the_summaries_and_saves(tmp_path: Path) -> None:
    target = tmp_path / "resnet18.keras"
    result = run_cli(
        "build",
        *("specs/torchvision/resnet18.arch", "--set", "input=32x32x3", "--set", "classes=3"),
        *("--keras-summary", "--save", str(target)),
    )
    assert result.returncode == 0, result.stderr
    network = resnet_dsl.load("specs/torchvision/resnet18.arch", overrides=SMALL)
    assert result.stdout.startswith(render_stages(network) + "\n")  # the tool's own summary first
    assert 'Model: "ResNet18"' in result.stdout
    assert f"Total params: {network.total_params.total:,}" in result.stdout
    assert sorted(os.listdir(tmp_path)) == [target.name]  # no temporary file left behind
    loaded = keras.models.load_model(target)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in to_keras(network).layers]
    assert loaded.count_params() == network.total_params.total


def test_build_is_quiet_unless_verbose() -> None:
    """TensorFlow's C++ start-up logging (oneDNN, CUDA drivers, cuInit) reads as a failure."""
    quiet = run_cli("build", "specs/torchvision/resnet18.arch", "--set", "input=32x32x3")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == (
        "ResNet18 (specs/torchvision/resnet18.arch): 74 layers checked; loading TensorFlow...\n"
        "building the Keras model ResNet18...\n"
    )
    assert not any(noise in quiet.stdout for noise in TENSORFLOW_NOISE)
    assert 'Model: "ResNet18"' not in quiet.stdout  # Keras's table only with --keras-summary
    verbose = run_cli("build", "specs/torchvision/resnet18.arch", "--set", "input=32x32x3", "--verbose")
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stderr.startswith(
        "ResNet18 (specs/torchvision/resnet18.arch): 74 layers checked; loading TensorFlow...\n"
    )
    assert verbose.stdout == quiet.stdout


BAD_SPEC = """network Bad(input = 32x32x3) {
  stem {
    conv1: conv(64, 7, strid=2) -> relu
  }
  head {
    global_avgpool
  }
}
"""


@pytest.mark.parametrize("existing", [None, b"a model saved earlier"])
def test_build_spec_error_writes_nothing(existing: bytes | None, tmp_path: Path) -> None:
    spec, target = tmp_path / "bad.arch", tmp_path / "model.keras"
    spec.write_text(BAD_SPEC, encoding="utf-8")
    if existing is not None:
        target.write_bytes(existing)
    result = run_cli("build", str(spec), "--save", str(target))
    assert result.returncode == 1
    assert re.match(rf"{re.escape(str(spec))}:3:24: error: conv has no option 'strid'", result.stderr)
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == sorted(["bad.arch"] + (["model.keras"] if existing else []))
    if existing is not None:
        assert target.read_bytes() == existing


def test_build_saves_only_the_keras_format(tmp_path: Path) -> None:
    result = run_cli("build", "specs/torchvision/resnet18.arch", "--save", str(tmp_path / "model.h5"))
    assert result.returncode == 2
    assert "--save PATH must end in .keras" in result.stderr
    assert os.listdir(tmp_path) == []


def test_build_without_tensorflow_says_how_to_install_it() -> None:
    def hidden(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-c", HIDE_TENSORFLOW, *args]
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)

    build = hidden("build", "specs/seed/resnet50.arch")
    assert build.returncode == 1
    assert build.stderr.endswith("\nTensorFlow is required for 'build': pip install \"resnet-dsl[keras]\"\n")
    check = hidden("check", "specs/seed/resnet50.arch")
    assert check.returncode == 0, check.stderr
    summary_run = hidden("summary", "specs/seed/resnet50.arch")
    assert summary_run.returncode == 0, summary_run.stderr


def _top_level_imports(tree: ast.Module) -> Iterator[str]:
    """Modules imported when a module is imported: not inside functions or classes."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))


def test_only_the_keras_backend_imports_tensorflow_at_import_time() -> None:
    importers = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "resnet_dsl").rglob("*.py"))
        if any(
            name.partition(".")[0] in {"tensorflow", "keras"}
            for name in _top_level_imports(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert importers == ["resnet_dsl/backends/keras.py", "resnet_dsl/backends/keras_layers.py"]
