"""Shape inference, parameter counts and multiply-accumulates, per layer, as Keras does it.

Pure arithmetic on typed configs: no TensorFlow. Tests hold these figures equal to
what Keras reports for the built model.
"""

from __future__ import annotations

from math import ceil, prod

from resnet_dsl.network import model as nw

NO_PARAMS = nw.Params.model_construct()


class ShapeError(ValueError):
    """A layer cannot take its input; the expander adds the location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotAnImage(ShapeError):
    """An image layer got something without height, width and channels."""


def fmt(shape: nw.Shape) -> str:
    return "(None, " + ", ".join(str(d) for d in shape) + ")"


def _spatial(size: int, window: int, stride: int, padding: str | int, dilation: int = 1) -> int:
    if padding == "same":
        return ceil(size / stride)
    if isinstance(padding, int):  # torch's symmetric padding
        size += 2 * padding
    span = dilation * (window - 1) + 1
    return (size - span) // stride + 1 if size >= span else 0


def _image(shape: nw.Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise NotAnImage(
            f"{what} needs an image input (height, width, channels), got {fmt(shape)}",
            "image layers must come before flatten or global pooling",
        )
    return shape[0], shape[1], shape[2]


def _windowed(shape: nw.Shape, what: str, window: nw.Pair, strides: nw.Pair, padding: str | nw.Pair,
              dilation: nw.Pair = (1, 1)) -> tuple[int, int]:  # fmt: skip
    height, width, _ = _image(shape, what)
    rows, columns = padding if isinstance(padding, tuple) else (padding, padding)
    out = (
        _spatial(height, window[0], strides[0], rows, dilation[0]),
        _spatial(width, window[1], strides[1], columns, dilation[1]),
    )
    if min(out) <= 0:
        raise ShapeError(
            f"{what} shrinks its {height}x{width} input to nothing "
            f"(window {window[0]}x{window[1]}, stride {strides[0]}x{strides[1]}, padding {padding})",
            "use a larger input, padding=same, or fewer downsampling stages",
        )
    return out


def infer(config: nw.LayerConfig, inputs: list[nw.Shape]) -> tuple[nw.Shape, nw.Params, int]:
    """(output shape, parameters, MACs) of one layer given its input shapes."""
    kind = config.kind
    if kind == "input":
        return config.shape, NO_PARAMS, 0
    if kind == "add":
        first = inputs[0]
        for other in inputs[1:]:
            if other != first:
                raise ShapeError(
                    f"cannot add {fmt(first)} and {fmt(other)}: the residual sides differ in shape",
                    "give the shortcut a projection, e.g. shortcut { conv(filters, 1, stride=s) -> bn }",
                )
        return first, NO_PARAMS, 0
    if kind == "multiply":
        return _multiply(inputs), NO_PARAMS, 0
    if kind == "concat":
        return _concat(inputs), NO_PARAMS, 0
    if kind == "select":
        return _select(inputs), NO_PARAMS, 0
    (shape,) = inputs
    if kind == "conv2d":
        channels = _image(shape, "conv")[2]
        if channels % config.groups or config.filters % config.groups:
            raise ShapeError(
                f"groups={config.groups} must divide both the {channels} input channels "
                f"and the {config.filters} filters"
            )
        height, width = _windowed(
            shape, "conv", config.kernel_size, config.strides, config.padding, config.dilation_rate
        )
        kernel = config.kernel_size[0] * config.kernel_size[1] * channels // config.groups
        weights = kernel * config.filters
        bias = config.filters if config.use_bias else 0
        return (
            (height, width, config.filters),
            nw.Params.model_construct(trainable=weights + bias),
            height * width * weights,
        )
    if kind == "conv1d":
        if len(shape) != 2:
            raise ShapeError(
                f"conv1d needs a sequence (steps, channels), got {fmt(shape)}",
                "reshape it first: a gate's channels as steps are reshape([-1, 1])",
            )
        steps = _spatial(shape[0], config.kernel_size, 1, config.padding)
        if steps <= 0:
            raise ShapeError(f"conv1d shrinks its {shape[0]} steps to nothing (kernel {config.kernel_size})")
        weights = config.kernel_size * shape[1] * config.filters
        bias = config.filters if config.use_bias else 0
        return (steps, config.filters), nw.Params.model_construct(trainable=weights + bias), steps * weights
    if kind == "batchnorm":
        axis = config.axis if config.axis >= 0 else len(shape) + 1 + config.axis
        if not 1 <= axis <= len(shape):
            raise ShapeError(f"batchnorm axis {config.axis} does not exist in {fmt(shape)}")
        _channels_only("bn", config.axis, axis - 1, shape)
        channels = shape[axis - 1]
        return shape, nw.Params.model_construct(trainable=2 * channels, non_trainable=2 * channels), 0
    if kind in ("activation", "dropout"):
        return shape, NO_PARAMS, 0
    if kind == "layer_scale":
        channels = _image(shape, "layer_scale")[2]
        return shape, nw.Params.model_construct(trainable=channels), 0
    if kind == "rescale":
        _per_channel(shape, "rescale", scale=config.scale, offset=config.offset)
        return shape, NO_PARAMS, 0
    if kind == "normalize":
        _per_channel(shape, "normalize", mean=config.mean, variance=config.variance)
        return shape, nw.Params.model_construct(non_trainable=2 * shape[-1] + 1), 0  # mean, variance, count
    if kind == "drop_path":
        _image(shape, "drop_path")  # one noise value per sample: Keras's noise_shape (None, 1, 1, 1)
        return shape, NO_PARAMS, 0
    if kind == "zeropad":
        height, width, channels = _image(shape, "zeropad")
        (top, bottom), (left, right) = config.padding
        return (height + top + bottom, width + left + right, channels), NO_PARAMS, 0
    if kind == "pad":
        height, width, channels = _image(shape, f"pad(mode={config.mode})")
        (top, bottom), (left, right) = config.padding
        if config.mode == "reflect" and (max(top, bottom) >= height or max(left, right) >= width):
            raise ShapeError(
                f"reflect padding must be smaller than the input it reflects: "
                f"{top}, {bottom} rows and {left}, {right} columns around {height}x{width}",
                "pad less, or pad a larger input",
            )
        return (height + top + bottom, width + left + right, channels), NO_PARAMS, 0
    if kind == "blur":
        channels = _image(shape, "blur")[2]
        height, width = _windowed(shape, "blur", config.kernel_size, config.strides, "valid")
        taps = config.kernel_size[0] * config.kernel_size[1] * channels
        return (height, width, channels), nw.Params.model_construct(non_trainable=taps), height * width * taps
    if kind == "split":
        channels = shape[-1]
        if config.index < 0 or config.index >= config.groups:
            raise ShapeError(
                f"split({config.groups}, {config.index}) takes group {config.index} of {config.groups},"
                " which does not exist",
                f"the groups are 0 to {config.groups - 1}",
            )
        if channels % config.groups:
            raise ShapeError(
                f"split into {config.groups} groups needs channels that {config.groups} divides, got {channels}",
                "give the layer before it a multiple of the groups as its channels",
            )
        return (*shape[:-1], channels // config.groups), NO_PARAMS, 0
    if kind == "channelpad":
        height, width, channels = _image(shape, "zeropad")
        low, high = config.padding[1]
        return (height, width, channels + low + high), NO_PARAMS, 0
    if kind in ("maxpool", "avgpool", "subsample"):
        height, width = _windowed(
            shape, kind, config.pool_size, config.strides, "valid" if kind == "subsample" else config.padding
        )
        return (height, width, shape[2]), NO_PARAMS, 0
    if kind == "upsample":
        height, width, channels = _image(shape, "upsample")
        return (height * config.size[0], width * config.size[1], channels), NO_PARAMS, 0
    if kind in ("global_avgpool", "global_maxpool"):
        channels = _image(shape, kind)[2]
        return ((1, 1, channels) if config.keepdims else (channels,)), NO_PARAMS, 0
    if kind == "depthwise_conv2d":
        channels = _image(shape, "depthwise_conv")[2]
        height, width = _windowed(
            shape, "depthwise_conv", config.kernel_size, config.strides, config.padding, config.dilation_rate
        )
        outputs = channels * config.depth_multiplier
        weights = config.kernel_size[0] * config.kernel_size[1] * outputs
        bias = outputs if config.use_bias else 0
        return (height, width, outputs), nw.Params.model_construct(trainable=weights + bias), height * width * weights
    if kind == "separable_conv2d":
        channels = _image(shape, "separable_conv")[2]
        height, width = _windowed(
            shape, "separable_conv", config.kernel_size, config.strides, config.padding, config.dilation_rate
        )
        middle = channels * config.depth_multiplier
        depthwise = config.kernel_size[0] * config.kernel_size[1] * middle
        pointwise = middle * config.filters
        bias = config.filters if config.use_bias else 0
        params = nw.Params.model_construct(trainable=depthwise + pointwise + bias)
        return (height, width, config.filters), params, height * width * (depthwise + pointwise)
    if kind in ("groupnorm", "layernorm"):
        index = _axis(config.axis, shape, kind)
        _channels_only("gn" if kind == "groupnorm" else "ln", config.axis, index, shape)
        channels = shape[index]
        if kind == "groupnorm" and channels % config.groups:
            raise ShapeError(
                f"groupnorm groups={config.groups} must divide the {channels} channels",
                f"e.g. gn({max(g for g in range(1, channels + 1) if channels % g == 0 and g <= config.groups)})",
            )
        return shape, nw.Params.model_construct(trainable=2 * channels), 0
    if kind == "reshape":
        return _reshape(shape, config.target_shape), NO_PARAMS, 0
    if kind == "flatten":
        return (prod(shape),), NO_PARAMS, 0
    if kind == "dense":
        features = shape[-1]
        weights = features * config.units
        bias = config.units if config.use_bias else 0
        positions = prod(shape[:-1])
        return (*shape[:-1], config.units), nw.Params.model_construct(trainable=weights + bias), positions * weights
    raise AssertionError(f"no shape rule for {kind}")  # every config kind is handled above


def _multiply(inputs: list[nw.Shape]) -> nw.Shape:
    """The largest input's shape; every other input equals it or is a gate on its channels,
    `(C,)` or `(1, 1, C)`, which Keras's `Multiply` broadcasts (as NumPy does, from the right)."""
    full = max(inputs, key=lambda shape: (len(shape), prod(shape)))
    for shape in inputs:
        gate = shape[-1:] == full[-1:] and all(d == 1 for d in shape[:-1])
        if shape != full and not gate:
            raise ShapeError(
                f"cannot multiply {fmt(full)} by {fmt(shape)}: "
                f"a factor must have the same shape or be a gate (None, {full[-1]}) or (None, 1, 1, {full[-1]})",
                "make the gate's channels match, e.g. se from main { global_avgpool -> dense(c) -> sigmoid }",
            )
    return full


