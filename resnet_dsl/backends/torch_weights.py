"""Weights between the Keras and the torch model of one network.

Layers are matched through the network: Keras names them as the IR does, torch as
`torch_layout` does (either back end, built or generated). Kernels are transposed,
(kh, kw, in, out) to (out, in, kh, kw); a depthwise kernel's multiplier folds into its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import torch
except ModuleNotFoundError as missing:  # say how to get it, and still name the missing module
    raise ModuleNotFoundError('PyTorch is required: pip install "resnet-dsl[torch]"', name=missing.name) from None
import numpy as np
from torch import nn

from resnet_dsl.backends import torch_layout
from resnet_dsl.network import model as nw
from resnet_dsl.network.api import Spec, resolve


def keras_weights_to_torch(spec: Spec, keras_model: Any, torch_model: nn.Module) -> None:
    """Copy every weight of a Keras model of a network into a torch model of the same network.

    Layers are matched through the network: Keras names them as the IR does, torch as
    `torch_layout` does (either back end, built or generated). Kernels are transposed.
    """
    network = resolve(spec)
    keys = _state_keys(network)
    state = {}
    for layer in network.layers:
        if layer.kind not in torch_layout.WEIGHTED:
            continue
        weights = keras_model.get_layer(layer.name).get_weights()
        for key, value in zip(_torch_keys(layer), weights, strict=True):
            state[keys(layer, key)] = torch.from_numpy(_to_torch_array(layer, key, value))
    missing = [key for key in state if key not in torch_model.state_dict()]
    if missing:
        raise KeyError(f"the torch model has no {missing[0]}: is it a model of {network.name}?")
    torch_model.load_state_dict(state, strict=False)


def torch_weights_to_keras(spec: Spec, torch_model: nn.Module, keras_model: Any) -> None:
    """The reverse of `keras_weights_to_torch`."""
    network = resolve(spec)
    keys = _state_keys(network)
    state = torch_model.state_dict()
    for layer in network.layers:
        if layer.kind not in torch_layout.WEIGHTED:
            continue
        values = [
            _to_keras_array(layer, key, state[keys(layer, key)].detach().cpu().numpy()) for key in _torch_keys(layer)
        ]
        keras_model.get_layer(layer.name).set_weights(values)


def _state_keys(network: nw.Network) -> Callable[[nw.Layer, str], str]:
    """(layer, its module's key) -> the model's state_dict key: `layer1.0.conv1.weight`; a
    layer scale the spec places is its parameter itself (`features.1.0.layer_scale`)."""
    layout = torch_layout.layout(network)
    paths, parameters = layout.module_paths(), set(layout.rehomed()[1])
    return lambda layer, key: paths[layer.name] if paths[layer.name] in parameters else f"{paths[layer.name]}.{key}"


def _torch_keys(layer: nw.Layer) -> tuple[str, ...]:
    """The state_dict entries of a layer, in the order Keras lists its weights."""
    config = layer.config
    if isinstance(config, nw.BatchNormConfig):
        return ("weight", "bias", "running_mean", "running_var")
    if isinstance(config, (nw.GroupNormConfig, nw.LayerNormConfig)):
        return ("weight", "bias")
    if isinstance(config, nw.LayerScaleConfig):
        return ("weight",)
    if isinstance(config, nw.NormalizeConfig):
        return ("mean", "variance", "count")
    if isinstance(config, nw.SeparableConv2DConfig):
        weights = ("depthwise.weight", "pointwise.weight")
        return (*weights, "pointwise.bias") if config.use_bias else weights
    if isinstance(config, (nw.Conv2DConfig, nw.Conv1DConfig, nw.DenseConfig, nw.DepthwiseConv2DConfig)):
        return ("weight", "bias") if config.use_bias else ("weight",)
    return ()


def _to_torch_array(layer: nw.Layer, key: str, value: Any) -> Any:
    if isinstance(layer.config, nw.LayerScaleConfig):  # (1, 1, C, 1) -> (C, 1, 1)
        return value.reshape(-1, 1, 1).copy()
    if not key.endswith("weight") or value.ndim == 1:
        return np.array(value)  # a copy; a 0-d count an array, as torch.from_numpy needs
    if key == "depthwise.weight" or isinstance(layer.config, nw.DepthwiseConv2DConfig):
        height, width, channels, multiplier = value.shape  # -> (channels * multiplier, 1, kh, kw)
        return value.reshape(height, width, channels * multiplier).transpose(2, 0, 1)[:, None].copy()
    if value.ndim == 4:  # (kh, kw, in, out) -> (out, in, kh, kw)
        return value.transpose(3, 2, 0, 1).copy()
    if value.ndim == 3:  # conv1d: (kernel, in, out) -> (out, in, kernel)
        return value.transpose(2, 1, 0).copy()
    return value.T.copy()  # (in, out) -> (out, in)


def _to_keras_array(layer: nw.Layer, key: str, value: Any) -> Any:
    if isinstance(layer.config, nw.LayerScaleConfig):  # (C, 1, 1) -> (1, 1, C, 1)
        return value.reshape(1, 1, -1, 1)
    if not key.endswith("weight") or value.ndim == 1:
        return value
    if key == "depthwise.weight" or isinstance(layer.config, nw.DepthwiseConv2DConfig):
        assert isinstance(layer.config, (nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig))
        multiplier = layer.config.depth_multiplier
        outputs, _, height, width = value.shape
        return value[:, 0].transpose(1, 2, 0).reshape(height, width, outputs // multiplier, multiplier)
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 3:
        return value.transpose(2, 1, 0)
    return value.T
