"""The torch modules Keras's layers need beyond `torch.nn`, standalone (torch only).

Keras's `padding="same"` (more at the bottom and right where the total is odd), Dense on the
channel axis, channels-last flatten and reshape, Keras's initializers. `to_torch` uses them, and
the code generator copies their source into generated modules (`codegen.torch`), so both back
ends run the same code: they stay within 88 columns, as `ruff format` lays them out there.
"""

from __future__ import annotations

import math

try:
    import torch
except ModuleNotFoundError as missing:  # say how to get it, and still name the missing module
    raise ModuleNotFoundError('PyTorch is required: pip install "resnet-dsl[torch]"', name=missing.name) from None
import torch.nn.functional as F
from torch import nn

from resnet_dsl.network.option_values import variance_scaling_of


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


def conv2d_same(in_channels, out_channels, kernel_size, **kwargs) -> nn.Conv2d:
    """A convolution with Keras's `padding="same"`, chosen as it is made (timm's
    create_conv2d_pad): nn.Conv2d with torch's padding where that is symmetric at
    any input size (stride 1 and an odd dilated kernel, or a 1x1 kernel), else
    Conv2dSame."""
    window = kernel_size, kwargs.get("stride", 1), kwargs.get("dilation", 1)
    kernel, stride, dilation = [v if isinstance(v, tuple) else (v, v) for v in window]
    extents = [(k - 1) * d for k, d in zip(kernel, dilation, strict=True)]
    if any(extents) and (stride != (1, 1) or any(e % 2 for e in extents)):
        return Conv2dSame(in_channels, out_channels, kernel_size, **kwargs)
    padding = extents[0] // 2, extents[1] // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, **kwargs)


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


