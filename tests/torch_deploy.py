"""Helpers of the deployment tests (export, folding, DDP): the zoo's specs and torch models with
every weight and statistic moved off its initial value, so no layer is an identity by accident."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from tests.conftest import SPECS
from tests.families import shallow, swept

SMALL_INPUT = {"input": "64x64x3"}
"""Every spec runs at 64x64 here: the same layers as at 224x224, a twelfth of the work."""

ZOO = sorted(
    name for name in (p.relative_to(SPECS).with_suffix("").as_posix() for p in SPECS.rglob("*.arch")) if swept(name)
)
"""Every shipped spec, by its zoo name, but a family's larger members (`tests/families.py`)."""

QUICK = {
    "papers/cifar_resnet",  # option A shortcuts: subsample, channel padding
    "torchvision/resnet18",  # basic blocks, projection shortcuts
    "seed/resnet50_dropout",  # bottlenecks, Keras's `same` padding at stride 2, dropout, softmax
}
"""The specs that run without `-m slow`: between them, most kinds of layer and block the zoo has.
The rest repeat those blocks at other depths and widths; CI runs them too."""


NETWORKS = {"papers/cifar_resnet": "ResNet20"}
"""The network of a file that defines several, where its first is not its smallest (the others
repeat its blocks); a file not named here runs its first network."""


@functools.cache
def network_of(name: str) -> str | None:
    """The one network a zoo spec runs here: None where the file defines one."""
    from resnet_dsl.network.loader import load_program

    names = [network.name for network in load_program(SPECS / f"{name}.arch").main.networks]
    return None if len(names) == 1 else NETWORKS.get(name, names[0])


def small(name: str) -> dict[str, Any]:
    """`load`'s keyword arguments for a zoo spec at 64x64, its stages shallow (`tests/families.py`),
    its one network where it has several."""
    network = network_of(name)
    overrides = {**SMALL_INPUT, **shallow(f"{name}:{network}" if network else name)}
    return {"overrides": overrides, **({"network": network} if network else {})}


def cli_args(name: str) -> list[str]:
    """The same, as command-line options."""
    options = small(name)
    sets = [arg for key, value in options["overrides"].items() for arg in ("--set", f"{key}={value}")]
    return [*sets, *(["--network", options["network"]] if "network" in options else [])]


def zoo_params() -> list[Any]:
    return [pytest.param(name, id=name, marks=() if name in QUICK else pytest.mark.slow) for name in ZOO]


def randomize_(model: Any, seed: int = 0) -> Any:
    """Move every parameter and BatchNorm statistic of a torch model off its initial value, in place."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            if name.endswith("running_var") or (name.endswith("weight") and tensor.dim() == 1):
                tensor.copy_(0.5 + noise)  # variances and scales: positive, near 1
            elif tensor.dim() > 1:
                tensor.mul_(0.8 + 0.4 * noise)  # kernels: each value moved, their scale kept
            else:
                tensor.add_((noise - 0.5) * 0.2)  # shifts, means and biases
    return model
