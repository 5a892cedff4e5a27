"""The DSL's torch ResNet-50 against torchvision.models.resnet50, side by side in one process.

    python bench/bench_torch.py [--runs N]

Build time: `to_torch` of torchvision's resnet50 spec (specs/torchvision/resnet101.arch with its depths
set to [3, 4, 6, 3]; parsing and expansion included) vs `torchvision.models.resnet50()`;
goal: within 10%. A forward pass on a batch of 8 224x224x3 images in eval mode, without
gradients, after a warm-up; goal: within 5%. Runs alternate between the two, each going
first in turn, so that drift in the machine's speed affects both alike; medians are reported.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from resnet_dsl import to_torch

SPEC = Path(__file__).resolve().parents[1] / "specs" / "torchvision" / "resnet101.arch"
RESNET50 = {"depths": "[3, 4, 6, 3]"}
BATCH = 8


def dsl_model() -> torch.nn.Module:
    return to_torch(SPEC, overrides=RESNET50)


def reference_model() -> torch.nn.Module:
    return torchvision.models.resnet50()


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def build_times(runs: int) -> dict[str, list[float]]:
    builders: list[tuple[str, Callable[[], torch.nn.Module]]] = [("dsl", dsl_model), ("torchvision", reference_model)]
    times: dict[str, list[float]] = {name: [] for name, _ in builders}
    for run in range(runs):
        for name, build in builders if run % 2 else builders[::-1]:  # alternate who goes first
            gc.collect()
            times[name].append(seconds(build))
    return times


def forward_times(runs: int) -> dict[str, list[float]]:
    """Seconds per forward pass of one batch, eval mode, no gradients, after two warm-up passes."""
    models = {"dsl": dsl_model().eval(), "torchvision": reference_model().eval()}
    images = torch.rand(BATCH, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            for _ in range(2):
                model(images)
        for run in range(runs):
            for name, model in models.items() if run % 2 else reversed(models.items()):
                times[name].append(seconds(lambda model=model: model(images)))
    return times


def paired_ratio(times: dict[str, list[float]]) -> float:
    """Median of run-by-run ratios: a slow spell of a shared machine hits both sides of a pair."""
    return statistics.median(d / r for d, r in zip(times["dsl"], times["torchvision"], strict=True))


def row(what: str, dsl: float, reference: float, unit: str, ratio: float, goal: str) -> str:
    return f"{what:<22} {dsl:>10.3f} {reference:>11.3f}  {unit:<9} {ratio:>6.3f}  {goal}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs of each measurement (default 9)")
    runs = parser.parse_args().runs

    build, forward = build_times(runs), forward_times(runs)
    build_s = {name: statistics.median(values) for name, values in build.items()}
    forward_s = {name: statistics.median(values) for name, values in forward.items()}
    forward_ratio = paired_ratio(forward)

    versions = f"torch {torch.__version__}, torchvision {torchvision.__version__}"
    print(f"ResNet-50, {versions}, {torch.get_num_threads()} threads,")
    print(f"median of {runs} runs; ratio = median of run-by-run ratios resnet-dsl / torchvision")
    print(f"{'':<22} {'resnet-dsl':>10} {'torchvision':>11}  {'unit':<9} {'ratio':>6}  goal")
    print(row("build", build_s["dsl"], build_s["torchvision"], "s", paired_ratio(build), "<= 1.10"))
    print(row(f"forward, batch of {BATCH}", forward_s["dsl"], forward_s["torchvision"], "s", forward_ratio, "<= 1.05"))
    images = {name: BATCH / value for name, value in forward_s.items()}
    print(row("forward throughput", images["dsl"], images["torchvision"], "images/s", 1 / forward_ratio, ">= 0.95"))


if __name__ == "__main__":
    main()
