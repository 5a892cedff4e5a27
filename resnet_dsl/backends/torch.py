"""Network -> `torch.nn.Module`, and weights between its Keras and torch models.

The only module that imports torch, so `resnet_dsl` imports it lazily. The module tree and
every attribute name come from `torch_layout` (torchvision's layout, so its and timm's
state_dicts load); this file only makes the modules and runs them.

The numbers are Keras's: tensors are NCHW but mean what the NHWC IR means. `padding=same`
pads as Keras does, more at the bottom and right where the total is odd (`Conv2dSame`);
BatchNorm momentum m becomes 1 - m; `flatten` flattens channels last; initializers are
`torch.nn.init`'s equivalents of Keras's. The helper classes below are also copied, as
source, into generated modules (`torch_codegen`), so both back ends run the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

try:
    import torch
except ModuleNotFoundError as missing:  # say how to get it, and still name the missing module
    raise ModuleNotFoundError('PyTorch is required: pip install "resnet-dsl[torch]"', name=missing.name) from None
import torch.nn.functional as F
from torch import nn

from resnet_dsl.backends import torch_layout
from resnet_dsl.backends.torch_layout import symmetric
from resnet_dsl.network import model as nw
from resnet_dsl.network.api import Spec, resolve

# ------------------------------------------------------------ helpers --
# Standalone (torch only): `torch_codegen` copies their source into generated files,
# so they stay within 88 columns, as `ruff format` lays them out there.


def same_pads(x: torch.Tensor, *window: tuple | int) -> list:
    """F.pad's (left, right, top, bottom) for Keras's `padding="same"`, given the
    window's kernel, stride and dilation."""
    pairs = [v if isinstance(v, tuple) else (v, v) for v in window]
    pads = []
    sizes = x.shape[-1], x.shape[-2]
    steps = zip(sizes, *(pair[::-1] for pair in pairs), strict=True)
    for size, k, s, d in steps:
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Conv2dSame(nn.Conv2d):
    """A convolution with Keras's `padding="same"` at any stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x, self.kernel_size, self.stride, self.dilation)
        return super().forward(F.pad(x, pads))


class MaxPool2dSame(nn.MaxPool2d):
    """Max pooling with Keras's `padding="same"`: padded pixels never win."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x, self.kernel_size, self.stride, (1, 1))
        return super().forward(F.pad(x, pads, value=-math.inf))


class AvgPool2dSame(nn.AvgPool2d):
    """Average pooling with Keras's `padding="same"`: of real pixels only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = same_pads(x, self.kernel_size, self.stride, (1, 1))
        counts = super().forward(F.pad(torch.ones_like(x[:1, :1]), pads))
        return super().forward(F.pad(x, pads)) / counts


class Dense(nn.Linear):
    """Keras's Dense: a linear layer on the last (channel) axis, then its activation."""

    def __init__(self, features: int, units: int, bias: bool, activation: nn.Module):
        super().__init__(features, units, bias=bias)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # NCHW: Keras applies it to each pixel's channels
            x = super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            return self.activation(x)
        return self.activation(super().forward(x))


class FlattenChannelsLast(nn.Module):
    """Keras's Flatten of an NHWC tensor: height, width, then channel order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x.permute(0, 2, 3, 1) if x.dim() == 4 else x, 1)


class Exponential(nn.Module):
    """Keras's `exponential` activation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(x)


class ChannelPad(nn.Module):
    """Zeros before and after the channels (option A shortcuts)."""

    def __init__(self, low: int, high: int):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 0, 0, 0, self.low, self.high))


class SeparableConv2d(nn.Module):
    """Keras's SeparableConv2D: a depthwise convolution, then a pointwise one."""

    def __init__(self, depthwise: nn.Conv2d, pointwise: nn.Conv2d):
        super().__init__()
        self.depthwise = depthwise
        self.pointwise = pointwise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class LayerNormChannels(nn.LayerNorm):
    """Keras's LayerNormalization(axis=-1): each pixel normalized over its channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


class ReshapeChannelsLast(nn.Module):
    """Keras's Reshape of an NHWC tensor; an image result is NCHW again."""

    def __init__(self, shape: tuple):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.permute(0, 2, 3, 1)
        x = x.reshape(x.shape[0], *self.shape)
        return x.permute(0, 3, 1, 2) if x.dim() == 4 else x


