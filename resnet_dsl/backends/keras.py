"""Network -> `keras.Model`: one Keras layer per IR layer, named as the IR names it.

This is the only module that imports Keras (and so TensorFlow), with `keras_layers` (the
layers Keras lacks), which is why
`resnet_dsl` imports it lazily: `check`, `summary` and the parser stay light.
Every config kind has one small factory in `LAYER_FACTORIES`; the wiring is the
functional API, replaying the IR's topological order, so the model's graph is the
IR's graph and nothing else (no hidden layers, no renaming).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import keras

from resnet_dsl.backends.keras_layers import ChannelSplit, Normalize, Pad2D, Select, blur_kernel, kernel_fan_bias
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network import model as nw
from resnet_dsl.network.api import Spec, resolve
from resnet_dsl.network.ops import MERGE_KINDS
from resnet_dsl.network.shapes import kernel_shape

T = TypeVar("T")

UNSEEDED_INITIALIZERS = frozenset({"zeros", "ones", "constant"})
"""Constant initializers: Keras's classes take no `seed`, so none is passed."""


KERAS_POOL_PADDING = "its pools pad valid or same; an integer padding (-inf on each side) is torch's"


def to_keras(spec: Spec, **load_kwargs: Any) -> keras.Model:
    """Build the Keras model of a network, or of the spec at a path (`load_kwargs` go to `load`).

    Layer names come from the IR, so weights saved from a model of the same
    architecture (e.g. keras.applications) load by name; the model takes the network's name.
    """
    network = resolve(spec, **load_kwargs)
    return with_depth(len(network.layers), lambda: _build(network))


def _build(network: nw.Network) -> keras.Model:
    tensors: dict[str, keras.KerasTensor] = {}
    for layer in network.layers:
        try:
            tensors[layer.name] = _apply(layer, tensors)
        except (ValueError, TypeError, MemoryError, RuntimeError) as error:  # tf.errors.* are RuntimeErrors
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ArchError(f"Keras cannot build layer '{layer.name}': {first}", layer.span) from None
    inputs = [tensors[layer.name] for layer in network.layers if isinstance(layer.config, nw.InputConfig)]
    outputs = tensors[network.layers[-1].name]
    return keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs, outputs=outputs, name=network.name)


# --------------------------------------------------------------- recursion --

FRAMES_PER_LAYER = 4
"""Keras walks a functional graph recursively (`Function._build_map_helper`, one frame per
layer along the longest path, a few more around it): the recursion limit is raised by this
much per layer while a deep model is built, so ResNet-1202's 4,212 layers build."""


def with_depth(layers: int, build: Callable[[], T]) -> T:
    """`build()`, with room for Keras's recursion over a graph of `layers` layers.

    The recursion limit is raised for the duration, and restored. On the caller's own thread:
    Keras keeps its scopes (a distribution strategy, a dtype policy) per thread, so a model
    built elsewhere would leave them behind. The deeper recursion is Python calling Python,
    which since Python 3.11 does not grow the C stack.
    """
    needed = FRAMES_PER_LAYER * layers + 1_000
    limit = sys.getrecursionlimit()
    if needed <= limit:
        return build()
    sys.setrecursionlimit(needed)
    try:
        return build()
    finally:
        sys.setrecursionlimit(limit)


def _apply(layer: nw.Layer, tensors: dict[str, keras.KerasTensor]) -> keras.KerasTensor:
    """Create the layer and call it on its inputs, as the seed's code does by hand."""
    config = layer.config
    if isinstance(config, nw.InputConfig):
        return keras.Input(shape=config.shape, name=layer.name)
    keras_layer = LAYER_FACTORIES[config.kind](config, layer.name)
    inputs = [tensors[name] for name in layer.inputs]
    shape = kernel_shape(config, inputs[0].shape[-1])
    if shape is not None:  # set before the layer builds its bias
        keras_layer.bias_initializer = kernel_fan_bias(initializer(config.bias_initializer), shape)
    # Merges take their operands as a list, in IR order: the order fixes Keras's layer order.
    call_input = inputs if config.kind in MERGE_KINDS else inputs[0]
    return keras_layer(call_input, **_call_kwargs(config))


