"""`resnet-dsl graph FILE -o OUT.{dot,svg,png} [--expand]`: draw the network.

`.dot` is written by this package alone; `.svg` and `.png` pipe the same text through
Graphviz's `dot`, which is not a Python package and may be missing: then the command says
how to get it (or to write `.dot`) instead of failing with a traceback. The picture is
written atomically, so a viewer watching the file never loads half of it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from resnet_dsl.commands.common import USAGE, guarded, load_network
from resnet_dsl.output import STDOUT, write_output

FORMATS = (".dot", ".svg", ".png")
NO_GRAPHVIZ = "Graphviz is required for .svg/.png: install it (e.g. apt-get install graphviz) or write .dot"


@guarded
def run(args: argparse.Namespace) -> int:
    from resnet_dsl.graph import to_dot

    suffix = ".dot" if args.output == STDOUT else Path(args.output).suffix.lower()
    if suffix not in FORMATS:
        print(f"resnet-dsl graph: error: -o {args.output}: the name must end in .dot, .svg or .png", file=sys.stderr)
        return USAGE
    dot = shutil.which("dot")
    if suffix != ".dot" and dot is None:
        print(f"resnet-dsl graph: error: {NO_GRAPHVIZ}", file=sys.stderr)
        return 1
    text = to_dot(load_network(args), expand=args.expand)
    if suffix == ".dot":
        write_output(args.output, text.encode())
    else:
        rendered = subprocess.run([dot, f"-T{suffix[1:]}"], input=text.encode(), capture_output=True, check=False)
        if rendered.returncode != 0:
            problem = rendered.stderr.decode(errors="replace").strip()
            print(f"resnet-dsl graph: error: dot failed: {problem}", file=sys.stderr)
            return 1
        write_output(args.output, rendered.stdout)
    if args.output != STDOUT:
        print(f"wrote {args.output}")
    return 0
