"""The expanded, validated network: a flat graph of layers with shapes, parameters and MACs.

This is what every back end reads (Keras builder, code generator, summary, diff,
graph). Each layer has a typed config that maps one to one onto a Keras layer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

from resnet_dsl.language.ir import NO_SPAN, BlockDef, LayerCall, NetworkDef, Span

Shape = tuple[int, ...]
Pair = tuple[int, int]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class Initializer(Frozen):
    """A Keras initializer by its registered name, e.g. glorot_uniform(seed=0)."""

    name: str
    seed: int | None = None
    args: tuple[tuple[str, float | str], ...] = ()


# --------------------------------------------------------- layer configs --


class InputConfig(Frozen):
    kind: Literal["input"] = "input"
    shape: Shape


class Conv2DConfig(Frozen):
    kind: Literal["conv2d"] = "conv2d"
    filters: int
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    dilation_rate: Pair = (1, 1)
    groups: int = 1
    use_bias: bool = True
    kernel_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    bias_initializer: Initializer = Initializer.model_construct(name="zeros")
    """The bias's; a fan-scaled one counts the fans of the layer's kernel, as torch's own draw does."""


class Conv1DConfig(Frozen):
    """A 1-D convolution along the steps of a (steps, channels) sequence, stride 1 (Keras's
    `Conv1D`). ECA convolves a gate's channels: `reshape([-1, 1]) -> conv1d(1, 5, ...)`."""

    kind: Literal["conv1d"] = "conv1d"
    filters: int
    kernel_size: int
    padding: Literal["valid", "same"] = "valid"
    use_bias: bool = True
    kernel_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    bias_initializer: Initializer = Initializer.model_construct(name="zeros")


class BatchNormConfig(Frozen):
    kind: Literal["batchnorm"] = "batchnorm"
    axis: int = -1
    epsilon: float = 1e-3
    momentum: float = 0.99
    training: bool | None = None
    """Passed at call time, as the seed does: `BatchNormalization(...)(x, training=True)`."""
    gamma_initializer: Initializer = Initializer.model_construct(name="ones")
    """The scale's: timm zeroes each block's last BatchNorm (`gamma_init=zeros`)."""
    beta_initializer: Initializer = Initializer.model_construct(name="zeros")


class ActivationConfig(Frozen):
    kind: Literal["activation"] = "activation"
    activation: str


class ZeroPaddingConfig(Frozen):
    kind: Literal["zeropad"] = "zeropad"
    padding: tuple[Pair, Pair]


class PadConfig(Frozen):
    """Height and width padded by reflecting the image at its edge (`reflect`: torch's `ReflectionPad2d`,
    the edge not repeated) or by repeating its edge pixels (`replicate`), as timm pads before a blur."""

    kind: Literal["pad"] = "pad"
    padding: tuple[Pair, Pair]
    mode: Literal["reflect", "replicate"]


class BlurConfig(Frozen):
    """A fixed, non-trainable depthwise blur (anti-aliased downsampling, timm's `BlurPool2d`): each channel
    convolved with the normalised binomial filter of `kernel_size` taps per axis (3: [1, 2, 1] / 4, outer
    product), no padding. Keras: an untrainable `DepthwiseConv2D`; torch: a non-persistent buffer, as timm's."""

    kind: Literal["blur"] = "blur"
    kernel_size: Pair
    strides: Pair = (2, 2)


class SplitConfig(Frozen):
    """One of `groups` equal groups of the channels, the `index`-th (0-based): Res2Net's and the
    Selective Kernel's `torch.split(x, C // groups, 1)[index]`. No parameters."""

    kind: Literal["split"] = "split"
    groups: int
    index: int


class ChannelPaddingConfig(Frozen):
    """Zeros before and after the channels (option A shortcuts). Keras: `ZeroPadding2D` told the
    input is channels-first, so its second padded axis is the channels: one built-in layer."""

    kind: Literal["channelpad"] = "channelpad"
    padding: tuple[Pair, Pair]
    """((0, 0), (low, high)): nothing on the width, `low` and `high` zeros on the channels."""
    data_format: Literal["channels_first"]