def _call_kwargs(config: nw.LayerConfig) -> dict[str, Any]:
    """`training` is a call-time argument in the seed (`BatchNormalization()(x, training=True)`)."""
    if isinstance(config, nw.BatchNormConfig) and config.training is not None:
        return {"training": config.training}
    return {}


def initializer(spec: nw.Initializer) -> keras.initializers.Initializer:
    """A fresh Keras initializer per layer, as the seed makes one with `glorot_uniform(seed=0)`.

    A seeded Keras initializer draws the same values for the same shape every time, which
    is what makes two builds (or the seed's code and the DSL's) start from identical weights.
    """
    config: dict[str, Any] = dict(spec.args)
    if spec.seed is not None and spec.name not in UNSEEDED_INITIALIZERS:
        config["seed"] = spec.seed
    return keras.initializers.get({"class_name": spec.name, "config": config})


# --------------------------------------------------------------- factories --


def _conv2d(config: nw.Conv2DConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Conv2D(
        config.filters,
        config.kernel_size,
        strides=config.strides,
        padding=config.padding,
        dilation_rate=config.dilation_rate,
        groups=config.groups,
        use_bias=config.use_bias,
        kernel_initializer=initializer(config.kernel_initializer),
        name=name,
    )


def _conv1d(config: nw.Conv1DConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Conv1D(
        config.filters,
        config.kernel_size,
        padding=config.padding,
        use_bias=config.use_bias,
        kernel_initializer=initializer(config.kernel_initializer),
        name=name,
    )


def _batchnorm(config: nw.BatchNormConfig, name: str) -> keras.layers.Layer:
    return keras.layers.BatchNormalization(
        axis=config.axis,
        epsilon=config.epsilon,
        momentum=config.momentum,
        gamma_initializer=initializer(config.gamma_initializer),
        beta_initializer=initializer(config.beta_initializer),
        name=name,
    )


def _activation(config: nw.ActivationConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Activation(config.activation, name=name)


def _zeropad(config: nw.ZeroPaddingConfig, name: str) -> keras.layers.Layer:
    return keras.layers.ZeroPadding2D(config.padding, name=name)


def _pad(config: nw.PadConfig, name: str) -> keras.layers.Layer:
    return Pad2D(config.padding, mode=config.mode, name=name)


def _split(config: nw.SplitConfig, name: str) -> keras.layers.Layer:
    return ChannelSplit(config.groups, config.index, name=name)


def _select(config: nw.SelectConfig, name: str) -> keras.layers.Layer:
    return Select(name=name)


def _blur(config: nw.BlurConfig, name: str) -> keras.layers.Layer:
    return keras.layers.DepthwiseConv2D(
        config.kernel_size,
        strides=config.strides,
        use_bias=False,
        trainable=False,
        depthwise_initializer=keras.initializers.Constant(blur_kernel(config.kernel_size)),
        name=name,
    )


def _pool(config: nw.PoolConfig, name: str) -> keras.layers.Layer:
    if isinstance(config.padding, tuple):  # reported at the layer by `_build`
        raise ValueError(KERAS_POOL_PADDING)
    pool = keras.layers.MaxPooling2D if config.kind == "maxpool" else keras.layers.AveragePooling2D
    return pool(config.pool_size, strides=config.strides, padding=config.padding, name=name)


def _global_pool(config: nw.GlobalPoolConfig, name: str) -> keras.layers.Layer:
    pool = keras.layers.GlobalAveragePooling2D if config.kind == "global_avgpool" else keras.layers.GlobalMaxPooling2D
    return pool(keepdims=config.keepdims, name=name)


def _channelpad(config: nw.ChannelPaddingConfig, name: str) -> keras.layers.Layer:
    # Read as channels-first, (None, H, W, C) has W and C as its padded axes: zeros on C only.
    return keras.layers.ZeroPadding2D(config.padding, data_format=config.data_format, name=name)


def _subsample(config: nw.SubsampleConfig, name: str) -> keras.layers.Layer:
    return keras.layers.MaxPooling2D(config.pool_size, strides=config.strides, name=name)


def _upsample(config: nw.UpSamplingConfig, name: str) -> keras.layers.Layer:
    return keras.layers.UpSampling2D(config.size, interpolation=config.interpolation, name=name)


def _depthwise_conv2d(config: nw.DepthwiseConv2DConfig, name: str) -> keras.layers.Layer:
    return keras.layers.DepthwiseConv2D(
        config.kernel_size,
        strides=config.strides,
        padding=config.padding,
        depth_multiplier=config.depth_multiplier,
        dilation_rate=config.dilation_rate,
        use_bias=config.use_bias,
        depthwise_initializer=initializer(config.depthwise_initializer),
        name=name,
    )


def _separable_conv2d(config: nw.SeparableConv2DConfig, name: str) -> keras.layers.Layer:
    return keras.layers.SeparableConv2D(
        config.filters,
        config.kernel_size,
        strides=config.strides,
        padding=config.padding,
        dilation_rate=config.dilation_rate,
        depth_multiplier=config.depth_multiplier,
        use_bias=config.use_bias,
        depthwise_initializer=initializer(config.depthwise_initializer),
        pointwise_initializer=initializer(config.pointwise_initializer),
        name=name,
    )


def _groupnorm(config: nw.GroupNormConfig, name: str) -> keras.layers.Layer:
    return keras.layers.GroupNormalization(config.groups, axis=config.axis, epsilon=config.epsilon, name=name)


def _layernorm(config: nw.LayerNormConfig, name: str) -> keras.layers.Layer:
    return keras.layers.LayerNormalization(axis=config.axis, epsilon=config.epsilon, name=name)


def _reshape(config: nw.ReshapeConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Reshape(config.target_shape, name=name)


def _flatten(config: nw.FlattenConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Flatten(name=name)


def _dense(config: nw.DenseConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Dense(
        config.units,
        activation=config.activation,
        use_bias=config.use_bias,
        kernel_initializer=initializer(config.kernel_initializer),
        name=name,
    )


def _dropout(config: nw.DropoutConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Dropout(config.rate, name=name)


def _drop_path(config: nw.DropPathConfig, name: str) -> keras.layers.Layer:
    # One noise value per sample, broadcast over the image: stochastic depth, built in.
    return keras.layers.Dropout(config.rate, noise_shape=(None, 1, 1, 1), name=name)


def _layer_scale(config: nw.LayerScaleConfig, name: str) -> keras.layers.Layer:
    # x * gamma per channel: a 1x1 depthwise kernel (1, 1, C, 1), a built-in layer.
    return keras.layers.DepthwiseConv2D(
        1, use_bias=False, depthwise_initializer=keras.initializers.Constant(config.value), name=name
    )


def _rescale(config: nw.RescaleConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Rescaling(config.scale, offset=config.offset, name=name)


def _normalize(config: nw.NormalizeConfig, name: str) -> keras.layers.Layer:
    # Keras's own Normalization, its statistics weights that load by name (keras_layers.Normalize)
    return Normalize(config.mean, config.variance, name=name)


def _add(config: nw.AddConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Add(name=name)


def _multiply(config: nw.MultiplyConfig, name: str) -> keras.layers.Layer:
    # Keras broadcasts a (None, C) gate over (None, H, W, C) itself (it expands the lower-rank
    # input at axis 1), so the gate needs no Reshape layer of its own.
    return keras.layers.Multiply(name=name)


def _concat(config: nw.ConcatConfig, name: str) -> keras.layers.Layer:
    return keras.layers.Concatenate(axis=-1, name=name)


LAYER_FACTORIES: dict[str, Callable[[Any, str], keras.layers.Layer]] = {
    "conv2d": _conv2d,
    "batchnorm": _batchnorm,
    "activation": _activation,
    "zeropad": _zeropad,
    "channelpad": _channelpad,
    "pad": _pad,
    "blur": _blur,
    "split": _split,
    "select": _select,
    "subsample": _subsample,
    "upsample": _upsample,
    "depthwise_conv2d": _depthwise_conv2d,
    "separable_conv2d": _separable_conv2d,
    "groupnorm": _groupnorm,
    "conv1d": _conv1d,
    "layernorm": _layernorm,
    "reshape": _reshape,
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
    "add": _add,
    "multiply": _multiply,
    "concat": _concat,
}
"""One factory per config kind (the `kind` discriminator of `network.LayerConfig`)."""
