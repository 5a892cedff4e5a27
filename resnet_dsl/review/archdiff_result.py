"""What an architecture diff holds: frozen records of each change and of each section's costs, up to `ArchDiff`.

`archdiff.diff` fills them; `diffreport` presents them as text, markdown or JSON (stable keys,
`JSON_FORMAT` names the layout).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["added", "removed", "changed"]
StageStatus = Literal["added", "removed", "changed", "renamed"]
JSON_FORMAT = "resnet-dsl-archdiff/1"


@dataclass(frozen=True, kw_only=True)
class Delta:
    """A count before and after: parameters, MACs, blocks, layers, bytes or pixels."""

    old: int | float
    new: int | float

    @property
    def difference(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        """Relative change, rounded to 0.01 % so the JSON stays stable; None from zero."""
        return round(100 * (self.new - self.old) / self.old, 2) if self.old else None


@dataclass(frozen=True, kw_only=True)
class ValueChange:
    """One named value that differs: a network parameter, a config field, a block argument.

    `old` is None when the value was added, `new` None when it was removed. Values are
    plain JSON (lists, numbers, strings; an initializer as `glorot_uniform(seed=0)`).
    """

    name: str
    status: Status
    old: Any = None
    new: Any = None


@dataclass(frozen=True, kw_only=True)
class LayerChange:
    """A stem or head layer, matched by name."""

    name: str
    status: Status
    old: str | None = None
    new: str | None = None
    fields: tuple[ValueChange, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BlockRun:
    """Consecutive blocks of a stage that changed in the same way (`first`..`last`)."""

    status: Status
    first: str
    last: str
    count: int
    old: str | None = None
    new: str | None = None
    changes: tuple[ValueChange, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PathChange:
    """A block path (`se`, `shortcut`, ...) that blocks `first`..`last` of a stage gained
    (`added`) or lost (`removed`): where a path has layers in one network and not the other."""

    status: Literal["added", "removed"]
    path: str
    first: str
    last: str
    count: int


@dataclass(frozen=True, kw_only=True)
class StageDiff:
    """A stage of either network that differs: its blocks, its input, its shape, its layers.

    A stage of the old network found whole under another label in the new one is
    `renamed` (`old_label` -> `label`), not removed and added."""

    label: str
    status: StageStatus
    blocks: Delta
    old_label: str | None = None
    composition_old: str = ""
    composition_new: str = ""
    output_shape_old: tuple[int, ...] | None = None
    output_shape_new: tuple[int, ...] | None = None
    input_shape_old: tuple[int, ...] | None = None
    input_shape_new: tuple[int, ...] | None = None
    """The shape a stage reads from the section before it: a wider input changes the
    parameters of its first layers though its blocks are called the same way."""
    input_from: str | None = None
    """That section, in the new network (in the old one if the stage was removed): "stem",
    "input" or a stage's label."""
    runs: tuple[BlockRun, ...] = ()
    paths: tuple[PathChange, ...] = ()
    layers_added: int = 0
    layers_removed: int = 0
    layers_changed: int = 0


@dataclass(frozen=True, kw_only=True)
class DefinitionDiff:
    """A block definition that one side uses and differs (or exists on one side only)."""

    name: str
    status: Status
    lines: tuple[str, ...]
    """Unified-diff lines of the two definitions as `resnet-dsl fmt` prints them."""


@dataclass(frozen=True, kw_only=True)
class CostRow:
    """What one section (stem, a stage, head, or "total") costs on both sides: parameters,
    MACs, activation bytes per sample, and the receptive field of its last feature map
    (in pixels, the larger axis; None where neither side has a feature map)."""

    section: str
    params: Delta
    macs: Delta
    activations: Delta
    receptive_field: Delta | None = None
    old_section: str | None = None
    """The stage's label in the old network, where it was renamed."""


@dataclass(frozen=True, kw_only=True)
class ArchDiff:
    """Everything that differs between two networks; `changed` is False only for equal ones."""

    old_name: str
    new_name: str
    old_source: str
    new_source: str
    changed: bool
    parameters: tuple[ValueChange, ...] = ()
    input_shape: ValueChange | None = None
    output_shape: ValueChange | None = None
    defaults: tuple[str, ...] = ()
    stem: tuple[LayerChange, ...] = ()
    stages: tuple[StageDiff, ...] = ()
    head: tuple[LayerChange, ...] = ()
    definitions: tuple[DefinitionDiff, ...] = ()
    layers: Delta
    costs: tuple[CostRow, ...]
    """Parameters and MACs per section (stem, each stage, head), then the total."""

    @property
    def total(self) -> CostRow:
        return self.costs[-1]