class SubsampleConfig(Frozen):
    """`x[:, ::s, ::s, :]`, as Keras writes it: `MaxPooling2D(1, strides=s)`."""

    kind: Literal["subsample"] = "subsample"
    pool_size: Pair
    strides: Pair


class UpSamplingConfig(Frozen):
    kind: Literal["upsample"] = "upsample"
    size: Pair
    interpolation: Literal["nearest", "bilinear"] = "nearest"


class DepthwiseConv2DConfig(Frozen):
    kind: Literal["depthwise_conv2d"] = "depthwise_conv2d"
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    depth_multiplier: int = 1
    dilation_rate: Pair = (1, 1)
    use_bias: bool = True
    depthwise_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    bias_initializer: Initializer = Initializer.model_construct(name="zeros")


class SeparableConv2DConfig(Frozen):
    kind: Literal["separable_conv2d"] = "separable_conv2d"
    filters: int
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    dilation_rate: Pair = (1, 1)
    depth_multiplier: int = 1
    use_bias: bool = True
    depthwise_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    pointwise_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    bias_initializer: Initializer = Initializer.model_construct(name="zeros")


class GroupNormConfig(Frozen):
    kind: Literal["groupnorm"] = "groupnorm"
    groups: int = 32
    axis: int = -1
    epsilon: float = 1e-3


class LayerNormConfig(Frozen):
    kind: Literal["layernorm"] = "layernorm"
    axis: int = -1
    epsilon: float = 1e-3


class ReshapeConfig(Frozen):
    kind: Literal["reshape"] = "reshape"
    target_shape: Shape
    """As written, without the batch; one dimension may be -1."""


class PoolConfig(Frozen):
    kind: Literal["maxpool", "avgpool"]
    pool_size: Pair
    strides: Pair
    padding: Literal["valid", "same"] | Pair = "valid"
    """Keras's `valid` or `same`, or torch's symmetric (rows, columns) of -inf (max pools only)."""


class GlobalPoolConfig(Frozen):
    kind: Literal["global_avgpool", "global_maxpool"]
    keepdims: bool = False
    """(None, 1, 1, C) rather than (None, C)."""


class FlattenConfig(Frozen):
    kind: Literal["flatten"] = "flatten"


class DenseConfig(Frozen):
    kind: Literal["dense"] = "dense"
    units: int
    activation: str = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = Initializer.model_construct(name="glorot_uniform")
    bias_initializer: Initializer = Initializer.model_construct(name="zeros")


class DropoutConfig(Frozen):
    kind: Literal["dropout"] = "dropout"
    rate: float


class DropPathConfig(Frozen):
    """Stochastic depth ("drop path"): in training, each sample's whole tensor is zeroed with probability
    `rate` and the others scaled by 1 / (1 - rate); the identity at inference. No parameters, no MACs
    (torchvision's `StochasticDepth(p, "row")`; Keras: a `Dropout` whose noise has one value per sample)."""

    kind: Literal["drop_path"] = "drop_path"
    rate: float


class LayerScaleConfig(Frozen):
    """A learnable scale per channel, starting at `value` (ConvNeXt's layer scale): one parameter per
    channel, no MACs. Keras: a 1x1 `DepthwiseConv2D` without bias; torch: a `(C, 1, 1)` weight, as torchvision's."""

    kind: Literal["layer_scale"] = "layer_scale"
    value: float = 1e-6


class RescaleConfig(Frozen):
    """`x * scale + offset`, fixed, a number or one per channel (Keras's `Rescaling`)."""

    kind: Literal["rescale"] = "rescale"
    scale: float | tuple[float, ...]
    offset: float | tuple[float, ...] = 0.0


