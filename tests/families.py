"""Families of shipped networks: a deeper or wider member generates the same code as a smaller one
but for its numbers (depths, widths, counts), so the costly sweeps (ONNX and `torch.export`,
`torch.compile`, folding, Keras-torch agreement, building through Keras twice) run the smaller one;
`tests/test_families.py` holds, for both targets, that each member's generated code is its
representative's up to those numbers. What a member's size itself must show (its parameter
counts, torchvision's and timm's weights loading, Python's recursion limit) is tested on it."""

from __future__ import annotations

import functools
import re

from tests.conftest import SPECS

FAMILIES: dict[str, str] = {
    "keras/resnet101": "keras/resnet50",
    "keras/resnet152": "keras/resnet50",
    "keras/resnet101v2": "keras/resnet50v2",
    "keras/resnet152v2": "keras/resnet50v2",
    "papers/cifar_resnet:ResNet32": "papers/cifar_resnet:ResNet20",
    "papers/cifar_resnet:ResNet44": "papers/cifar_resnet:ResNet20",
    "papers/cifar_resnet:ResNet56": "papers/cifar_resnet:ResNet20",
    "papers/cifar_resnet:ResNet110": "papers/cifar_resnet:ResNet20",
    "papers/cifar_resnet:ResNet1202": "papers/cifar_resnet:ResNet20",
    "timm/resnetv2_101": "timm/resnetv2_50",
    "torchvision/convnext_small": "torchvision/convnext_tiny",
    "torchvision/resnet34": "torchvision/resnet18",
    "torchvision/resnet101": "torchvision/resnet50",
    "torchvision/resnet152": "torchvision/resnet50",
    "torchvision/resnext101_32x8d": "torchvision/resnext50_32x4d",
    "torchvision/wide_resnet101_2": "torchvision/wide_resnet50_2",
}
"""A family's member -> the network whose code it repeats: `zoo/spec`, or `zoo/spec:Network`
where the file defines several."""


def zoo_name(spec: str, network: str | None = None) -> str:
    """`specs/x/y.arch` (and a network of it) -> its name here: `x/y` or `x/y:Network`."""
    name = spec.removeprefix("specs/").removesuffix(".arch")
    return f"{name}:{network}" if network else name


def swept(spec: str, network: str | None = None) -> bool:
    """Whether the costly sweeps run this network: every one but a family's members."""
    return zoo_name(spec, network) not in FAMILIES


SHALLOW = 2
"""By the same argument, a swept network that takes its stages' `depths` runs the sweeps at most
this many blocks a stage: a stage's first block and one of its repeats. `tests/test_families.py`
holds that its code is the full network's but for the numbers; it has half a ResNet-50's or a
ConvNeXt-T's blocks. Export, compilation and folding are properties of a block and its layers,
not of how often it repeats."""

DEEPER = {"keras/resnet50v2": 3}
"""A network whose stages need more blocks to keep each kind: Keras's ResNetV2 strides in its
last block, after plain ones."""


@functools.cache
def shallow(name: str) -> dict[str, str]:
    """The overrides that run a zoo network (`x/y` or `x/y:Network`) `SHALLOW` blocks a stage; none
    where it takes no `depths`."""
    import resnet_dsl

    file, _, network = name.partition(":")
    loaded = resnet_dsl.load(SPECS / f"{file}.arch", **({"network": network} if network else {}))
    depths = dict(loaded.params).get("depths")
    if not isinstance(depths, tuple):
        return {}
    return {"depths": "[" + ",".join(str(min(depth, DEEPER.get(name, SHALLOW))) for depth in depths) + "]"}


REPEATED_ITEM = re.compile(r"(?<![\w.])([\w.]*\((?:[^()]|\([^()]*\))*\))(, \1)+(?![\w.(])")
"""An item of a list written again after itself: `Block(N), Block(N)`, `("name", Block(N)), (...)`."""


def up_to_numbers(source: str, spec: str, network: str) -> str:
    """Generated source with what a family's members differ in taken out: the spec's path and the
    network's name, every number, and the repetition of a stage's blocks (`*(Block(...) for _ in
    range(5))`, Keras's `for index in range(2, 6):` over one call, and a line or a call repeated
    are one block); each bracketed expression on one line, as black wraps only the longer ones."""
    text = source.replace(spec, "SPEC").replace(network, "NETWORK")
    text = re.sub(r"\d+([,.]\d+)*", "N", text)  # 1,727,962 and 0.9 too
    text = re.sub(r"\*\((.*\)) for _ in range\(N\)\)", r"\1", text)
    text = "\n".join(_joined(text.splitlines()))
    text = re.sub(r'^( *)for index in range\(N, N\):\n *(.*)f"(.*)\{index\}', r'\1\2"\3N', text, flags=re.MULTILINE)
    lines: list[str] = []
    for line in text.splitlines():
        line = re.sub(REPEATED_ITEM, r"\1", line)
        if not lines or line != lines[-1]:
            lines.append(line)
    return "\n".join(lines)


def _joined(lines: list[str]) -> list[str]:
    """The lines with an open bracket's continuation lines joined to it, a trailing comma dropped."""
    joined: list[str] = []
    depth = 0
    for line in lines:
        if depth > 0:
            joined[-1] += ("" if joined[-1].endswith(("(", "[", "{")) else " ") + line.strip()
        else:
            joined.append(line)
        depth = max(0, depth + sum(map(line.count, "([{")) - sum(map(line.count, ")]}")))
    return [re.sub(r",\s*([)\]}])", r"\1", line) for line in joined]
