"""`resnet-dsl describe FILE [--textconv]`: the network as canonical, line-oriented text.

Made for git: with `*.arch diff=arch` in `.gitattributes` and
`git config diff.arch.textconv "resnet-dsl describe --textconv"`, `git diff` and `git log -p`
compare these descriptions, so they show the stages, blocks, shapes and parameter counts
that changed, and nothing at all for a change of layout or comments.

Git runs textconv on one file, for old versions a lone temporary copy under a random name,
and gives up on the whole diff if it fails. So `--textconv` never fails, and it describes
each version the same way wherever the copy sits:

- a spec that imports nothing is expanded and described (the prelude comes with the tool);
- a spec that imports others is shown as its canonical text without comments: the files it
  imports are not beside a temporary copy, and expanding it in one version but not in the
  other would show changes that are not there (`git difftool` with `resnet-dsl diff`, which
  sees both files, gives the architectural diff of such specs);
- a spec that cannot be expanded shows its canonical text, one that does not parse its text.

A file that defines several networks, given without `--network`, is described network by
network, in the order it defines them.
"""

from __future__ import annotations

import argparse
import os
import stat

from resnet_dsl.cli.commands.common import guarded, load_network
from resnet_dsl.cli.output import terminal_text
from resnet_dsl.language.errors import ArchError

IMPORTS = "# imports other specs: shown as its canonical text, comments left out"
INVALID = "# does not expand: shown as its canonical text, comments left out"


@guarded
def run(args: argparse.Namespace) -> int:
    print(terminal_text(_textconv(args) if args.textconv else _describe_all(args)))
    return 0


def _describe_all(args: argparse.Namespace) -> str:
    """The network chosen, or each network of a file that defines several (read and parsed
    once, and held to the layer total that `check` holds a file to)."""
    from resnet_dsl.network.api import parse_assignment
    from resnet_dsl.network.loader import load_program
    from resnet_dsl.review.diffreport import describe

    if args.network is None:
        program = load_program(args.file)
        if len(program.main.networks) > 1:
            overrides = dict(parse_assignment(item) for item in getattr(args, "overrides", []) or [])
            return "\n\n".join(describe(network) for network in program.expand_all(overrides))
    return describe(load_network(args))


def _textconv(args: argparse.Namespace) -> str:
    from resnet_dsl.network.loader import parse_module, read_spec
    from resnet_dsl.review.formatter import format_module

    try:
        text = read_spec(args.file)
    except ArchError as problem:
        return _raw(args.file, problem.message)
    try:
        module = parse_module(text, args.file)
    except ArchError:
        return text.rstrip("\n")
    try:
        canonical = format_module(module).rstrip("\n")
        if module.imports:
            return f"{IMPORTS}\n{canonical}"
        try:
            return _describe_all(args)
        except ArchError:
            return f"{INVALID}\n{canonical}"
    except Exception as problem:  # never fail under git: a bug here must not stop `git diff`
        return f"# resnet-dsl describe failed ({type(problem).__name__}): shown as its text\n{text.rstrip()}"


def _raw(path: str, reason: str) -> str:
    """What can be shown of a file that is not a readable spec: its bytes as text, with a note.

    Only a regular file is read, and at most `MAX_SPEC_BYTES` of it, so a device or a FIFO
    (which git never hands over, but a user might) cannot hang or flood the command."""
    from resnet_dsl.language.limits import MAX_SPEC_BYTES

    note = f"# resnet-dsl describe: {reason}; shown as its text"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return note
        with open(path, "rb") as handle:
            data = handle.read(MAX_SPEC_BYTES)
    except OSError:
        return note
    return f"{note}\n{data.decode('utf-8', errors='replace').rstrip()}"