class NormalizeConfig(Frozen):
    """`(x - mean) / sqrt(variance)` per channel: Keras's `Normalization`, its statistics weights."""

    kind: Literal["normalize"] = "normalize"
    mean: float | tuple[float, ...] = 0.0
    variance: float | tuple[float, ...] = 1.0


class AddConfig(Frozen):
    kind: Literal["add"] = "add"


class MultiplyConfig(Frozen):
    """Elementwise product; a channel gate, (C,) or (1, 1, C), broadcasts over (H, W, C)."""

    kind: Literal["multiply"] = "multiply"


class SelectConfig(Frozen):
    """`select(attention, b0, b1, ...)`: the branches weighted by a softmax across them of the attention's
    channels, one equal group per branch, and summed (the Selective Kernel's and ResNeSt's split attention):
    sum_i softmax_i(a) * b_i. The attention is a gate, (n x C) or (1, 1, n x C) for branches (H, W, C)."""

    kind: Literal["select"] = "select"


class ConcatConfig(Frozen):
    """Concatenation along the channels (Keras's `Concatenate(axis=-1)`)."""

    kind: Literal["concat"] = "concat"


LayerConfig = Annotated[
    InputConfig
    | Conv2DConfig
    | Conv1DConfig
    | BatchNormConfig
    | ActivationConfig
    | ZeroPaddingConfig
    | PadConfig
    | BlurConfig
    | SplitConfig
    | ChannelPaddingConfig
    | SubsampleConfig
    | UpSamplingConfig
    | DepthwiseConv2DConfig
    | SeparableConv2DConfig
    | GroupNormConfig
    | LayerNormConfig
    | ReshapeConfig
    | PoolConfig
    | GlobalPoolConfig
    | FlattenConfig
    | DenseConfig
    | DropoutConfig
    | DropPathConfig
    | LayerScaleConfig
    | RescaleConfig
    | NormalizeConfig
    | AddConfig
    | MultiplyConfig
    | ConcatConfig
    | SelectConfig,
    Field(discriminator="kind"),
]


# ------------------------------------------------------------------ graph --


class Params(Frozen):
    """Parameters as Keras counts them: BatchNorm moving statistics are non-trainable."""

    trainable: int = 0
    non_trainable: int = 0

    @property
    def total(self) -> int:
        return self.trainable + self.non_trainable

    def __add__(self, other: Params) -> Params:
        return Params.model_construct(
            trainable=self.trainable + other.trainable,
            non_trainable=self.non_trainable + other.non_trainable,
        )


class Origin(Frozen):
    """Where a layer comes from, for summaries, diffs and pictures."""

    section: Literal["input", "stem", "stage", "head"]
    stage: str | None = None
    block: str | None = None
    """The block instance's name prefix, e.g. conv2_block1."""
    block_def: str | None = None
    path: str | None = None
    """The block path the layer belongs to (`main`, `shortcut`, `se`, ...), or `out`."""
    unit: str | None = None
    """The label of the unit the layer stands in, where the spec writes one (`conv1: ...`)."""
    alias: str | None = None
    """What the spec writes after `as`: the layer's name, which other back ends follow too, or
    its torch module's path (`naming.module_path`: `"stem.conv"`, `"features.{stage_number}.0"`)."""


class Layer(Frozen):
    name: str
    config: LayerConfig
    inputs: tuple[str, ...] = ()
    output_shape: Shape
    params: Params = Params.model_construct()
    macs: int = 0
    origin: Origin
    span: Span = Field(default=NO_SPAN, repr=False, exclude=True)

    @property
    def kind(self) -> str:
        return self.config.kind


Value = TypeAliasType("Value", "bool | int | float | str | Initializer | tuple[Value, ...]")
"""An evaluated expression: a number, a bool, a symbol or string, an initializer, or a tuple of values."""


class BlockInstance(Frozen):
    """One block of a stage, with the arguments it was called with."""

    name: str
    block: str
    args: tuple[tuple[str, Value], ...]
    layers: tuple[str, ...]
    output_shape: Shape
    input_shape: Shape = ()
    """The shape of the block's input; its last entry is the block's `in_channels`."""


