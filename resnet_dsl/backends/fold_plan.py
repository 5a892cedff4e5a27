"""Which modules inference folding changes, read from the network and its torch layout (no torch).

A BatchNorm folds into the convolution before it when that convolution feeds nothing else (its
raw output is needed nowhere) and the BatchNorm reads nothing else: then, in eval mode, the pair
is one affine map per output channel, which the convolution's weight and bias can hold. Dropout
is the identity at inference. The pairs are found on the network's layer graph and named by the
layout's module paths (`torch_layout.Layout.module_paths`), so any naming or nesting a layout
gives the modules (`layer1.0.bn1`, `downsample.1`, `stages.0.blocks.0...`) folds alike, in
`to_torch`'s modules and in generated ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_dsl.backends import torch_layout
from resnet_dsl.network import model as nw

CONVOLUTIONS = frozenset({"conv2d", "depthwise_conv2d", "separable_conv2d"})
INFERENCE_IDENTITIES = frozenset({"dropout", "drop_path"})


@dataclass(frozen=True)
class FoldPlan:
    folds: tuple[tuple[str, str], ...]
    """(the convolution's module path, the path of the BatchNorm folded into it)."""
    identities: tuple[str, ...]
    """Module paths of layers that are the identity at inference (dropout)."""


def fold_plan(network: nw.Network) -> FoldPlan:
    """The convolution-BatchNorm pairs and inference identities of a network's torch model."""
    paths = torch_layout.layout(network).module_paths()
    consumers: dict[str, int] = {}
    for layer in network.layers:
        for name in layer.inputs:
            consumers[name] = consumers.get(name, 0) + 1
    layers = {layer.name: layer for layer in network.layers}
    folds = []
    for layer in network.layers:
        if layer.kind != "batchnorm" or len(layer.inputs) != 1:
            continue
        source = layers[layer.inputs[0]]
        if source.kind not in CONVOLUTIONS or consumers[source.name] != 1:
            continue
        if source.name not in paths or layer.name not in paths:
            continue
        # A separable convolution ends with its pointwise one, which takes the BatchNorm.
        target = paths[source.name] + (".pointwise" if source.kind == "separable_conv2d" else "")
        folds.append((target, paths[layer.name]))
    identities = tuple(
        paths[layer.name] for layer in network.layers if layer.kind in INFERENCE_IDENTITIES and layer.name in paths
    )
    return FoldPlan(tuple(folds), identities)