def keras_init_(
    tensor: torch.Tensor,
    name: str,
    seed: int | None = None,
    *,
    fans: tuple[int, int],
    **args: float,
) -> torch.Tensor:
    """Fill a weight in place as Keras's initializer `name` would (`fans`: fan in, fan
    out); a seed draws the same values every time."""
    rng = torch.Generator().manual_seed(seed) if seed is not None else None
    fan_in, fan_out = fans
    scales = {
        "glorot_uniform": ("uniform", 1.0, (fan_in + fan_out) / 2),
        "glorot_normal": ("normal", 1.0, (fan_in + fan_out) / 2),
        "he_uniform": ("uniform", 2.0, fan_in),
        "he_normal": ("normal", 2.0, fan_in),
        "lecun_uniform": ("uniform", 1.0, fan_in),
        "lecun_normal": ("normal", 1.0, fan_in),
    }
    with torch.no_grad():
        if name in scales:
            distribution, scale, fan = scales[name]
            variance = scale / max(1.0, fan)
            if distribution == "uniform":
                limit = math.sqrt(3 * variance)
                return nn.init.uniform_(tensor, -limit, limit, generator=rng)
            # Keras divides by the deviation of a normal truncated at two deviations.
            std = math.sqrt(variance) / 0.87962566103423978
            bounds = (-2 * std, 2 * std)
            return nn.init.trunc_normal_(tensor, 0.0, std, *bounds, generator=rng)
        if name == "random_uniform":
            low, high = args.get("minval", -0.05), args.get("maxval", 0.05)
            return nn.init.uniform_(tensor, low, high, generator=rng)
        mean, std = args.get("mean", 0.0), args.get("stddev", 0.05)
        if name == "random_normal":
            return nn.init.normal_(tensor, mean, std, generator=rng)
        if name == "truncated_normal":
            bounds = (mean - 2 * std, mean + 2 * std)
            return nn.init.trunc_normal_(tensor, mean, std, *bounds, generator=rng)
        if name == "orthogonal":
            gain = args.get("gain", 1.0)
            return nn.init.orthogonal_(tensor, gain, generator=rng)
        if name == "zeros":
            return nn.init.zeros_(tensor)
        if name == "ones":
            return nn.init.ones_(tensor)
    raise ValueError(f"unknown initializer {name!r}")


def initialized(
    module: nn.Module,
    init: str | dict = "glorot_uniform",
    depthwise: bool = False,
) -> nn.Module:
    """A convolution or linear layer, its weight drawn as the Keras initializer `init`
    would (a name, or a dict such as {"name": "he_normal", "seed": 0}), bias zero.
    Keras counts a depthwise kernel's fans per input channel and multiplier."""
    options = {"name": init} if isinstance(init, str) else dict(init)
    name, seed = options.pop("name"), options.pop("seed", None)
    fan_in, fan_out = fans(module.weight)
    if depthwise:
        groups = module.groups
        fan_in, fan_out = fan_in * groups, fan_out // groups
    keras_init_(module.weight, name, seed, fans=(fan_in, fan_out), **options)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan in, fan out) of a conv or linear weight, as Keras counts them."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


# ----------------------------------------------------------- the model --


def activation(name: str) -> nn.Module:
    """Keras's activation `name` as a torch module (`torch_layout.ACTIVATIONS`)."""
    class_name, args = torch_layout.ACTIVATIONS[name]
    module_class = Exponential if class_name == "Exponential" else getattr(nn, class_name)
    return module_class(**dict(args))


class Graph(nn.Module):
    """One block: runs its layers in IR order (see `run`)."""

    def __init__(self, scope: torch_layout.Scope) -> None:
        super().__init__()
        self.steps = register(self, scope)
        self.source = scope.input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.steps, self.source, x)


class Model(nn.Module):
    """A network as torchvision lays out a ResNet: stem layers, stages `layer1`..., head layers."""

    def __init__(self, layout: torch_layout.Layout) -> None:
        super().__init__()
        self.network_name = layout.network.name
        self.stem_steps = register(self, layout.stem)
        self.stem_source = layout.stem.input
        self.stages = [stage.attribute for stage in layout.stages if stage.blocks]
        for stage in layout.stages:
            if stage.blocks:
                self.add_module(stage.attribute, nn.Sequential(*(Graph(block) for block in stage.blocks)))
        self.head_steps = register(self, layout.head)
        self.head_source = layout.head.input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = run(self.stem_steps, self.stem_source, x)
        for name in self.stages:
            x = getattr(self, name)(x)
        return run(self.head_steps, self.head_source, x)


Step = tuple[str, str, nn.Module | None, tuple[str, ...]]


