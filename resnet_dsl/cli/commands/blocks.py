"""`resnet-dsl blocks [FILE] [--markdown]`: the blocks a spec can call, with their docs.

The prelude's blocks (and, given a FILE, that file's own and imported ones, which win over
the prelude's of the same name), each with its signature and the first sentence of the
comment above its definition. `--markdown` prints the table the README holds.
"""

from __future__ import annotations

import argparse

from resnet_dsl.cli.commands.common import guarded
from resnet_dsl.cli.output import terminal_text


@guarded
def run(args: argparse.Namespace) -> int:
    print(terminal_text(render(args.file, markdown=args.markdown)))
    return 0


def render(path: str | None = None, *, markdown: bool = False) -> str:
    from resnet_dsl.language.docs import one_line
    from resnet_dsl.network.derivation import Scope, resolve_block
    from resnet_dsl.network.loader import load_program, prelude
    from resnet_dsl.review.formatter import params_text

    written = {block.name: block for block in prelude().blocks}
    if path is not None:
        program = load_program(path)
        with program.located():
            written.update(program.scope().blocks)
    scope = Scope(blocks=written, networks={})
    blocks = {name: resolve_block(scope, name, block.span)[0] for name, block in written.items()}
    if markdown:
        rows = ["| block | parameters | what it is |", "| --- | --- | --- |"]
        rows += [
            f"| `{name}` | `{_cell(params_text(block.params))}` | {_cell(one_line(block.doc))} |".replace("``", "")
            for name, block in blocks.items()
        ]
        return "\n".join(rows)
    out = []
    for name, block in blocks.items():
        where = "" if block.span.file == "<prelude>" else f"  ({block.span})"
        out.append(f"{name}({params_text(block.params)}){where}")
        out.append(f"    {one_line(block.doc) or '(no comment above its definition)'}")
    return "\n".join(out)


def _cell(text: str) -> str:
    """A table cell: a `|` in a doc comment or a default (code spans included) would end it."""
    return text.replace("|", "\\|")
