"""The DSL's ResNet-50 against keras.applications.ResNet50, side by side in one process.

    python bench/bench_keras.py [--runs N]

Build time: `to_keras("specs/keras/resnet50.arch")` (parsing and expansion included) vs
`keras.applications.ResNet50(weights=None)`; goal: within 10%. Predict throughput on a
batch of 8 224x224x3 images, after a warm-up; goal: within 5%. Runs alternate between
the two, each going first in turn, so that drift in the machine's speed (or other work on
it) affects both alike; medians are reported.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from resnet_dsl import to_keras

SPEC = Path(__file__).resolve().parents[1] / "specs" / "keras" / "resnet50.arch"
BATCH = 8


def dsl_model() -> keras.Model:
    return to_keras(SPEC)


def reference_model() -> keras.Model:
    return keras.applications.ResNet50(weights=None)


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def build_times(runs: int) -> dict[str, list[float]]:
    """Fresh Keras state before each build, so neither pays for the other's leftovers."""
    builders: list[tuple[str, Callable[[], keras.Model]]] = [("dsl", dsl_model), ("keras", reference_model)]
    times: dict[str, list[float]] = {name: [] for name, _ in builders}
    for run in range(runs):
        for name, build in builders if run % 2 else builders[::-1]:  # alternate who goes first
            keras.backend.clear_session()
            gc.collect()
            times[name].append(seconds(build))
    return times


def predict_times(runs: int) -> dict[str, list[float]]:
    """Seconds per `predict` of one batch, after two warm-up calls (tracing, allocation)."""
    keras.backend.clear_session()
    models = {"dsl": dsl_model(), "keras": reference_model()}
    images = np.random.default_rng(0).random((BATCH, 224, 224, 3), dtype=np.float32)
    for model in models.values():
        for _ in range(2):
            model.predict(images, batch_size=BATCH, verbose=0)
    times: dict[str, list[float]] = {name: [] for name in models}
    for run in range(runs):
        for name, model in models.items() if run % 2 else reversed(models.items()):
            times[name].append(seconds(lambda model=model: model.predict(images, batch_size=BATCH, verbose=0)))
    return times


def paired_ratio(times: dict[str, list[float]]) -> float:
    """Median of run-by-run ratios: a slow spell of a shared machine hits both sides of a pair."""
    return statistics.median(dsl / reference for dsl, reference in zip(times["dsl"], times["keras"], strict=True))


def row(what: str, dsl: float, reference: float, unit: str, ratio: float, goal: str) -> str:
    return f"{what:<22} {dsl:>10.3f} {reference:>10.3f}  {unit:<9} {ratio:>6.3f}  {goal}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each measurement (default 9)")
    runs = parser.parse_args().runs

    build, predict = build_times(runs), predict_times(runs)
    build_s = {name: statistics.median(values) for name, values in build.items()}
    predict_s = {name: statistics.median(values) for name, values in predict.items()}
    predict_ratio = paired_ratio(predict)

    print(f"ResNet-50, Keras {keras.__version__} ({keras.backend.backend()}), median of {runs} runs;")
    print("ratio = median of run-by-run ratios resnet-dsl / keras.applications")
    print(f"{'':<22} {'resnet-dsl':>10} {'keras.app':>10}  {'unit':<9} {'ratio':>6}  goal")
    print(row("build", build_s["dsl"], build_s["keras"], "s", paired_ratio(build), "<= 1.10"))
    print(row(f"predict, batch of {BATCH}", predict_s["dsl"], predict_s["keras"], "s", predict_ratio, "<= 1.05"))
    throughput = {name: BATCH / seconds_per_batch for name, seconds_per_batch in predict_s.items()}
    print(row("predict throughput", throughput["dsl"], throughput["keras"], "images/s", 1 / predict_ratio, ">= 0.95"))


if __name__ == "__main__":
    main()
