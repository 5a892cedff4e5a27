"""Memory, statically, in float32 bytes: the parameters, and every layer's output.

Definitions (the README says the same):

- **activations per sample**: the sum of every layer's output size, the input layer
  included, times 4 bytes. It is what a plain training step stores for backpropagation per
  sample (frameworks that fuse or recompute layers store less), and an upper bound for
  inference, which frees outputs once they are used.
- **parameters**: every weight, BatchNorm statistics included, times 4 bytes.
- **a training step at batch N** keeps alive `N x activations + parameters + gradients`,
  the gradients being one float32 per trainable parameter; optimizer state (Adam's two
  moments, for instance) comes on top and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import prod

from resnet_dsl.network.model import Layer, Network

FLOAT32 = 4
DEFAULT_BATCH = 32
"""Keras's default batch size for `fit`."""


def activation_bytes(layers: Iterable[Layer]) -> int:
    """Bytes of the outputs of `layers` for one sample."""
    return sum(prod(layer.output_shape) for layer in layers) * FLOAT32


@dataclass(frozen=True)
class Memory:
    activations: int
    """Bytes per sample."""
    params: int
    gradients: int
    batch: int

    @property
    def training(self) -> int:
        """Bytes one training step at `batch` keeps alive (optimizer state not counted)."""
        return self.batch * self.activations + self.params + self.gradients

    def json(self) -> dict[str, int]:
        return {
            "activations_per_sample": self.activations,
            "params": self.params,
            "gradients": self.gradients,
            "batch": self.batch,
            "training_step": self.training,
        }


def memory(network: Network, batch: int = DEFAULT_BATCH) -> Memory:
    total = network.total_params
    return Memory(
        activations=activation_bytes(network.layers),
        params=total.total * FLOAT32,
        gradients=total.trainable * FLOAT32,
        batch=batch,
    )


def size_text(count: int) -> str:
    """`97.5 MiB`: bytes in binary units, one decimal (bytes as they are below 1 KiB)."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