class StageInstance(Frozen):
    label: str
    blocks: tuple[BlockInstance, ...]
    alias: str | None = None
    """The stage's torch module as the spec names it (`as "stages.0.blocks"`); None: `layerN`."""
    span: Span = Field(default=NO_SPAN, repr=False, exclude=True)

    @property
    def composition(self) -> str:
        """`bottleneck_v1_projection, bottleneck_v1 * 5`: the block types in order, as a stage
        line of a spec would call them. Where one block type comes with other arguments first
        (`basic(128, stride=2), basic(128) * 3`), the calls say so: that is where the
        resolution halves; the arguments shown are the first and those that differ from the
        last run's."""
        runs: list[tuple[BlockInstance, int]] = []
        for block in self.blocks:
            if runs and (runs[-1][0].block, runs[-1][0].args) == (block.block, block.args):
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((block, 1))
        parts = []
        for block, count in runs:
            same_type = [other for other, _ in runs if other.block == block.block]
            text = block.block
            if len(same_type) > 1 and len({other.args for other in same_type}) > 1:
                text = _call_text(block, same_type[-1])
            parts.append(text if count == 1 else f"{text} * {count}")
        return ", ".join(parts)


def _call_text(block: BlockInstance, last: BlockInstance) -> str:
    """`basic(128, stride=2)`: the first argument, then those that differ from `last`'s."""
    if not block.args:
        return block.block
    reference = dict(last.args)
    shown = [_value_text(block.args[0][1])]
    shown += [f"{name}={_value_text(value)}" for name, value in block.args[1:] if reference.get(name) != value]
    return f"{block.block}({', '.join(shown)})"


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_value_text(item) for item in value) + "]"
    if isinstance(value, str):
        return value if value.isidentifier() else f'"{value}"'
    if isinstance(value, (int, float)):
        return repr(value)
    return str(value)


class Network(Frozen):
    """A whole network, expanded and validated; layers are in topological order."""

    name: str
    source: str
    params: tuple[tuple[str, Value], ...]
    """The network parameters as used, defaults and overrides applied."""
    layers: tuple[Layer, ...]
    stages: tuple[StageInstance, ...] = ()
    blocks: tuple[BlockDef, ...] = ()
    """The definitions of the blocks the stages use, in order of first use."""
    defaults: tuple[LayerCall, ...] = ()
    """Network-wide layer defaults, as written (their values are already applied above)."""
    definition: NetworkDef | None = None
    """The network as written (a derived one resolved): each stem and head layer is made by
    the matching call of its units, in order, so a back end can see what the text says."""

    @property
    def input_shape(self) -> Shape:
        return self.layers[0].output_shape

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape

    @property
    def total_params(self) -> Params:
        total = Params.model_construct()
        for layer in self.layers:
            total = total + layer.params
        return total

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.name == name)

    def __repr__(self) -> str:
        """One short line (the default would print every layer): what it is and where from."""
        return (
            f"<Network {self.name!r}: {len(self.layers):,} layers, {self.total_params.total:,} parameters,"
            f" from {self.source}>"
        )

    def section(self, section: str) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.origin.section == section)

    # Jupyter: the rendering comes from whichever face registered for it (see `_renderer`).
    def _repr_html_(self) -> str | None:
        return _renderer()(self, "text/html")

    def _repr_markdown_(self) -> str | None:
        return _renderer()(self, "text/markdown")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(f"Network({self.name!r})" if cycle else _renderer()(self, "text/plain") or repr(self))


@cache
def _renderer() -> Callable[[Network, str], str | None]:
    """The display face (`resnet_dsl.integrations.notebook`), found through the entry point group
    `resnet_dsl.display`, so that the data model never imports a face; none installed: no rich display."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="resnet_dsl.display"):
        return entry.load()
    return lambda network, mime: None