def _concat(inputs: list[nw.Shape]) -> nw.Shape:
    """The channels add up; every other dimension must agree."""
    first = inputs[0]
    for other in inputs[1:]:
        if len(other) != len(first) or other[:-1] != first[:-1]:
            raise ShapeError(
                f"cannot concatenate {fmt(first)} and {fmt(other)} along the channels: the other dimensions differ",
                "bring the paths to one spatial size first, e.g. subsample(2) or a strided conv on one path",
            )
    return (*first[:-1], sum(shape[-1] for shape in inputs))


def _per_channel(shape: nw.Shape, what: str, **values: float | tuple[float, ...]) -> None:
    """A list of values must give one per channel (a number is every channel's)."""
    for option, value in values.items():
        if isinstance(value, tuple) and len(value) not in (1, shape[-1]):
            raise ShapeError(
                f"{what}'s {option} gives {len(value)} values for {shape[-1]} channels",
                f"give one number, or one per channel ({shape[-1]})",
            )


def _channels_only(what: str, axis: int, index: int, shape: nw.Shape) -> None:
    """What every back end can build: torch's norms normalize the channels only (Keras's any axis)."""
    if index != len(shape) - 1:
        raise ShapeError(
            f"{what} axis {axis} is not the channels of {fmt(shape)}: the torch back end normalizes"
            f" the channels only (axis -1 or {len(shape)})",
            f"normalize the channels: {what}(axis=-1)",
        )


