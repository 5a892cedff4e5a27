"""The Keras pieces the language needs beyond `keras.layers`, standalone (Keras only).

Reflect and replicate padding (Keras pads with zeros only), the blur's fixed kernel, a
`Normalization` that starts at given statistics yet keeps them as weights, and a bias drawn
with its kernel's fans (torch's own bias draw).
`to_keras` uses them, and the code generator copies their source into generated modules
(`codegen.keras`), so both run the same code: they stay within 88 columns, as `ruff format`
lays them out there.
"""

from __future__ import annotations

import keras


def blur_kernel(size):
    """The normalised binomial filter of `size` (rows, columns) taps, as a depthwise
    kernel (rows, columns, 1, 1): [1, 2, 1] / 4 outer [1, 2, 1] / 4 for 3x3."""
    taps = []
    for count in (size, size) if isinstance(size, int) else size:
        row = [1.0]
        for _ in range(count - 1):
            row = [a + b for a, b in zip([0.0, *row], [*row, 0.0], strict=True)]
        taps.append([value / sum(row) for value in row])
    return [[[[a * b]] for b in taps[1]] for a in taps[0]]


def kernel_fan_bias(initializer, kernel_shape):
    """A bias initializer that counts the fans of its layer's kernel (`kernel_shape`, as
    Keras shapes it: (rows, columns, in, out)), as torch's own bias draw does, where Keras
    counts the bias's length: a VarianceScaling becomes the fixed draw it makes at those
    fans (nn.Linear's bias: uniform within 1 / sqrt(fan_in)); any other is kept."""
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return initializer
    receptive = 1
    for size in kernel_shape[:-2]:
        receptive *= size
    fan_in, fan_out = kernel_shape[-2] * receptive, kernel_shape[-1] * receptive
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    variance = initializer.scale / max(1.0, fans[initializer.mode])
    seed = initializer.get_config()["seed"]
    if initializer.distribution == "uniform":
        limit = (3 * variance) ** 0.5
        return keras.initializers.RandomUniform(-limit, limit, seed=seed)
    if initializer.distribution == "untruncated_normal":
        return keras.initializers.RandomNormal(stddev=variance**0.5, seed=seed)
    # Keras divides by the deviation of a normal truncated at two deviations.
    stddev = variance**0.5 / 0.87962566103423978
    return keras.initializers.TruncatedNormal(stddev=stddev, seed=seed)


class Pad2D(keras.layers.Layer):
    """Height and width padded by reflection (`reflect`, the edge not repeated, as
    torch's ReflectionPad2d) or by repeating the edge (`replicate`, ReplicationPad2d)."""

    def __init__(self, padding, mode="reflect", **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = (padding, padding)
        sides = [(s, s) if isinstance(s, int) else tuple(s) for s in padding]
        self.padding = tuple(sides)
        self.mode = mode

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        if self.mode == "reflect":
            pads = [[0, 0], [top, bottom], [left, right], [0, 0]]
            return keras.ops.pad(x, pads, mode="reflect")
        rows = [x[:, :1]] * top + [x] + [x[:, -1:]] * bottom
        x = keras.ops.concatenate(rows, axis=1)
        columns = [x[:, :, :1]] * left + [x] + [x[:, :, -1:]] * right
        return keras.ops.concatenate(columns, axis=2)

    def compute_output_shape(self, shape):
        (top, bottom), (left, right) = self.padding
        height, width = shape[1], shape[2]
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return (shape[0], height, width, shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


class Normalize(keras.layers.Normalization):
    """keras.layers.Normalization with its statistics as weights (`mean`, `variance`,
    `count`, as an adapted one holds them, so they load by name), starting at `mean`
    and `variance`; read at every call, so weights assigned later count."""

    def __init__(self, mean=0.0, variance=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = [v if isinstance(v, float | int) else list(v) for v in (mean, variance)]

    def build(self, input_shape):
        super().build(input_shape)
        shape = self.adapt_mean.shape
        mean, variance = (keras.ops.broadcast_to(v, shape) for v in self.initial)
        self.adapt_mean.assign(mean)
        self.adapt_variance.assign(variance)

    def call(self, x):
        self.finalize_state()
        return super().call(x)

    def get_config(self):
        mean, variance = self.initial
        return {**super().get_config(), "mean": mean, "variance": variance}


class ChannelSplit(keras.layers.Layer):
    """The `index`-th of `groups` equal groups of the channels (torch.split's)."""

    def __init__(self, groups, index, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.index = groups, index

    def call(self, x):
        size = x.shape[-1] // self.groups
        return x[..., self.index * size : (self.index + 1) * size]

    def compute_output_shape(self, shape):
        return (*shape[:-1], shape[-1] // self.groups)

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "index": self.index}


class Select(keras.layers.Layer):
    """Branches weighted by a softmax across them of an attention gate, one channel
    group per branch, and summed (the Selective Kernel's attention)."""

    def call(self, inputs):
        attention, *branches = inputs
        stacked = keras.ops.stack(branches, axis=-2)
        shape = [-1] + [1] * (len(stacked.shape) - 3) + [len(branches), stacked.shape[-1]]
        weights = keras.ops.softmax(keras.ops.reshape(attention, shape), axis=-2)
        return keras.ops.sum(stacked * weights, axis=-2)

    def compute_output_shape(self, shapes):
        return shapes[1]
