"""`resnet-dsl diff OLD NEW [--format text|json|markdown] [--network NAME] [--set NAME=VALUE]`.

What changed in the network. Exit codes follow `diff`: 0 when the architectures are the
same (a formatting or comment change), 1 when they differ, 2 on any error, so scripts and
CI can branch on the result.

`--network` and `--set` apply to both sides. A file that defines several networks, given
without `--network` (as `git difftool` gives it), is compared network by network, matched
by name; a network found on one side only is a difference.

Under `git difftool`, OLD is usually a temporary copy of an old version, alone in a
temporary directory, while NEW is the file in the work tree: so the imports of a spec that
cannot be found beside it are looked up beside the other spec.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_dsl.cli.commands.common import report
from resnet_dsl.cli.output import terminal_text
from resnet_dsl.language.errors import ArchError

if TYPE_CHECKING:
    from resnet_dsl.network.loader import Program
    from resnet_dsl.review.archdiff_result import ArchDiff

SAME, DIFFERENT, TROUBLE = 0, 1, 2


ERROR_STATUS = TROUBLE
"""What `main` returns when standard output fails: an error is 2 here, never "different"."""


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ArchError as error:
        report(error)
        return TROUBLE
    except BrokenPipeError:
        raise  # the reader left: not a bug; the CLI ends quietly
    except Exception:  # a bug must not read as "different" (1) to a script: 2, with the traceback
        traceback.print_exc()
        return TROUBLE


def _run(args: argparse.Namespace) -> int:
    from resnet_dsl.language import limits
    from resnet_dsl.network.api import parse_assignment
    from resnet_dsl.review.archdiff import diff
    from resnet_dsl.review.archdiff_result import JSON_FORMAT
    from resnet_dsl.review.diffreport import json_data, render_json, render_text

    if getattr(args, "picture", False) and args.format != "markdown":
        print("resnet-dsl diff: error: --picture goes with --format markdown", file=sys.stderr)
        return TROUBLE
    try:
        overrides = dict(parse_assignment(item) for item in args.overrides)
        old_program = program_beside(args.old, args.new)
        new_program = program_beside(args.new, args.old)
        pairs, only_old, only_new = _pairs(old_program, new_program, args.network)
        results = []
        totals = [0, 0]  # layers expanded on each side: at most what `check` expands of a file
        for old_name, new_name in pairs:
            old_network = old_program.expand(old_name, overrides)
            new_network = new_program.expand(new_name, overrides)
            for side, (program, network) in enumerate(((old_program, old_network), (new_program, new_network))):
                totals[side] += len(network.layers)
                with program.located():
                    limits.check_total_layers(totals[side], program.network(network.name).span)
            results.append(diff(old_network, new_network, old_source=args.old, new_source=args.new))
    except ArchError as error:
        report(error)
        return TROUBLE
    changed = bool(only_old or only_new or any(result.changed for result in results))
    if len(results) == 1 and not (only_old or only_new):
        render = {"text": render_text, "json": render_json, "markdown": _markdown(args)}[args.format]
        print(render(results[0]) if args.format == "json" else terminal_text(render(results[0])))
    elif args.format == "json":
        data: dict[str, Any] = {
            "format": JSON_FORMAT,
            "changed": changed,
            "only_old": only_old,
            "only_new": only_new,
            "networks": [json_data(result) for result in results],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(terminal_text(_several(results, only_old, only_new, args)))
    return DIFFERENT if changed else SAME


def _markdown(args: argparse.Namespace) -> Callable[[ArchDiff], str]:
    """The markdown report, ending with a Mermaid picture of the changed stages under --picture."""
    from resnet_dsl.review.diffreport import render_markdown

    def render(result: ArchDiff) -> str:
        text = render_markdown(result)
        if getattr(args, "picture", False) and result.changed:
            from resnet_dsl.review.mermaid import diff_picture, fenced

            text += "\n\n#### Picture\n\n" + fenced(diff_picture(result))
        return text

    return render


def _several(results: list[ArchDiff], only_old: list[str], only_new: list[str], args: argparse.Namespace) -> str:
    from resnet_dsl.review.diffreport import render_text

    render = _markdown(args) if args.format == "markdown" else render_text
    parts = [render(result) for result in results]
    lines = [f"network {name}: removed (only in {args.old})" for name in only_old]
    lines += [f"network {name}: added (only in {args.new})" for name in only_new]
    if lines:
        parts.append("\n".join(f"- {line}" if args.format == "markdown" else line for line in lines))
    return "\n\n".join(parts)


def _pairs(old: Program, new: Program, network: str | None) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(old name, new name) of the networks to compare, and those found on one side only.

    One network on each side: those two, whatever their names. More: matched by name.
    """
    if network is not None:
        return [(old.network(network).name, new.network(network).name)], [], []
    old_names = [item.name for item in old.main.networks]
    new_names = [item.name for item in new.main.networks]
    if len(old_names) <= 1 and len(new_names) <= 1:
        return [(old.network().name, new.network().name)], [], []
    pairs = [(name, name) for name in new_names if name in old_names]
    return (
        pairs,
        [name for name in old_names if name not in new_names],
        [name for name in new_names if name not in old_names],
    )


def program_beside(path: str, other: str) -> Program:
    """The spec at `path`; if one of its imports is missing, imports taken beside `other`."""
    from resnet_dsl.network.loader import load_program, loads_program, read_spec

    try:
        return load_program(path)
    except ArchError as error:
        # An import that cannot be read is reported at the import statement (line > 0);
        # the spec itself missing is not (line 0), and nothing else is worth a second try.
        if not (error.message.startswith("cannot read") and error.span.line > 0):
            raise
        try:
            text = read_spec(path)
            return loads_program(text, path, base=Path(other).resolve().parent)
        except (ArchError, OSError):
            raise error from None
