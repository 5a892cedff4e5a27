"""The one place layer names are made, in keras.applications style.

`conv2_block1_1_conv`: stage `conv2`, block 1, unit 1 of the main path, a conv.
The shortcut's units are `0`, the pre-activation's `preact`, any other path's
`<path>_<n>` (`conv2_block1_se_1_conv`); in `out`, the merge is `_add` (`_multiply`, ...),
merges nested in it `_<op>_<n>` in the order they run, and the block's last layer `_out`.
Stem and head units are named by their label (`conv1_conv`) or, unlabelled, by the layer's
kind alone (`flatten`). A unit's second layer of one kind adds `_2` (`dense -> dense`:
`..._dense`, `..._dense_2`), its third `_3`.
"""

from __future__ import annotations

import ast
import keyword
import re

from resnet_dsl.language import ir

INPUT = "input_layer"

VALID_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
"""Names Keras accepts and generated code can hold in a plain string literal."""


def join(*parts: str | None) -> str:
    return "_".join(p for p in parts if p)


BLOCK_NAMES = "{stage}_block{block_number}"
"""How blocks are named unless a network says otherwise (`defaults { names(block = "...") }`):
keras.applications' ResNet scheme, `conv2_block1`."""

BLOCK_FIELDS: dict[str, str] = {
    "stage": "the stage's label (conv2)",
    "stage_index": "the stage's place among the network's stages, from 0",
    "stage_number": "the stage's place, from 1",
    "block_index": "the block's place in its stage, from 0",
    "block_number": "the block's place in its stage, from 1",
    "block_letter": "the block's place in its stage as a letter: a, b, c, ...",
    "index": "the block's place among all the network's blocks, from 0",
    "number": "the block's place among all the network's blocks, from 1",
}
"""What a block-name pattern may say: each family's Keras scheme is one pattern. keras.applications'
ResNet `{stage}_block{block_number}`, MobileNetV2 `block_{index}`, EfficientNet
`block{stage_number}{block_letter}`, ConvNeXt `convnext_tiny_stage_{stage_index}_block_{block_index}`."""

POSITION: dict[str, str] = {
    "index": "the block's place among all the network's blocks, from 0",
    "blocks": "how many blocks the network has",
    "stage_index": "the stage's place among the network's stages, from 0",
    "block_index": "the block's place in its stage, from 0",
    "stage_blocks": "how many blocks its stage has",
}
"""What a block call's arguments, and a network's block defaults, may read besides the network's
parameters: the block's position, as the zoos compute per-block rates (keras.applications'
EfficientNet `drop_connect_rate * b / blocks` is `drop_connect_rate * index / blocks`)."""


def position(index: int, blocks: int, stage_index: int, block_index: int, stage_blocks: int) -> dict[str, int]:
    """The names of `POSITION` with their values for one block."""
    return dict(zip(POSITION, (index, blocks, stage_index, block_index, stage_blocks), strict=True))


_FIELD = re.compile(r"\{([^{}]*)\}")


def pattern_error(pattern: str) -> str | None:
    """What is wrong with a block-name pattern, or None: an unknown field, a stray brace."""
    for match in _FIELD.finditer(pattern):
        if match.group(1) not in BLOCK_FIELDS:
            return f"unknown field {{{match.group(1)}}} in the block name pattern {pattern!r}"
    if "{" in _FIELD.sub("", pattern) or "}" in _FIELD.sub("", pattern):
        return f"unbalanced brace in the block name pattern {pattern!r}"
    return None


def block_name(pattern: str, stage: str, stage_index: int, block_index: int, index: int) -> str:
    """A block's name (the prefix of its layers' names) from a checked pattern; indices from 0."""
    values = {
        "stage": stage,
        "stage_index": str(stage_index),
        "stage_number": str(stage_index + 1),
        "block_index": str(block_index),
        "block_number": str(block_index + 1),
        "block_letter": _letters(block_index),
        "index": str(index),
        "number": str(index + 1),
    }
    return _FIELD.sub(lambda match: values[match.group(1)], pattern)


def _letters(index: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa: Keras's `chr(97 + j)` for the first 26."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(97 + rest) + text
    return text


def block_prefix(stage: str, index: int) -> str:
    """The default name of the `index`-th (from 1) block of a stage: `conv2_block1`."""
    return block_name(BLOCK_NAMES, stage, 0, index - 1, index - 1)


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


def repeats(kinds: list[str]) -> list[str]:
    """The mark each layer of one unit adds to its name: "" for the first of its kind, `_2` for
    the second, `_3` ... (`se_1_dense`, `se_1_dense_2` in `dense -> dense`). `kinds` are the
    layers' ops as written, in order; a layer left out by its condition still counts."""
    seen: dict[str, int] = {}
    marks = []
    for kind in kinds:
        seen[kind] = seen.get(kind, 0) + 1
        marks.append("" if seen[kind] == 1 else f"_{seen[kind]}")
    return marks


def nested_merge_name(prefix: str, suffix: str, number: int) -> str:
    """A merge inside the block's merge expression, e.g. `conv2_block1_multiply_1`."""
    return join(prefix, suffix, str(number))


def source_merge_name(prefix: str, path: str, merge: ir.Merge) -> str:
    """The merge a path starts from: its `as` name (`block1a_se_excite`), else
    `<block>_<path>_<op>` (`conv2_block1_project_multiply`)."""
    return join(prefix, merge.name) if merge.name else join(prefix, path, merge.op)


def out_name(prefix: str, suffix: str, is_last: bool) -> str:
    """Layers after the merge: the block's final layer is `<prefix>_out`."""
    return join(prefix, "out" if is_last else suffix)


# ----------------------------------------------------------------- PyTorch --
# A torch module's attribute names are its state_dict keys, so they decide whether a zoo's
# weights load. They follow torchvision's `models/resnet.py`, derived from the spec's structure.

TORCH_STAGE = "layer"
"""Stages are nn.Sequential children `layer1`, `layer2`, ... by position; blocks are their items."""

TORCH_PATHS: dict[str, str | None] = {"pre": None, "main": None, "out": None, "shortcut": "downsample"}
"""Where a block path's layers live: None, in the block itself (`conv1`, `bn1`, ...); a name, an
nn.Sequential child indexed by position (torchvision's `downsample.0`, `downsample.1`). A path
not listed is a child named after it, its layers named like the block's own."""

TORCH_KINDS: dict[str, str] = {
    "conv2d": "conv",
    "conv1d": "conv",
    "batchnorm": "bn",
    "dense": "fc",
    "zeropad": "pad",
    "maxpool": "maxpool",
    "avgpool": "avgpool",
    "global_avgpool": "avgpool",
    "global_maxpool": "maxpool",
    "flatten": "flatten",
    "dropout": "dropout",
    "drop_path": "drop_path",
    "layer_scale": "layer_scale",
    "rescale": "rescale",
    "normalize": "normalize",
    "activation": "act",
    "depthwise_conv2d": "conv_dw",
    "separable_conv2d": "conv_sep",
    "groupnorm": "bn",
    "layernorm": "ln",
    "channelpad": "pad",
    "pad": "pad",
    "blur": "aa",
    "split": "split",
    "subsample": "subsample",
    "upsample": "upsample",
    "reshape": "reshape",
}
"""The base of a layer's attribute name, numbered per kind within its module: `conv1`, `bn1`,
`conv2`, `act1` (timm's name: whatever the function, so a block whose activation is a parameter
has the same attributes in every instance; and `bn` for a group norm too, as timm's
`resnet50_gn` names it); `as "fc"` names a layer outright."""

TORCH_RESERVED = frozenset(
    {
        "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children",
        "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward",
        "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
        "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters",
        "parameters", "register_backward_hook", "register_buffer", "register_forward_hook",
        "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
        "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
        "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to",
        "to_empty", "train", "training", "type", "xpu", "zero_grad",
        # the private ones: a child named `_modules` or `_parameters` would replace the module's own
        "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl", "_compiled_call_impl",
        "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs", "_forward_pre_hooks",
        "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks", "_get_name",
        "_is_full_backward_hook", "_load_from_state_dict", "_load_state_dict_post_hooks",
        "_load_state_dict_pre_hooks", "_maybe_warn_non_full_backward_hook", "_modules", "_named_members",
        "_non_persistent_buffers_set", "_parameters", "_register_load_state_dict_pre_hook",
        "_register_state_dict_hook", "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward",
        "_state_dict_hooks", "_state_dict_pre_hooks", "_version", "_wrapped_call_impl",
    }
)  # fmt: skip
"""nn.Module's own attributes (a test holds this to `dir(torch.nn.Module)`): no child may take one."""


TORCH_PATH_KINDS: dict[str, dict[str, str]] = {"se": {"conv2d": "fc"}}
"""Where a named path's layers take other bases: timm's squeeze-and-excitation module names its
two 1x1 convolutions `fc1` and `fc2` (`layer1.0.se.fc1.weight`)."""


def torch_stage(position: int) -> str:
    """The attribute of the `position`-th (1-based) stage: `layer1`."""
    return f"{TORCH_STAGE}{position}"


def torch_base(kind: str, path: str | None = None) -> str:
    """The numbered base of a layer's attribute: `conv`, `bn`, `act` (`fc` in an `se` path)."""
    return TORCH_PATH_KINDS.get(path or "", {}).get(kind) or TORCH_KINDS.get(kind, kind)


def reserved_by_torch(name: str) -> bool:
    """An attribute `nn.Module` holds itself: its methods and state, and every `__dunder__`."""
    return name in TORCH_RESERVED or DUNDER.fullmatch(name) is not None


DUNDER = re.compile(r"__[^_](.*[^_])?__")
"""`__class__`, `__dict__`: Python's own names (`__class___` is not one)."""


def torch_attribute(text: str, taken: set[str]) -> str:
    """`text` as an attribute name no other child, nn.Module attribute or keyword holds (then taken)."""
    name = re.sub(r"\W", "_", text, flags=re.ASCII) or "_"
    if name[0].isdigit():
        name = "_" + name
    while reserved_by_torch(name) or keyword.iskeyword(name) or name in taken:
        name += "_"
    taken.add(name)
    return name


def torch_numbered(base: str, taken: set[str]) -> str:
    """The first free `base1`, `base2`, ... (then taken)."""
    number = 1
    while f"{base}{number}" in taken or reserved_by_torch(f"{base}{number}"):
        number += 1
    name = f"{base}{number}"
    taken.add(name)
    return name


# A spec lays its torch modules out with one construct, the layer's `as` name: a plain name
# (`as "fc"`) is the layer's name and its torch attribute; a module path (`as "stem.conv"`,
# `as "features.{2 * stage_index + 1}.{block_index}.block.0"`) places its module and leaves the
# layer's own (Keras) name as the table above makes it. In a block, a path is from the block's
# module, unless it says which block it is in (a field): then it is from the model, and the
# module is registered there after the model is built (`torch_modules.rehome`; torchvision's
# ConvNeXt `features.1.0.block.0`, RegNet's `trunk_output.block1.block1-0.f.a.0`).

MODULE_PATH = re.compile(r"[A-Za-z_]\w*(\.\w+)+", re.ASCII)
"""A dotted module path without fields: Python names and indices joined by dots. Another `as`
name (`odd-name.1`, `1.x`) is a plain name, its other characters replaced in torch (`odd_name_1`)."""


def module_path(text: str | None) -> bool:
    """Whether an `as` text places a torch module (dotted, or with a `{field}`) rather than
    naming the layer."""
    return text is not None and ("{" in text or MODULE_PATH.fullmatch(text) is not None)


def has_fields(text: str | None) -> bool:
    """Whether a module path says where its block is (`{block_index}`): a path from the model."""
    return text is not None and "{" in text


STAGE_FIELDS = ("stage", "stage_index", "stage_number")
"""The fields a stage's own path may say; one that says more (`{block_index}`) is each block's."""


def field_names(pattern: str) -> set[str]:
    """The field names a path uses (`{2 * stage_index + 1}` -> stage_index); none where a field
    is not arithmetic (`torch_path_error` says so)."""
    names: set[str] = set()
    for match in _TORCH_FIELD.finditer(pattern):
        try:
            tree = ast.parse(match.group(1).strip(), mode="eval")
        except SyntaxError:
            continue
        names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return names


def own_name(text: str | None) -> str | None:
    """The name an `as` text gives the layer itself: a plain name, not a module path."""
    return None if module_path(text) else text


TORCH_FIELDS: dict[str, str] = {
    "stage": "the stage's label",
    "stage_index": "the stage's place among the network's stages, from 0",
    "stage_number": "the stage's place, from 1",
    "block_index": "the block's place in its stage, from 0",
    "block_number": "the block's place in its stage, from 1",
    "index": "the block's place among all the network's blocks, from 0",
    "number": "the block's place among all the network's blocks, from 1",
}
"""What a module path inside a block may say; a field may be integer arithmetic on them,
`{2 * stage_index + 1}` (torchvision's ConvNeXt puts each stage's downsampling between stages)."""

_TORCH_FIELD = re.compile(r"\{([^{}]*)\}")
_TORCH_PART = re.compile(r"[A-Za-z0-9_-]+")
_ARITHMETIC = (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Name, ast.Load, ast.Constant)


def _field_value(text: str, fields: dict[str, str | int]) -> str:
    """One field: a name, or integer arithmetic (+ - * //) on names and integers."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"{{{text}}} is not a field or arithmetic on fields") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ARITHMETIC) or (isinstance(node, ast.Constant) and type(node.value) is not int):
            raise ValueError(f"{{{text}}} is not a field or arithmetic on fields (+ - * //)")
        if isinstance(node, ast.Name) and node.id not in fields:
            raise ValueError(f"unknown field {node.id!r} in {{{text}}}")
    if isinstance(tree.body, ast.Name):
        return str(fields[tree.body.id])
    return str(_arithmetic(tree.body, fields))


def _arithmetic(node: ast.expr, fields: dict[str, str | int]) -> int:
    if isinstance(node, ast.Constant):
        return int(node.value)
    if isinstance(node, ast.Name):
        value = fields[node.id]
        if not isinstance(value, int):
            raise ValueError(f"field {node.id!r} is not a number")
        return value
    assert isinstance(node, ast.BinOp)
    left, right = _arithmetic(node.left, fields), _arithmetic(node.right, fields)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    if right == 0:
        raise ValueError("division by zero in a torch path")
    return left // right


_SAMPLE: dict[str, str | int] = {name: 1 for name in TORCH_FIELDS} | {"stage": "s"}


def torch_path_error(pattern: str, inside_block: bool) -> str | None:
    """What is wrong with a torch path pattern, or None: an unknown field (any field outside
    a block), arithmetic that is not, a stray brace, an empty or odd part."""
    for match in _TORCH_FIELD.finditer(pattern):
        if not inside_block:
            return f"the torch path {pattern!r} has a field, {{{match.group(1)}}}, outside a block"
        try:
            _field_value(match.group(1), _SAMPLE)
        except ValueError as error:
            return f"{error} in the torch path {pattern!r}"
    plain = _TORCH_FIELD.sub("0", pattern)
    if any(not _TORCH_PART.fullmatch(part) for part in plain.split(".")):
        return f"the torch path {pattern!r} is not dotted names (letters, digits, '_', '-')"
    if any(reserved_by_torch(part) or keyword.iskeyword(part) for part in plain.split(".")):
        return f"the torch path {pattern!r} names an attribute nn.Module holds itself"
    return None


def torch_fields(stages: list[tuple[str, list[str]]]) -> dict[str, dict[str, str | int]]:
    """Block name -> the values of TORCH_FIELDS for it, from each stage's label and block names."""
    fields: dict[str, dict[str, str | int]] = {}
    for stage_index, (label, blocks) in enumerate(stages):
        for block_index, block in enumerate(blocks):
            index = len(fields)
            fields[block] = {"stage": label, "stage_index": stage_index, "stage_number": stage_index + 1,
                             "block_index": block_index, "block_number": block_index + 1,
                             "index": index, "number": index + 1}  # fmt: skip
    return fields


def torch_path(pattern: str, fields: dict[str, str | int]) -> str:
    """A checked pattern with its fields filled in: `features.{2 * stage_index}.0` -> `features.2.0`."""
    return _TORCH_FIELD.sub(lambda match: _field_value(match.group(1), fields), pattern)
