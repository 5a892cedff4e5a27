"""The one place layer names are made, in keras.applications style.

`conv2_block1_1_conv`: stage `conv2`, block 1, unit 1 of the main path, a conv.
The shortcut's units are `0`, the pre-activation's `preact`, any other path's
`<path>_<n>` (`conv2_block1_se_1_conv`); in `out`, the merge is `_add` (`_multiply`, ...),
merges nested in it `_<op>_<n>` in the order they run, and the block's last layer `_out`.
Stem and head units are named by their label (`conv1_conv`) or, unlabelled, by the layer's
kind alone (`flatten`).
"""

from __future__ import annotations

import re

INPUT = "input_layer"

VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
"""Names Keras accepts and generated code can hold in a plain string literal."""


def join(*parts: str | None) -> str:
    return "_".join(p for p in parts if p)


def block_prefix(stage: str, index: int) -> str:
    return f"{stage}_block{index}"


def unit_label(path: str, index: int, label: str | None) -> str:
    """The label of the `index`-th (0-based) unit of a block path, unless written."""
    if label is not None:
        return label
    if path == "main":
        return str(index + 1)
    if path not in ("shortcut", "pre"):
        return f"{path}_{index + 1}"
    base = "0" if path == "shortcut" else "preact"
    return base if index == 0 else f"{base}_{index + 1}"


def nested_merge_name(prefix: str, suffix: str, number: int) -> str:
    """A merge inside the block's merge expression, e.g. `conv2_block1_multiply_1`."""
    return join(prefix, suffix, str(number))


def out_name(prefix: str, suffix: str, is_last: bool) -> str:
    """Layers after the merge: the block's final layer is `<prefix>_out`."""
    return join(prefix, "out" if is_last else suffix)
