"""`resnet-dsl lsp`: the language server for editors, over stdio (needs the `lsp` extra: pygls)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    try:
        from resnet_dsl.integrations.lsp import serve
    except ImportError as error:
        print(
            f"resnet-dsl lsp: error: {error.name or 'pygls'} is missing: pip install 'resnet-dsl[lsp]'",
            file=sys.stderr,
        )
        return 1
    return serve()
