"""Network -> `torch.nn.Module`, laid out as `torch_layout` says.

torch is imported lazily by `resnet_dsl`, from here and from `torch_modules` (the modules
Keras's layers need beyond `torch.nn`) and `torch_weights` (Keras <-> torch weights, re-exported
here). The module tree and every attribute name come from `torch_layout` (torchvision's layout,
so its and timm's state_dicts load); this file only makes the modules and runs them.

The numbers are Keras's: tensors are NCHW but mean what the NHWC IR means. `padding=same`
pads as Keras does, more at the bottom and right where the total is odd (`Conv2dSame`);
BatchNorm momentum m becomes 1 - m; `flatten` flattens channels last; initializers are
`torch.nn.init`'s equivalents of Keras's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import torch
except ModuleNotFoundError as missing:  # say how to get it, and still name the missing module
    raise ModuleNotFoundError('PyTorch is required: pip install "resnet-dsl[torch]"', name=missing.name) from None
from torch import nn

from resnet_dsl.backends import torch_fold, torch_layout
from resnet_dsl.backends.torch_modules import (
    AvgPool2dSame,
    Blur2d,
    ChannelPad,
    ChannelSplit,
    Conv1dChannelsLast,
    Conv2dSame,
    Dense,
    DropPath,
    Exponential,
    FlattenChannelsLast,
    LayerNormChannels,
    LayerScale,
    MaxPool2dSame,
    Normalize,
    Rescale,
    ReshapeChannelsLast,
    SeparableConv2d,
    initialized,
    norm_initialized,
    pad_module,
    rehome,
)
from resnet_dsl.backends.torch_weights import keras_weights_to_torch, torch_weights_to_keras
from resnet_dsl.network import model as nw
from resnet_dsl.network.api import Spec, resolve

# ----------------------------------------------------------- the model --


def activation(name: str, inplace: bool = False) -> nn.Module:
    """Keras's activation `name` as a torch module (`torch_layout.ACTIVATIONS`)."""
    class_name, args = torch_layout.ACTIVATIONS[name]
    module_class = Exponential if class_name == "Exponential" else getattr(nn, class_name)
    return module_class(**dict(args), **({"inplace": True} if inplace else {}))


class Graph(nn.Module):
    """One block: runs its layers in IR order (see `run`); printed as its block's class
    (`SeBottleneck(...)`), as the generated module names it."""

    def __init__(self, scope: torch_layout.Scope, kind: str = "Graph") -> None:
        super().__init__()
        self.steps = register(self, scope)
        self.source = scope.input
        self.kind = kind

    def _get_name(self) -> str:
        return self.kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run(self.steps, self.source, x)


class Model(nn.Module):
    """A network as its layout says (torchvision's by default): stem layers, stages, head layers."""

    def __init__(self, layout: torch_layout.Layout) -> None:
        super().__init__()
        self.network_name = layout.network.name
        self.kind = torch_layout.class_name(layout.network.name)
        self.stem_steps = register(self, layout.stem)
        self.stem_source = layout.stem.input
        self._stages: list[nn.Module] = []  # held, not looked up: `rehome` may move what holds them
        kinds = {block.name: block.kind_def.name for block in layout.network.blocks}  # as generated code names them
        for stage in layout.stages:
            if stage.blocks:
                blocks = nn.Sequential(
                    *(
                        Graph(block, torch_layout.class_name(kinds.get(instance.block, instance.block)))
                        for instance, block in zip(stage.stage.blocks, stage.blocks, strict=True)
                    )
                )
                place(self, stage.attribute, blocks)
                self._stages.append(blocks)
        self.head_steps = register(self, layout.head)
        self.head_source = layout.head.input

    def _get_name(self) -> str:
        return self.kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = run(self.stem_steps, self.stem_source, x)
        for blocks in self._stages:
            x = blocks(x)
        return run(self.head_steps, self.head_source, x)


Step = tuple[str, str, nn.Module | None, tuple[str, ...]]


def register(owner: nn.Module, scope: torch_layout.Scope) -> list[Step]:
    """Make the scope's modules children of `owner`, where the layout says; the steps that run them."""
    steps: list[Step] = []
    for node in scope.nodes:
        module = None
        if node.module is not None:
            module = make_module(node)
            place(owner, node.module, module)
        steps.append((node.name, node.layer.kind, module, node.inputs))
    return steps


def place(owner: nn.Module, path: str, module: nn.Module) -> None:
    """`module` at the dotted `path` under `owner`, its containers made where first used (as
    torchvision orders them): an nn.Sequential, whose left-out places are nn.Identity (a layer a
    condition leaves out keeps its place) and whose named children run in order (timm's `stem`)."""
    holder = owner
    parts = path.split(".")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part.isdigit():
            for gap in range(len(holder), int(part)):
                holder.add_module(str(gap), nn.Identity())
        if last:
            holder.add_module(part, module)
        else:
            if part not in holder._modules:
                holder.add_module(part, nn.Sequential())
            holder = holder._modules[part]


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


