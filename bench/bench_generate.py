"""Code generation, timed: `resnet-dsl generate` per spec, and the generated ResNet-50's build.

    python bench/bench_generate.py [--runs N]

1. Whole-process `python -m resnet_dsl generate SPEC -o OUT.py` for every shipped spec
   (median of N runs; no TensorFlow is imported).
2. In one process, side by side, for specs/keras/resnet50.arch: importing the generated
   module and calling its `build_model()`, `to_keras(spec)` (parsing and expansion
   included), and `keras.applications.ResNet50(weights=None)`. Goal: the generated module
   within 10% of keras.applications. Runs rotate who goes first, with a fresh Keras
   session before each build, so drift in the machine affects all three alike.

Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SHIPPED_SPECS  # noqa: E402

KERAS_SPEC = "specs/keras/resnet50.arch"


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def generate_times(runs: int, directory: Path) -> dict[str, list[float]]:
    """Each spec generated in a fresh interpreter, as a user (or CI) runs it."""
    times: dict[str, list[float]] = {spec: [] for spec in SHIPPED_SPECS}
    for _ in range(runs):
        for spec in SHIPPED_SPECS:
            out = directory / (Path(spec).stem + ".py")
            command = [sys.executable, "-m", "resnet_dsl", "generate", spec, "-o", str(out)]
            times[spec].append(seconds(lambda c=command: subprocess.run(c, cwd=REPO, check=True)))
    return times


def import_and_build(path: Path) -> Callable[[], object]:
    """Import the generated module afresh (its source compiled each time) and build the model."""

    def run() -> object:
        spec = importlib.util.spec_from_file_location("generated_resnet50", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.build_model()

    return run


def build_times(runs: int, generated: Path) -> dict[str, list[float]]:
    import keras

    from resnet_dsl import to_keras

    builders: list[tuple[str, Callable[[], object]]] = [
        ("generated module: import + build_model()", import_and_build(generated)),
        (f"to_keras({KERAS_SPEC})", lambda: to_keras(KERAS_SPEC)),
        ("keras.applications.ResNet50(weights=None)", lambda: keras.applications.ResNet50(weights=None)),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in builders}
    for run in range(runs):
        shift = run % len(builders)
        for name, build in builders[shift:] + builders[:shift]:
            keras.backend.clear_session()
            gc.collect()
            times[name].append(seconds(build))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    os.chdir(REPO)

    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        generate = generate_times(args.runs, directory)
        print(f"Whole-process `resnet-dsl generate SPEC -o OUT.py`, median of {args.runs} runs")
        print(f"{'spec':<32} {'median s':>9} {'min s':>7} {'lines':>6}")
        for spec, samples in generate.items():
            lines = len((directory / (Path(spec).stem + ".py")).read_text(encoding="utf-8").splitlines())
            print(f"{spec:<32} {statistics.median(samples):>9.3f} {min(samples):>7.3f} {lines:>6}")
        print(f"{'all specs, one after another':<32} {sum(statistics.median(s) for s in generate.values()):>9.3f}")

        generated = directory / "generated_resnet50.py"
        from resnet_dsl.codegen import to_python

        generated.write_text(to_python(KERAS_SPEC), encoding="utf-8")
        builds = build_times(args.runs, generated)
    reference = statistics.median(builds["keras.applications.ResNet50(weights=None)"])
    print()
    print(f"ResNet-50 build in one process (TensorFlow already imported), median of {args.runs} runs")
    print(f"{'what':<44} {'median s':>9} {'min s':>7} {'vs keras':>9}")
    for name, samples in builds.items():
        median = statistics.median(samples)
        print(f"{name:<44} {median:>9.3f} {min(samples):>7.3f} {median / reference - 1:>+9.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
