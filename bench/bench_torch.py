"""Our torch models against torchvision's and timm's, side by side in one process.

    python bench/bench_torch.py --device cpu    # small batches: batch 4 at 96x96
    python bench/bench_torch.py --device cuda   # batch 256 at 224x224
    python bench/bench_torch.py --device cpu --models resnet50 --runs 9 --batch 8 --size 128

For each model (torchvision resnet50, timm seresnet50, torchvision resnext50_32x4d, timm resnet50d)
the reference is the zoo's own module; ours are `to_torch` of the zoo spec, the generated module
(`generate --target torch`), and, for inference, `to_torch(..., fold=True)`, all holding the
reference's weights. Each is timed in inference (eval, no grad) and in a training step (forward,
cross-entropy, backward, SGD step), in fp32 and in bf16 autocast with channels_last. Within one
(model, precision, mode) the candidates run interleaved, one step each per round, each round in a
rotated order, so drift in the machine's speed hits all alike; after warm-up rounds, several
rounds are timed. Printed: min and median per step, and ours / reference in images per second
(above 1: faster than the reference), twice: from the minimum times (the least disturbed run of
each, the figure to trust on a shared machine), and as the median over rounds of the
reference's time over ours (a slow spell hits both sides of a round alike).
Build time is also printed for resnet50: `to_torch` against `torchvision.models.resnet50()`.
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from resnet_dsl import to_python, to_torch

MODELS: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "resnet50": ("torchvision/resnet50", lambda: torchvision.models.resnet50()),
    "seresnet50": ("timm/seresnet50", lambda: _timm("seresnet50")),
    "resnext50_32x4d": ("torchvision/resnext50_32x4d", lambda: torchvision.models.resnext50_32x4d()),
    "resnet50d": ("timm/resnet50d", lambda: _timm("resnet50d")),
}
"""Name -> (our zoo spec, the reference's constructor)."""

DEFAULTS = {"cpu": {"batch": 4, "size": 96, "runs": 5}, "cuda": {"batch": 256, "size": 224, "runs": 10}}


def _timm(name: str) -> nn.Module:
    import timm

    return timm.create_model(name, pretrained=False)


def _generated(spec: str, overrides: dict[str, str]) -> nn.Module:
    namespace: dict[str, Any] = {}
    exec(compile(to_python(spec, target="torch", overrides=overrides), f"<{spec}>", "exec"), namespace)
    return namespace["build_model"]()


def candidates(name: str, size: int) -> dict[str, nn.Module]:
    """The reference and ours, ours holding the reference's weights."""
    spec, make_reference = MODELS[name]
    overrides = {"input": f"{size}x{size}x3"}
    reference = make_reference()
    state = reference.state_dict()
    ours = to_torch(spec, overrides=overrides)
    ours.load_state_dict(state)
    generated = _generated(spec, overrides)
    generated.load_state_dict(state)
    folded = to_torch(spec, overrides=overrides)
    folded.load_state_dict(state)
    from resnet_dsl.backends.torch_fold import fold

    return {
        "reference": reference,
        "to_torch": ours,
        "generated": generated,
        "folded": fold(folded, spec, overrides=overrides, inplace=True),
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            names = [line.partition(":")[2].strip() for line in info if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_function(model: nn.Module, training: bool, images: torch.Tensor, labels: torch.Tensor, bf16: bool) -> Any:
    """One inference or training step of `model`, under bf16 autocast where asked."""
    device = images.device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    if not training:
        model.eval()

        def infer() -> None:
            with torch.no_grad(), autocast:
                model(images)

        return infer
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def train() -> None:
        with autocast:
            loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return train


def interleaved(steps: dict[str, Callable[[], None]], runs: int, device: torch.device) -> dict[str, list[float]]:
    """Seconds per step of each, round by round, each round in a rotated order; two warm-up rounds."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs + 2):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            synchronize(device)
            start = time.perf_counter()
            steps[name]()
            synchronize(device)
            if round_ >= 2:
                times[name].append(time.perf_counter() - start)
    return times


def build_ratio(runs: int) -> tuple[float, float]:
    """Median seconds to build resnet50: `to_torch` of the zoo spec, and torchvision's constructor."""
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    builders = {"ours": lambda: to_torch("torchvision/resnet50"), "reference": torchvision.models.resnet50}
    for round_ in range(runs):
        for name in list(builders)[:: 1 if round_ % 2 else -1]:
            gc.collect()
            start = time.perf_counter()
            builders[name]()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["ours"]), statistics.median(times["reference"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    parser.add_argument("--batch", type=int)
    parser.add_argument("--size", type=int, help="image height and width")
    parser.add_argument("--runs", type=int, help="timed rounds (after two warm-up rounds)")
    parser.add_argument("--precisions", default="fp32,bf16", help="fp32 and/or bf16 (autocast + channels_last)")
    parser.add_argument("--modes", default="inference,training")
    args = parser.parse_args()
    device = torch.device(args.device)
    defaults = DEFAULTS[device.type]
    batch, size, runs = (getattr(args, key) or defaults[key] for key in ("batch", "size", "runs"))

    machine = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}; {device.type}: {machine}, "
        f"{torch.get_num_threads()} threads; batch {batch}, {size}x{size}; {runs} timed rounds"
    )
    ours_build, reference_build = build_ratio(3)
    print(
        f"build resnet50: to_torch {ours_build:.3f} s, torchvision {reference_build:.3f} s, "
        f"ratio {ours_build / reference_build:.2f}"
    )
    print(
        f"{'model':<16} {'precision':<9} {'mode':<9} {'variant':<9} {'min ms':>9} {'median ms':>10} "
        f"{'ours/ref':>8} {'(median)':>8}"
    )
    generator = torch.Generator().manual_seed(0)
    for name in args.models.split(","):
        models = {key: model.to(device) for key, model in candidates(name, size).items()}
        for precision in args.precisions.split(","):
            bf16 = precision == "bf16"
            images = torch.rand(batch, 3, size, size, generator=generator).to(device)
            if bf16:
                images = images.contiguous(memory_format=torch.channels_last)
                models = {key: model.to(memory_format=torch.channels_last) for key, model in models.items()}
            labels = torch.randint(0, 1000, (batch,), generator=generator).to(device)
            for mode in args.modes.split(","):
                training = mode == "training"
                chosen = {key: model for key, model in models.items() if not (training and key == "folded")}
                steps = {key: step_function(model, training, images, labels, bf16) for key, model in chosen.items()}
                times = interleaved(steps, runs, device)
                for key, values in times.items():
                    median = statistics.median(values)
                    paired = statistics.median(r / v for r, v in zip(times["reference"], values, strict=True))
                    best = min(times["reference"]) / min(values)
                    ratios = "" if key == "reference" else f"{best:8.2f} {paired:8.2f}"
                    print(
                        f"{name:<16} {precision:<9} {mode:<9} {key:<9} {min(values) * 1e3:9.1f} "
                        f"{median * 1e3:10.1f} {ratios}",
                        flush=True,
                    )
        del models
        gc.collect()


if __name__ == "__main__":
    main()