class DropPath(nn.Module):
    """Stochastic depth (torchvision's `StochasticDepth(p, "row")`): in training,
    each sample is zeroed with probability p and the others scaled by 1 / (1 - p);
    the identity at inference. No parameters."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.dim() - 1)
        noise = torch.empty(shape, dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(keep).div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class LayerScale(nn.Module):
    """A learnable scale per channel (ConvNeXt's layer scale), its weight (C, 1, 1)
    as torchvision holds it, starting at `value`."""

    def __init__(self, channels: int, value: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 1), float(value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def per_channel(value) -> torch.Tensor:
    """A number, or one per channel, as a tensor that broadcasts over NCHW's channels."""
    tensor = torch.as_tensor(value, dtype=torch.float32)
    return tensor.reshape(-1, 1, 1) if tensor.dim() else tensor


class Rescale(nn.Module):
    """Keras's Rescaling: x * scale + offset, fixed numbers (one, or one per channel)."""

    def __init__(self, scale, offset=0.0):
        super().__init__()
        self.scale, self.offset = scale, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, offset = per_channel(self.scale), per_channel(self.offset)
        if x.dim() != 4:  # channels last: Keras's axis
            scale, offset = scale.flatten(), offset.flatten()
        return x * scale.to(x) + offset.to(x)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, offset={self.offset}"


class Normalize(nn.Module):
    """Keras's Normalization: (x - mean) / max(sqrt(variance), 1e-7) per channel, its
    statistics buffers named as Keras's weights (`mean`, `variance`, `count`)."""

    def __init__(self, channels: int, mean=0.0, variance=1.0):
        super().__init__()
        for name, value in (("mean", mean), ("variance", variance)):
            value = torch.as_tensor(value, dtype=torch.float32)
            self.register_buffer(name, value.expand(channels).clone())
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (-1, 1, 1) if x.dim() == 4 else (-1,)
        mean, variance = self.mean.reshape(shape), self.variance.reshape(shape)
        return (x - mean) / torch.sqrt(variance).clamp_min(1e-7)


class Conv1dChannelsLast(nn.Conv1d):
    """Keras's Conv1D on a (batch, steps, channels) tensor: torch's Conv1d between transposes.
    Its weight is torch's (out, in, kernel), so timm's ECA `conv.weight` loads as it is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


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


def pad_module(padding: int | list | tuple, mode: str) -> nn.Module:
    """torch's own padding module for `reflect` or `replicate`, given the padding as
    the spec writes it: `n`, `[rows, columns]` or `[[top, bottom], [left, right]]`."""
    if isinstance(padding, int):
        padding = (padding, padding)
    sides = [(side, side) if isinstance(side, int) else side for side in padding]
    (top, bottom), (left, right) = sides
    pad_class = nn.ReflectionPad2d if mode == "reflect" else nn.ReplicationPad2d
    return pad_class((left, right, top, bottom))


class Blur2d(nn.Module):
    """A fixed depthwise blur: each channel convolved with the normalised binomial
    filter, a buffer that is not saved (timm's BlurPool2d, its padding a layer before)."""

    def __init__(self, channels: int, size: int | tuple, stride: int | tuple = 2):
        super().__init__()
        self.stride = stride
        taps = []
        for n in (size, size) if isinstance(size, int) else size:
            coefficients = [math.comb(n - 1, k) / 2 ** (n - 1) for k in range(n)]
            taps.append(torch.tensor(coefficients, dtype=torch.float32))
        filt = (taps[0][:, None] * taps[1][None, :]).repeat(channels, 1, 1, 1)
        self.register_buffer("filt", filt, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups = self.filt.shape[0]
        return F.conv2d(x, self.filt, stride=self.stride, groups=groups)


class ChannelSplit(nn.Module):
    """The `index`-th of `groups` equal groups of the channels (torch.split's)."""

    def __init__(self, groups: int, index: int):
        super().__init__()
        self.groups, self.index = groups, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[1] // self.groups
        return x.narrow(1, self.index * size, size)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, index={self.index}"


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


class MovedSequential(nn.Sequential):
    """An nn.Sequential some of whose children `rehome` registered elsewhere: it runs
    the modules it was made with, in order, wherever they are registered now."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.__dict__["made_with"]:
            x = module(x)
        return x

    def _get_name(self) -> str:
        return "Sequential"


def rehome(model: nn.Module, paths: dict, parameters: tuple = ()) -> nn.Module:
    """Register each module at the path a zoo's state_dict names it by (built path
    -> that path, e.g. "layer1.0.conv_dw1" -> "features.1.0.block.0"); a path in
    `parameters` names the module's one parameter (torchvision's `layer_scale`).
    Forward still finds every module where it was built: it stays there as a plain
    attribute, no longer a child (an nn.Sequential runs what it was made with); so
    does a child of the model that holds containers only (a stage of blocks)."""
    had_children = {id(m) for m in model.modules() if m._modules}
    for built, path in paths.items():
        module = model.get_submodule(built)
        holder_path, _, attribute = built.rpartition(".")
        holder = model.get_submodule(holder_path)
        runs = isinstance(holder, nn.Sequential)
        if runs and not isinstance(holder, MovedSequential):
            object.__setattr__(holder, "made_with", list(holder._modules.values()))
            holder.__class__ = MovedSequential
        del holder._modules[attribute]
        object.__setattr__(holder, attribute, module)
        *parents, name = path.split(".")
        owner = model
        for depth, parent in enumerate(parents):
            child = [*parents, name][depth + 1]
            if parent not in owner._modules:
                made = nn.Sequential() if child.isdigit() else nn.Module()
                owner.add_module(parent, made)
            owner = owner._modules[parent]
        if path in parameters:
            (weight,) = module.parameters()
            owner.register_parameter(name, weight)
        else:
            owner.add_module(name, module)
    for owner in list(model.modules()):  # by index, gaps (a torch-only Permute) kept
        keys = list(owner._modules)
        if isinstance(owner, nn.Sequential) and all(key.isdigit() for key in keys):
            children = dict(owner._modules)
            owner._modules.clear()
            for index in range(max(map(int, children), default=-1) + 1):
                owner.add_module(str(index), children.get(str(index), nn.Identity()))
    for name, child in list(model._modules.items()):
        inside = [m for m in child.modules() if m is not child]
        if inside and all(id(m) in had_children for m in inside):  # containers only
            del model._modules[name]
            object.__setattr__(model, name, child)
    return model


def named(**children: nn.Module) -> nn.Sequential:
    """An nn.Sequential whose children have names (timm's `stem.conv`, `stages.0.blocks`),
    run in the order given."""
    sequential = nn.Sequential()
    for name, child in children.items():
        sequential.add_module(name, child)
    return sequential


def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    *,
    groups: int = 1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Keras's VarianceScaling where torch.nn.init has no call that draws the same: its
    truncated normal divides the deviation by that of a normal cut at two deviations, and a
    depthwise kernel's fans count per input channel and multiplier (`groups`)."""
    receptive = math.prod(tensor.shape[2:])
    inputs = tensor.shape[1] if tensor.dim() > 1 else tensor.shape[0]
    fan_in, fan_out = inputs * receptive * groups, tensor.shape[0] * receptive // groups
    fan = {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)
    variance = scale / max(1.0, fan)
    with torch.no_grad():
        if distribution == "uniform":
            limit = math.sqrt(3 * variance)
            return nn.init.uniform_(tensor, -limit, limit, generator=generator)
        std = math.sqrt(variance)
        if distribution == "untruncated_normal":
            return nn.init.normal_(tensor, 0.0, std, generator=generator)
        std /= 0.87962566103423978
        bounds = (-2 * std, 2 * std)
        return nn.init.trunc_normal_(tensor, 0.0, std, *bounds, generator=generator)


def keras_init_(
    tensor: torch.Tensor,
    name: str,
    seed: int | None = None,
    *,
    fans: tuple[int, int],
    **args: float | str,
) -> torch.Tensor:
    """Fill a weight in place as Keras's initializer `name` would (`fans`: fan in, fan
    out); a seed draws the same values every time."""
    rng = torch.Generator().manual_seed(seed) if seed is not None else None
    fan_in, fan_out = fans
    with torch.no_grad():
        scaling = variance_scaling_of(name, args)
        if scaling is not None:
            scale, mode, distribution = scaling
            fan = {"fan_in": fan_in, "fan_out": fan_out}.get(mode, (fan_in + fan_out) / 2)
            variance = scale / max(1.0, fan)
            if distribution == "uniform":
                limit = math.sqrt(3 * variance)
                return nn.init.uniform_(tensor, -limit, limit, generator=rng)
            if distribution == "untruncated_normal":
                return nn.init.normal_(tensor, 0.0, math.sqrt(variance), generator=rng)
            # Keras divides by the deviation of a normal truncated at two deviations.
            std = math.sqrt(variance) / 0.87962566103423978
            bounds = (-2 * std, 2 * std)
            return nn.init.trunc_normal_(tensor, 0.0, std, *bounds, generator=rng)
        if name == "random_uniform":
            low = float(args.get("minval", -0.05))
            high = float(args.get("maxval", 0.05))
            return nn.init.uniform_(tensor, low, high, generator=rng)
        mean, std = float(args.get("mean", 0.0)), float(args.get("stddev", 0.05))
        if name == "random_normal":
            return nn.init.normal_(tensor, mean, std, generator=rng)
        if name == "truncated_normal":
            bounds = (mean - 2 * std, mean + 2 * std)
            return nn.init.trunc_normal_(tensor, mean, std, *bounds, generator=rng)
        if name == "orthogonal":
            gain = float(args.get("gain", 1.0))
            return nn.init.orthogonal_(tensor, gain, generator=rng)
        if name == "zeros":
            return nn.init.zeros_(tensor)
        if name == "ones":
            return nn.init.ones_(tensor)
        if name == "constant":
            return nn.init.constant_(tensor, float(args.get("value", 0.0)))
    raise ValueError(f"unknown initializer {name!r}")


def initialized(
    module: nn.Module,
    init: str | dict = "glorot_uniform",
    depthwise: bool = False,
    bias: str | dict = "zeros",
) -> nn.Module:
    """A convolution or linear layer, its weight drawn as the Keras initializer `init`
    would (a name, or a dict such as {"name": "he_normal", "seed": 0}), its bias as `bias`
    with the kernel's fans (torch's own bias draw: variance_scaling(1/3, fan_in, uniform)).
    Keras counts a depthwise kernel's fans per input channel and multiplier."""
    fan_in, fan_out = fans(module.weight)
    if depthwise:
        groups = module.groups
        fan_in, fan_out = fan_in * groups, fan_out // groups
    for tensor, spec in ((module.weight, init), (module.bias, bias)):
        if tensor is not None:
            options = {"name": spec} if isinstance(spec, str) else dict(spec)
            name, seed = options.pop("name"), options.pop("seed", None)
            keras_init_(tensor, name, seed, fans=(fan_in, fan_out), **options)
    return module


def norm_initialized(
    module: nn.Module,
    gamma: str | dict = "ones",
    beta: str | dict = "zeros",
) -> nn.Module:
    """A norm layer, its scale and shift drawn as the Keras initializers `gamma` and
    `beta` would (timm's zeroed last BatchNorm: gamma "zeros")."""
    for tensor, init in ((module.weight, gamma), (module.bias, beta)):
        options = {"name": init} if isinstance(init, str) else dict(init)
        name, seed = options.pop("name"), options.pop("seed", None)
        size = tensor.shape[0]
        keras_init_(tensor, name, seed, fans=(size, size), **options)
    return module


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan in, fan out) of a conv or linear weight, as Keras counts them."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive
