"""Comments that document: the lines directly above a block, above or after a parameter.

The grammar ignores comments, so they are read here from the text and attached to the IR
as `Doc`s, which never change a node's value. `resnet-dsl blocks` lists them, and the
generated code's docstrings describe a block and its parameters with them.

    # torchvision's BasicBlock: two 3x3 convolutions.      <- the block's doc
    # filters: output channels of both convolutions        <- a parameter's doc
    block basic(filters, stride = 1) { ... }

A parameter list written over several lines may also carry a parameter's doc above it or
after it on its line (`filters,  # output channels`); `resnet-dsl fmt` joins such a list
into one line, so the `# name: text` form above the block is the one that lasts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from resnet_dsl.language import ir
from resnet_dsl.language.errors import source_lines
from resnet_dsl.language.parser import comments

_PARAM_LINE = re.compile(r"(\w+):\s+(.*)")


def attach_docs(module: ir.Module, text: str) -> ir.Module:
    """The module with each block's and each block parameter's doc filled in."""
    found = comments(text)
    if not found or not module.blocks:
        return module
    lines = source_lines(text)
    whole = {line: body for line, column, body in found if not lines[line - 1][: column - 1].strip()}
    trailing = {line: body for line, column, body in found if line not in whole}
    items = tuple(
        _documented(item, whole, trailing, lines)
        if isinstance(item, ir.BlockDef)
        else item.model_copy(update={"doc": ir.Doc(text=" ".join(p for p in _above(item.span.line, whole) if p))})
        if isinstance(item, ir.DerivedBlock)
        else item
        for item in module.items
    )
    return module.model_copy(update={"items": items})


def _documented(
    block: ir.BlockDef, whole: Mapping[int, str], trailing: Mapping[int, str], lines: list[str]
) -> ir.BlockDef:
    names = {param.name for param in block.params}
    summary: list[str] = []
    named: dict[str, str] = {}
    for line in _above(block.span.line, whole):
        match = _PARAM_LINE.fullmatch(line)
        if match and match.group(1) in names:
            named[match.group(1)] = match.group(2)
        else:
            summary.append(line)
    params = []
    for index, param in enumerate(block.params):
        line = param.span.line
        following = block.params[index + 1].span.line if index + 1 < len(block.params) else None
        text = named.get(param.name, "")
        if not text and line and following != line and line in trailing:
            text = _words(trailing[line])  # `filters,  # ...`: the last parameter on its line
        elif not text and line and not lines[line - 1][: param.span.column - 1].strip():
            text = " ".join(part for part in _above(line, whole) if part)  # first on its line
        params.append(param.model_copy(update={"doc": ir.Doc(text=text)}) if text else param)
    doc = ir.Doc(text=" ".join(part for part in summary if part))
    return block.model_copy(update={"doc": doc, "params": tuple(params)})


def _above(line: int, whole: Mapping[int, str]) -> list[str]:
    """The whole-line comments directly above `line`, their `#` taken off."""
    found: list[str] = []
    while line - 1 in whole:
        line -= 1
        found.insert(0, _words(whole[line]))
    return found


def _words(comment: str) -> str:
    return comment.lstrip("#").strip()


def one_line(doc: ir.Doc) -> str:
    """The doc's first sentence: what `resnet-dsl blocks` shows."""
    text = doc.text
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