def _select(attention: torch.Tensor, branches: list[torch.Tensor]) -> torch.Tensor:
    """sum_i softmax_i(attention) * b_i, a channel group of the attention per branch (timm's
    SelectiveKernelAttn: `view(B, n, C, 1, 1)`, softmax over the branches)."""
    stacked = torch.stack(branches, 1)
    weights = attention.reshape(attention.shape[0], len(branches), -1, *[1] * (stacked.dim() - 3))
    return (stacked * weights.softmax(1)).sum(1)


MERGE_FUNCTIONS: dict[str, Callable[[list[torch.Tensor]], torch.Tensor]] = {
    "add": lambda tensors: sum(tensors[1:], tensors[0]),
    "multiply": _multiply,
    "concat": lambda tensors: torch.cat(tensors, dim=1),
    "select": lambda tensors: _select(tensors[0], tensors[1:]),
}


def to_torch(spec: Spec, *, fold: bool = False, **load_kwargs: Any) -> nn.Module:
    """Build the torch model of a network, or of the spec at a path (`load_kwargs` go to `load`).

    It takes NCHW input and computes what `to_keras` computes on NHWC input, given the same
    weights (`keras_weights_to_torch`). Its state_dict keys follow torchvision's ResNet.
    `fold=True`: for inference only, each BatchNorm folded into its convolution (`torch_fold`).
    """
    network = resolve(spec, **load_kwargs)
    for layer in network.layers:
        if layer.kind not in FACTORIES and layer.kind not in MERGE_FUNCTIONS and layer.kind != "input":
            raise NotImplementedError(f"layer '{layer.name}': no torch equivalent of {layer.kind} yet")
    layout = torch_layout.layout(network)
    model = Model(layout)
    init_weights(model, layout)
    moves, parameters = layout.rehomed()
    if moves:  # the paths the spec states (a zoo's state_dict keys)
        rehome(model, moves, parameters)
    return torch_fold.fold(model, network, inplace=True) if fold else model


def init_weights(model: nn.Module, layout: torch_layout.Layout) -> None:
    """Every layer's tensors drawn as the spec's initializers say, in one pass over the made model
    (as the generated model's `init_weights`), so no module is wrapped in its initialisation."""
    layers = {layer.name: layer for layer in layout.network.layers}
    options = torch_layout.initializer_options
    for name, path in layout.built_paths().items():
        module, config = model.get_submodule(path), layers[name].config
        if isinstance(config, (nw.Conv2DConfig, nw.Conv1DConfig, nw.DenseConfig)):
            initialized(module, options(config.kernel_initializer), bias=options(config.bias_initializer))
        elif isinstance(config, nw.DepthwiseConv2DConfig):
            bias = options(config.bias_initializer)
            initialized(module, options(config.depthwise_initializer), depthwise=True, bias=bias)
        elif isinstance(config, nw.SeparableConv2DConfig):
            initialized(module.depthwise, options(config.depthwise_initializer), depthwise=True)
            initialized(module.pointwise, options(config.pointwise_initializer), bias=options(config.bias_initializer))
        elif isinstance(config, nw.BatchNormConfig):
            norm_initialized(module, options(config.gamma_initializer), options(config.beta_initializer))


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
    padding = torch_layout.conv_padding(node)
    conv_class = Conv2dSame if padding is None else nn.Conv2d
    if padding:
        kwargs["padding"] = padding
    return conv_class(node.in_channels, config.filters, config.kernel_size, **kwargs)


def _conv1d(config: nw.Conv1DConfig, node: torch_layout.Node) -> nn.Module:
    return Conv1dChannelsLast(
        node.in_channels, config.filters, config.kernel_size, padding=config.padding, bias=config.use_bias
    )


def _batchnorm(config: nw.BatchNormConfig, node: torch_layout.Node) -> nn.Module:
    rank = len(node.in_shape) + 1  # the IR's shapes leave the batch out
    if config.axis not in (-1, rank - 1):
        raise NotImplementedError(f"layer '{node.name}': torch normalizes channels only, not axis {config.axis}")
    # A call-time `training` is Keras's default for callers that pass none; a torch module always
    # has a mode (`train()` / `eval()`), which decides, as the caller's `training` does in Keras.
    norm_class = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
    return norm_class(node.in_channels, eps=config.epsilon, momentum=torch_momentum(config.momentum))


def torch_momentum(momentum: float) -> float:
    """torch's momentum for Keras's: 1 - m, as it was written (0.1, not 0.09999999999999998)."""
    return round(1 - momentum, 12)