def _axis(axis: int, shape: nw.Shape, what: str) -> int:
    """A Keras axis (the batch is 0; negative counts from the end) as an index into `shape`."""
    index = axis - 1 if axis > 0 else len(shape) + axis
    if not 0 <= index < len(shape):
        raise ShapeError(f"{what} axis {axis} does not exist in {fmt(shape)}")
    return index


def _reshape(shape: nw.Shape, target: nw.Shape) -> nw.Shape:
    """`target` with its -1 resolved; the number of values must not change."""
    size, known = prod(shape), prod(d for d in target if d != -1)
    if -1 in target and size % known == 0:
        target = tuple(size // known if d == -1 else d for d in target)
    if prod(target) != size:
        raise ShapeError(
            f"cannot reshape {fmt(shape)} ({size:,} values) to {fmt(target)}",
            "the dimensions must multiply to the same number of values; one may be -1",
        )
    return target


def _select(inputs: list[nw.Shape]) -> nw.Shape:
    """`select(attention, b0, b1, ...)`: branches of one shape, and a gate of one channel group each."""
    attention, branches = inputs[0], inputs[1:]
    if len(branches) < 2:
        raise ShapeError("select needs an attention and at least two branches", "select(attention, b0, b1)")
    first = branches[0]
    if len(first) != 3:
        raise NotAnImage(f"select's branches must be images (height, width, channels), got {fmt(first)}")
    for other in branches[1:]:
        if other != first:
            raise ShapeError(f"select's branches differ in shape: {fmt(first)} and {fmt(other)}")
    wanted = len(branches) * first[-1]
    if attention[-1] != wanted or any(d != 1 for d in attention[:-1]):
        raise ShapeError(
            f"select's attention must be a gate of {len(branches)} x {first[-1]} = {wanted} channels"
            f" for {len(branches)} branches {fmt(first)}, got {fmt(attention)}",
            f"end the attention path with conv({len(branches)} * channels, 1) on a global_avgpool(keepdims=true)",
        )
    return first


def kernel_shape(config: nw.LayerConfig, channels: int) -> tuple[int, ...] | None:
    """The kernel whose fans a biased layer's bias initializer counts, as Keras shapes it, for
    `channels` input channels (a separable convolution's bias follows its pointwise kernel)."""
    if not getattr(config, "use_bias", False) or not hasattr(config, "bias_initializer"):
        return None
    if isinstance(config, nw.Conv2DConfig):
        return (*config.kernel_size, channels // config.groups, config.filters)
    if isinstance(config, nw.Conv1DConfig):
        return config.kernel_size, channels, config.filters
    if isinstance(config, nw.DepthwiseConv2DConfig):
        return (*config.kernel_size, channels, config.depth_multiplier)
    if isinstance(config, nw.SeparableConv2DConfig):
        return 1, 1, channels * config.depth_multiplier, config.filters
    if isinstance(config, nw.DenseConfig):
        return channels, config.units
    return None
