"""`resnet-dsl graph FILE -o OUT.{dot,mmd,svg,png} [--expand] [--format F]`: draw the network.

`.dot` and Mermaid's `.mmd` (which GitHub renders) are written by this package alone;
`.svg` and `.png` pipe the DOT text through Graphviz's `dot`, which is not a Python package
and may be missing: then the command says how to get it (or to write `.dot`) instead of
failing with a traceback. The picture is written atomically, so a viewer watching the file never loads half of it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from resnet_dsl.cli.commands.common import USAGE, guarded, load_network
from resnet_dsl.cli.output import STDOUT, write_output

FORMATS = {".dot": "dot", ".mmd": "mermaid", ".mermaid": "mermaid", ".svg": "svg", ".png": "png"}
NO_GRAPHVIZ = "Graphviz is required for .svg/.png: install it (e.g. apt-get install graphviz) or write .dot"
SCALED = re.compile(r"[Ss]caling by ([0-9.]+)")
"""Graphviz's note when a bitmap exceeds its size limit (32767 pixels a side) and is shrunk."""


@guarded
def run(args: argparse.Namespace) -> int:
    from resnet_dsl.language import limits
    from resnet_dsl.language.ir import Span
    from resnet_dsl.review.graph import node_count, to_dot

    suffix = ".dot" if args.output == STDOUT else Path(args.output).suffix.lower()
    kind = getattr(args, "format", None) or FORMATS.get(suffix)
    if kind is None:
        message = "the name must end in .dot, .mmd, .svg or .png (or give --format)"
        print(f"resnet-dsl graph: error: -o {args.output}: {message}", file=sys.stderr)
        return USAGE
    dot = shutil.which("dot")
    if kind in ("svg", "png") and dot is None:
        print(f"resnet-dsl graph: error: {NO_GRAPHVIZ}", file=sys.stderr)
        return 1
    if kind == "mermaid":
        from resnet_dsl.review.mermaid import to_mermaid

        write_output(args.output, to_mermaid(load_network(args), expand=args.expand).encode(), inputs=(args.file,))
        if args.output != STDOUT:
            print(f"wrote {args.output}")
        return 0
    network = load_network(args)
    if kind in ("svg", "png"):  # Graphviz's layout grows faster than the picture: bounded first
        where = network.definition.span if network.definition is not None else Span(file=args.file)
        limits.check_drawn_nodes(node_count(network, args.expand), where)
    text = to_dot(network, expand=args.expand)
    if kind == "dot":
        write_output(args.output, text.encode(), inputs=(args.file,))
    else:
        rendered = subprocess.run([dot, f"-T{kind}"], input=text.encode(), capture_output=True, check=False)
        if rendered.returncode != 0:
            problem = rendered.stderr.decode(errors="replace").strip()
            print(f"resnet-dsl graph: error: dot failed: {problem}", file=sys.stderr)
            return 1
        write_output(args.output, rendered.stdout, inputs=(args.file,))
        _warn_if_shrunk(args.output, rendered.stderr.decode(errors="replace"))
    if args.output != STDOUT:
        print(f"wrote {args.output}")
    return 0


def _warn_if_shrunk(output: str, messages: str) -> None:
    """A picture too large for a bitmap is shrunk by Graphviz, silently but for a line on
    its standard error, into something nobody can read: say so, and what to do instead."""
    scaled = SCALED.search(messages)
    if scaled is None:
        return
    percent = float(scaled.group(1)) * 100
    svg = str(Path(output).with_suffix(".svg"))
    print(
        f"resnet-dsl graph: warning: {output} is larger than Graphviz's bitmap limit (32767 pixels a side), "
        f"so Graphviz shrank it to {percent:.0f}% and its text may be unreadable; write -o {svg} instead",
        file=sys.stderr,
    )
