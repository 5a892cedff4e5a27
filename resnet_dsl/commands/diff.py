"""`resnet-dsl diff OLD NEW [--format text|json|markdown]`: what changed in the network.

Exit codes follow `diff`: 0 when the architectures are the same (a formatting or comment
change), 1 when they differ, 2 on any error, so scripts and CI can branch on the result.

Under `git difftool`, OLD is usually a temporary copy of an old version, alone in a
temporary directory, while NEW is the file in the work tree: so the imports of a spec that
cannot be found beside it are looked up beside the other spec.
"""

from __future__ import annotations

import argparse
import traceback
from pathlib import Path

from resnet_dsl.commands.common import report
from resnet_dsl.errors import ArchError
from resnet_dsl.network import Network

SAME, DIFFERENT, TROUBLE = 0, 1, 2


ERROR_STATUS = TROUBLE
"""What `main` returns when standard output fails: an error is 2 here, never "different"."""


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ArchError as error:
        report(error)
        return TROUBLE
    except Exception:  # a bug must not read as "different" (1) to a script: 2, with the traceback
        traceback.print_exc()
        return TROUBLE


def _run(args: argparse.Namespace) -> int:
    from resnet_dsl.archdiff import diff
    from resnet_dsl.diffreport import render_json, render_markdown, render_text

    try:
        old = load_beside(args.old, args.new)
        new = load_beside(args.new, args.old)
    except ArchError as error:
        report(error)
        return TROUBLE
    result = diff(old, new, old_source=args.old, new_source=args.new)
    render = {"text": render_text, "json": render_json, "markdown": render_markdown}[args.format]
    print(render(result))
    return DIFFERENT if result.changed else SAME


def load_beside(path: str, other: str) -> Network:
    """The network of `path`; if one of its imports is missing, imports taken beside `other`."""
    from resnet_dsl.loader import load_program, loads_program

    try:
        return load_program(path).expand()
    except ArchError as error:
        # An import that cannot be read is reported at the import statement (line > 0);
        # the spec itself missing is not (line 0), and nothing else is worth a second try.
        if not (error.message.startswith("cannot read") and error.span.line > 0):
            raise
        try:
            text = Path(path).read_text(encoding="utf-8")
            return loads_program(text, path, base=Path(other).resolve().parent).expand()
        except (ArchError, OSError):
            raise error from None
