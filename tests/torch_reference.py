"""The independent side of figure tests: torchvision's and timm's own constructors, counted by torch.

Each model is built on the meta device (shapes, no storage: ResNet-152 in a fraction of a
second), so the fast suite can compare our parameter counts, MACs and activation sizes with
the real constructors. Parameters are counted as Keras counts them (BatchNorm's running mean
and variance included, `num_batches_tracked` not; see `parameter_count`); MACs are torch's own FLOP counter halved
(it counts convolutions and matrix products, as our MACs do); activations are the outputs of
every leaf module, one entry per call (torchvision's blocks call one ReLU module three times).
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass

import pytest

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402


@dataclass(frozen=True)
class Section:
    """One summary section of a torch ResNet: its modules' parameters, MACs and output floats."""

    params: int
    macs: int
    activations: int


def section_of(child: str) -> str:
    """torchvision's and timm's top-level children in our sections: `layer1` is `conv2`, ..."""
    if child.startswith("layer"):
        return f"conv{int(child.removeprefix('layer')) + 1}"
    return "head" if child in {"avgpool", "global_pool", "fc"} else "stem"


@functools.cache
def constructor(library: str, name: str, **kwargs: int) -> torch.nn.Module:
    """`torchvision.models.<name>()` or `timm.create_model(<name>)`, on the meta device (on the
    CPU where the constructor computes with tensors itself, as torchvision's RegNet does)."""
    try:
        with torch.device("meta"):
            return _construct(library, name, **kwargs)
    except NotImplementedError:  # "Cannot copy out of meta tensor"
        return _construct(library, name, **kwargs)


def _construct(library: str, name: str, **kwargs: int) -> torch.nn.Module:
    if library == "timm":
        timm = pytest.importorskip("timm")
        return timm.create_model(name, pretrained=False, **kwargs).eval()
    torchvision = pytest.importorskip("torchvision")
    return getattr(torchvision.models, name)(**kwargs).eval()


def parameter_count(module: torch.nn.Module) -> tuple[int, int]:
    """(trainable, non-trainable) as Keras counts them: every parameter, and every floating-point
    buffer (BatchNorm's running statistics, a fixed blur filter; not `num_batches_tracked`)."""
    trainable = sum(p.numel() for p in module.parameters())
    fixed = sum(b.numel() for b in module.buffers() if b.is_floating_point())
    return trainable, fixed


@functools.cache
def sections(library: str, name: str, size: int) -> dict[str, Section]:
    """Per section (stem, conv2..conv5, head), from a forward pass of a `size`x`size` image."""
    model = constructor(library, name)
    floats: Counter[str] = Counter()
    hooks = []
    for child_name, child in model.named_children():
        for module in child.modules():
            if next(module.children(), None) is None:  # a leaf: its outputs are what is stored
                hooks.append(module.register_forward_hook(_count_into(floats, section_of(child_name))))
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
    by_module = counter.get_flop_counts()
    found: dict[str, list[int]] = {}
    for child_name, child in model.named_children():
        section = found.setdefault(section_of(child_name), [0, 0])
        section[0] += sum(parameter_count(child))
        section[1] += sum(by_module.get(f"{type(model).__name__}.{child_name}", {}).values()) // 2
    return {key: Section(params, macs, floats[key]) for key, (params, macs) in found.items()}


def _count_into(floats: Counter[str], section: str):
    def hook(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        floats[section] += output.numel()

    return hook