def _activation(config: nw.ActivationConfig, node: torch_layout.Node) -> nn.Module:
    return activation(config.activation, inplace=node.inplace)


def _zeropad(config: nw.ZeroPaddingConfig, node: torch_layout.Node) -> nn.Module:
    (top, bottom), (left, right) = config.padding
    return nn.ZeroPad2d((left, right, top, bottom))


def _pad(config: nw.PadConfig, node: torch_layout.Node) -> nn.Module:
    return pad_module(config.padding, config.mode)


def _split(config: nw.SplitConfig, node: torch_layout.Node) -> nn.Module:
    return ChannelSplit(config.groups, config.index)


def _blur(config: nw.BlurConfig, node: torch_layout.Node) -> nn.Module:
    return Blur2d(node.in_channels, config.kernel_size, config.strides)


def _pool(config: nw.PoolConfig, node: torch_layout.Node) -> nn.Module:
    if isinstance(config.padding, tuple):  # torch's own: -inf on each side
        return nn.MaxPool2d(config.pool_size, config.strides, padding=config.padding)
    if config.padding == "same":
        same_class = MaxPool2dSame if config.kind == "maxpool" else AvgPool2dSame
        return same_class(config.pool_size, config.strides)
    pool_class = nn.MaxPool2d if config.kind == "maxpool" else nn.AvgPool2d
    if node.padding != (0, 0):  # a padding folded into the pool (see `torch_layout`)
        return pool_class(config.pool_size, config.strides, padding=node.padding)
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
    node: torch_layout.Node, multiplier: int, config: nw.DepthwiseConv2DConfig | nw.SeparableConv2DConfig, bias: bool
) -> nn.Conv2d:
    channels = node.in_channels
    kwargs: dict[str, Any] = {"stride": config.strides, "dilation": config.dilation_rate, "groups": channels}
    padding = torch_layout.conv_padding(node)
    conv_class = Conv2dSame if padding is None else nn.Conv2d
    if padding:
        kwargs["padding"] = padding
    return conv_class(channels, channels * multiplier, config.kernel_size, bias=bias, **kwargs)


def _depthwise_conv2d(config: nw.DepthwiseConv2DConfig, node: torch_layout.Node) -> nn.Module:
    return _depthwise(node, config.depth_multiplier, config, config.use_bias)


def _separable_conv2d(config: nw.SeparableConv2DConfig, node: torch_layout.Node) -> nn.Module:
    depthwise = _depthwise(node, config.depth_multiplier, config, False)
    pointwise = nn.Conv2d(node.in_channels * config.depth_multiplier, config.filters, 1, bias=config.use_bias)
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
    return ReshapeChannelsLast(config.target_shape)


def _flatten(config: nw.FlattenConfig, node: torch_layout.Node) -> nn.Module:
    return FlattenChannelsLast()


def _dense(config: nw.DenseConfig, node: torch_layout.Node) -> nn.Module:
    if config.activation == "linear" and len(node.in_shape) == 1:
        dense: nn.Linear = nn.Linear(node.in_channels, config.units, bias=config.use_bias)
    else:
        function = activation(config.activation)
        dense = Dense(node.in_channels, config.units, bias=config.use_bias, activation=function)
    return dense


def _dropout(config: nw.DropoutConfig, node: torch_layout.Node) -> nn.Module:
    return nn.Dropout(config.rate)


def _layer_scale(config: nw.LayerScaleConfig, node: torch_layout.Node) -> nn.Module:
    return LayerScale(node.in_channels, config.value)


def _drop_path(config: nw.DropPathConfig, node: torch_layout.Node) -> nn.Module:
    return DropPath(config.rate)


def _rescale(config: nw.RescaleConfig, node: torch_layout.Node) -> nn.Module:
    return Rescale(config.scale, config.offset)


def _normalize(config: nw.NormalizeConfig, node: torch_layout.Node) -> nn.Module:
    return Normalize(node.in_channels, config.mean, config.variance)


FACTORIES: dict[str, Callable[[Any, torch_layout.Node], nn.Module]] = {
    "conv2d": _conv2d,
    "conv1d": _conv1d,
    "batchnorm": _batchnorm,
    "activation": _activation,
    "zeropad": _zeropad,
    "pad": _pad,
    "blur": _blur,
    "split": _split,
    "maxpool": _pool,
    "avgpool": _pool,
    "global_avgpool": _global_pool,
    "global_maxpool": _global_pool,
    "flatten": _flatten,
    "dense": _dense,
    "dropout": _dropout,
    "drop_path": _drop_path,
    "layer_scale": _layer_scale,
    "rescale": _rescale,
    "normalize": _normalize,
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


__all__ = ["keras_weights_to_torch", "to_torch", "torch_weights_to_keras"]
