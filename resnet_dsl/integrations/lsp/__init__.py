"""`resnet-dsl lsp`: the language server editors talk to over stdio (pygls, the `lsp` extra).

Every answer comes from the loader, expander and formatter the CLI uses, arranged so that one
error hides nothing else: `analysis` (every error of a document, and what is fine in it),
`positions` (LSP's 0-based UTF-16 positions, converted once), `outline` (diagnostics, symbols,
formatting), `features` (hover, definition, completion), `server` (documents, coalesced checks),
`transport` (the framing, robust to malformed input).
"""

from __future__ import annotations

from .analysis import Analysis, analyze
from .features import completion, definition, hover
from .outline import diagnostics, formatting, symbols
from .server import ArchServer, build_server
from .transport import serve_io

__all__ = [
    "Analysis",
    "ArchServer",
    "analyze",
    "build_server",
    "completion",
    "definition",
    "diagnostics",
    "formatting",
    "hover",
    "serve",
    "symbols",
]


def serve() -> int:
    """Speak LSP on standard input and output until the client says exit; the exit status."""
    return serve_io(build_server())