def register(owner: nn.Module, scope: torch_layout.Scope) -> list[Step]:
    """Make the scope's modules children of `owner`, where the layout says; the steps that run them."""
    containers = dict(scope.containers)
    steps: list[Step] = []
    for node in scope.nodes:
        module = None
        if node.module is not None:
            module = make_module(node)
            parent, _, attribute = node.module.rpartition(".")
            if parent and parent not in owner._modules:  # made where first used, as torchvision orders them
                owner.add_module(parent, nn.Sequential() if containers[parent] == "sequential" else nn.ModuleDict())
            (owner.get_submodule(parent) if parent else owner).add_module(attribute, module)
        steps.append((node.name, node.layer.kind, module, node.inputs))
    return steps


def run(steps: list[Step], source: str, x: torch.Tensor) -> torch.Tensor:
    """Each layer on its inputs, in order; a merge adds (or joins) its inputs."""
    values = {source: x}
    for name, kind, module, inputs in steps:
        x = module(values[inputs[0]]) if module is not None else MERGE_FUNCTIONS[kind]([values[i] for i in inputs])
        values[name] = x
    return x


def _multiply(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The product; a (N, C) gate broadcasts over (N, C, H, W), as Keras broadcasts it."""
    rank = max(t.dim() for t in tensors)
    result = tensors[0].reshape(*tensors[0].shape, *[1] * (rank - tensors[0].dim()))
    for tensor in tensors[1:]:
        result = result * tensor.reshape(*tensor.shape, *[1] * (rank - tensor.dim()))
    return result


MERGE_FUNCTIONS: dict[str, Callable[[list[torch.Tensor]], torch.Tensor]] = {
    "add": lambda tensors: sum(tensors[1:], tensors[0]),
    "multiply": _multiply,
    "concat": lambda tensors: torch.cat(tensors, dim=1),
}


def to_torch(spec: Spec, **load_kwargs: Any) -> nn.Module:
    """Build the torch model of a network, or of the spec at a path (`load_kwargs` go to `load`).

    It takes NCHW input and computes what `to_keras` computes on NHWC input, given the same
    weights (`keras_weights_to_torch`). Its state_dict keys follow torchvision's ResNet.
    """
    network = resolve(spec, **load_kwargs)
    for layer in network.layers:
        if layer.kind not in FACTORIES and layer.kind not in MERGE_FUNCTIONS and layer.kind != "input":
            raise NotImplementedError(f"layer '{layer.name}': no torch equivalent of {layer.kind} yet")
    return Model(torch_layout.layout(network))


# ------------------------------------------------------------ factories --


def make_module(node: torch_layout.Node) -> nn.Module:
    return FACTORIES[node.layer.kind](node.layer.config, node)


def _conv2d(config: nw.Conv2DConfig, node: torch_layout.Node) -> nn.Module:
    kwargs: dict[str, Any] = {
        "stride": config.strides,
        "dilation": config.dilation_rate,
        "groups": config.groups,
        "bias": config.use_bias,
    }
    conv_class: type[nn.Conv2d] = nn.Conv2d
    if config.padding == "same" and config.strides == (1, 1) and symmetric(config):
        kwargs["padding"] = "same"
    elif config.padding == "same":
        conv_class = Conv2dSame
    elif node.padding != (0, 0):
        kwargs["padding"] = node.padding
    conv = conv_class(node.in_channels, config.filters, config.kernel_size, **kwargs)
    return initialized(conv, torch_layout.initializer_options(config.kernel_initializer))


def _batchnorm(config: nw.BatchNormConfig, node: torch_layout.Node) -> nn.Module:
    rank = len(node.in_shape) + 1  # the IR's shapes leave the batch out
    if config.axis not in (-1, rank - 1):
        raise NotImplementedError(f"layer '{node.name}': torch normalizes channels only, not axis {config.axis}")
    # A call-time `training` is Keras's default for callers that pass none; a torch module always
    # has a mode (`train()` / `eval()`), which decides, as the caller's `training` does in Keras.
    norm_class = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
    return norm_class(node.in_channels, eps=config.epsilon, momentum=1 - config.momentum)


def _activation(config: nw.ActivationConfig, node: torch_layout.Node) -> nn.Module:
    return activation(config.activation)


def _zeropad(config: nw.ZeroPaddingConfig, node: torch_layout.Node) -> nn.Module:
    (top, bottom), (left, right) = config.padding
    return nn.ZeroPad2d((left, right, top, bottom))


def _pool(config: nw.PoolConfig, node: torch_layout.Node) -> nn.Module:
    if config.padding == "same":
        same_class = MaxPool2dSame if config.kind == "maxpool" else AvgPool2dSame
        return same_class(config.pool_size, config.strides)
    pool_class = nn.MaxPool2d if config.kind == "maxpool" else nn.AvgPool2d
    return pool_class(config.pool_size, config.strides)


def _global_pool(config: nw.GlobalPoolConfig, node: torch_layout.Node) -> nn.Module:
    pool = nn.AdaptiveAvgPool2d(1) if config.kind == "global_avgpool" else nn.AdaptiveMaxPool2d(1)
    return pool if config.keepdims else nn.Sequential(pool, nn.Flatten())


def _channelpad(config: nw.ChannelPaddingConfig, node: torch_layout.Node) -> nn.Module:
    low, high = config.padding[1]
    return ChannelPad(low, high)


def _subsample(config: nw.SubsampleConfig, node: torch_layout.Node) -> nn.Module:
    return nn.MaxPool2d(config.pool_size, config.strides)


def _upsample(config: nw.UpSamplingConfig, node: torch_layout.Node) -> nn.Module:
    return nn.Upsample(scale_factor=config.size, mode=config.interpolation)


def _depthwise(
    channels: int, multiplier: int, config: nw.DepthwiseConv2DConfig | nw.SeparableConv2DConfig, bias: bool
) -> nn.Conv2d:
    kwargs: dict[str, Any] = {"stride": config.strides, "dilation": config.dilation_rate, "groups": channels}
    conv_class: type[nn.Conv2d] = nn.Conv2d
    if config.padding == "same" and config.strides == (1, 1) and symmetric(config):
        kwargs["padding"] = "same"
    elif config.padding == "same":
        conv_class = Conv2dSame
    conv = conv_class(channels, channels * multiplier, config.kernel_size, bias=bias, **kwargs)
    return initialized(conv, torch_layout.initializer_options(config.depthwise_initializer), depthwise=True)


def _depthwise_conv2d(config: nw.DepthwiseConv2DConfig, node: torch_layout.Node) -> nn.Module:
    return _depthwise(node.in_channels, config.depth_multiplier, config, config.use_bias)


def _separable_conv2d(config: nw.SeparableConv2DConfig, node: torch_layout.Node) -> nn.Module:
    depthwise = _depthwise(node.in_channels, config.depth_multiplier, config, False)
    pointwise = nn.Conv2d(node.in_channels * config.depth_multiplier, config.filters, 1, bias=config.use_bias)
    pointwise = initialized(pointwise, torch_layout.initializer_options(config.pointwise_initializer))
    return SeparableConv2d(depthwise, pointwise)


def _groupnorm(config: nw.GroupNormConfig, node: torch_layout.Node) -> nn.Module:
    if config.axis not in (-1, len(node.in_shape)):
        raise NotImplementedError(f"layer '{node.name}': torch normalizes channels only, not axis {config.axis}")
    return nn.GroupNorm(config.groups, node.in_channels, eps=config.epsilon)


def _layernorm(config: nw.LayerNormConfig, node: torch_layout.Node) -> nn.Module:
    if config.axis not in (-1, len(node.in_shape)):
        raise NotImplementedError(f"layer '{node.name}': torch normalizes channels only, not axis {config.axis}")
    return LayerNormChannels(node.in_channels, eps=config.epsilon)


def _reshape(config: nw.ReshapeConfig, node: torch_layout.Node) -> nn.Module:
    return ReshapeChannelsLast(node.layer.output_shape)


def _flatten(config: nw.FlattenConfig, node: torch_layout.Node) -> nn.Module:
    return FlattenChannelsLast()


def _dense(config: nw.DenseConfig, node: torch_layout.Node) -> nn.Module:
    if config.activation == "linear" and len(node.in_shape) == 1:
        dense: nn.Linear = nn.Linear(node.in_channels, config.units, bias=config.use_bias)
    else:
        function = activation(config.activation)
        dense = Dense(node.in_channels, config.units, bias=config.use_bias, activation=function)
    return initialized(dense, torch_layout.initializer_options(config.kernel_initializer))


def _dropout(config: nw.DropoutConfig, node: torch_layout.Node) -> nn.Module:
    return nn.Dropout(config.rate)


FACTORIES: dict[str, Callable[[Any, torch_layout.Node], nn.Module]] = {
    "conv2d": _conv2d,
    "batchnorm": _batchnorm,
    "activation": _activation,
    "zeropad": _zeropad,
    "maxpool": _pool,
    "avgpool": _pool,
    "global_avgpool": _global_pool,
    "global_maxpool": _global_pool,
    "flatten": _flatten,
    "dense": _dense,
    "dropout": _dropout,
    "channelpad": _channelpad,
    "subsample": _subsample,
    "upsample": _upsample,
    "depthwise_conv2d": _depthwise_conv2d,
    "separable_conv2d": _separable_conv2d,
    "groupnorm": _groupnorm,
    "layernorm": _layernorm,
    "reshape": _reshape,
}
"""One factory per config kind that is a module (merges are computed in `forward`)."""


# --------------------------------------------------------------- weights --


def keras_weights_to_torch(spec: Spec, keras_model: Any, torch_model: nn.Module) -> None:
    """Copy every weight of a Keras model of a network into a torch model of the same network.

    Layers are matched through the network: Keras names them as the IR does, torch as
    `torch_layout` does (either back end, built or generated). Kernels are transposed.
    """
    network = resolve(spec)
    paths = torch_layout.layout(network).module_paths()
    state = {}
    for layer in network.layers:
        if layer.kind not in torch_layout.WEIGHTED:
            continue
        weights = keras_model.get_layer(layer.name).get_weights()
        for key, value in zip(_torch_keys(layer), weights, strict=True):
            state[f"{paths[layer.name]}.{key}"] = torch.from_numpy(_to_torch_array(layer, key, value))
    missing = [key for key in state if key not in torch_model.state_dict()]
    if missing:
        raise KeyError(f"the torch model has no {missing[0]}: is it a model of {network.name}?")
    torch_model.load_state_dict(state, strict=False)


def torch_weights_to_keras(spec: Spec, torch_model: nn.Module, keras_model: Any) -> None:
    """The reverse of `keras_weights_to_torch`."""
    network = resolve(spec)
    paths = torch_layout.layout(network).module_paths()
    state = torch_model.state_dict()
    for layer in network.layers:
        if layer.kind not in torch_layout.WEIGHTED:
            continue
        values = [
            _to_keras_array(layer, key, state[f"{paths[layer.name]}.{key}"].detach().cpu().numpy())
            for key in _torch_keys(layer)
        ]
        keras_model.get_layer(layer.name).set_weights(values)


def _torch_keys(layer: nw.Layer) -> tuple[str, ...]:
    """The state_dict entries of a layer, in the order Keras lists its weights."""
    config = layer.config
    if isinstance(config, nw.BatchNormConfig):
        return ("weight", "bias", "running_mean", "running_var")
    if isinstance(config, (nw.GroupNormConfig, nw.LayerNormConfig)):
        return ("weight", "bias")
    if isinstance(config, nw.SeparableConv2DConfig):
        weights = ("depthwise.weight", "pointwise.weight")
        return (*weights, "pointwise.bias") if config.use_bias else weights
    if isinstance(config, (nw.Conv2DConfig, nw.DenseConfig, nw.DepthwiseConv2DConfig)):
        return ("weight", "bias") if config.use_bias else ("weight",)
    return ()


def _to_torch_array(layer: nw.Layer, key: str, value: Any) -> Any:
    if not key.endswith("weight") or value.ndim == 1:
        return value.copy()
    if key == "depthwise.weight" or isinstance(layer.config, nw.DepthwiseConv2DConfig):
        height, width, channels, multiplier = value.shape  # -> (channels * multiplier, 1, kh, kw)
        return value.reshape(height, width, channels * multiplier).transpose(2, 0, 1)[:, None].copy()
    if value.ndim == 4:  # (kh, kw, in, out) -> (out, in, kh, kw)
        return value.transpose(3, 2, 0, 1).copy()
    return value.T.copy()  # (in, out) -> (out, in)


def _to_keras_array(layer: nw.Layer, key: str, value: Any) -> Any:
    if not key.endswith("weight") or value.ndim == 1:
        return value
    if key == "depthwise.weight" or isinstance(layer.config, nw.DepthwiseConv2DConfig):
        assert isinstance(layer.config, (nw.DepthwiseConv2DConfig, nw.SeparableConv2DConfig))
        multiplier = layer.config.depth_multiplier
        outputs, _, height, width = value.shape
        return value[:, 0].transpose(1, 2, 0).reshape(height, width, outputs // multiplier, multiplier)
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    return value.T
