"""`resnet-dsl fmt FILE... [--check] [--diff]`: lay specs out canonically, in place.

A file is rewritten only when its layout changes, and atomically, so an editor or a
concurrent reader never sees half a spec. A file that does not parse is reported with its
located error and left exactly as it was. `--check` and `--diff` never write anything:
`--check` is for CI (exit 1 when some file would change), `--diff` shows what would change.
A directory stands for every `.arch` file under it.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from resnet_dsl.cli.commands.common import report, spec_files
from resnet_dsl.cli.output import write_output
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import read_spec
from resnet_dsl.review.formatter import format_source


def run(args: argparse.Namespace) -> int:
    changed: list[str] = []
    failed = 0
    for path in spec_files(args.files):
        try:
            text = read_spec(path)  # as stored: CRLF kept, which the layout then fixes
            formatted = format_source(text, path)
        except ArchError as error:
            report(error)
            failed += 1
            continue
        if formatted == text:
            continue
        changed.append(path)
        if args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    text.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    *_labels(path),
                )
            )
        if args.check:
            print(f"would reformat {path}", file=sys.stderr if args.diff else sys.stdout)
        elif not args.diff:
            try:
                write_output(path, formatted)
            except ArchError as error:
                report(error)
                changed.pop()
                failed += 1
                continue
            print(f"reformatted {path}")
    _summarize(len(changed), failed, dry_run=args.check or args.diff)
    return 1 if failed or (args.check and changed) else 0


def _labels(path: str) -> tuple[str, str]:
    """`a/specs/x.arch`, `b/specs/x.arch` as git writes them, so `git apply` takes the diff."""
    return (path, path) if Path(path).is_absolute() else (f"a/{path}", f"b/{path}")


def _summarize(changed: int, failed: int, dry_run: bool) -> None:
    verb = "would be reformatted" if dry_run else "reformatted"
    parts = [f"{changed} file{'s' * (changed != 1)} {verb}"]
    if failed:
        parts.append(f"{failed} could not be formatted")
    print(", ".join(parts), file=sys.stderr)
