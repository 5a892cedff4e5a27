"""The server's documents and handlers; rapid changes coalesced, so the latest text is checked.

A change marks its document, and the open documents importing it, to check; they are checked
once the messages waiting have been read. Unsaved buffers are handed to imports; files that are
not open are read within the loader's limits (a FIFO is not waited for, a huge file not read).
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from resnet_dsl import __version__
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import read_spec

from .analysis import Analysis, analyze
from .features import completion, definition, hover
from .outline import diagnostics, formatting, symbols
from .positions import BadPosition, offset

COALESCE_SECONDS = 0.02
"""A document changed this long ago is checked even while more messages wait."""


class ArchServer(LanguageServer):
    """Open documents' analyses: the latest, and the latest whose definitions all parsed."""

    def __init__(self) -> None:
        super().__init__("resnet-dsl", __version__)
        self.latest: dict[str, Analysis] = {}
        self.parsed: dict[str, Analysis] = {}
        self.dirty: dict[str, float] = {}

    def report_server_error(self, error: Exception, source: object) -> None:
        """Errors already answered to the client (an invalid request) need no second word."""

    # ------------------------------------------------------------ texts --

    def _document(self, uri: str):
        return self.workspace.text_documents.get(unquote(uri))

    def _read(self, uri: str) -> tuple[str, str] | None:
        """(path, text) of a document: the editor's buffer, else the file, read as `check` reads
        specs (a FIFO or a huge file is refused at once, never waited for nor read whole)."""
        path = to_fs_path(uri) or uri
        document = self._document(uri)
        if document is not None:
            return path, document.source
        try:
            return path, read_spec(path)
        except (ArchError, OSError, ValueError):
            return None

    def _unsaved(self, path: Path) -> str | None:
        for uri, document in self.workspace.text_documents.items():
            fs_path = to_fs_path(uri)
            if fs_path and Path(fs_path).resolve() == path:
                return document.source
        return None

    # --------------------------------------------------------- analyses --

    def refresh(self, uri: str) -> Analysis | None:
        """Analyse the document now and publish its diagnostics."""
        self.dirty.pop(uri, None)
        found = self._read(uri)
        if found is None:
            return None
        analysis = analyze(*found, overlay=self._unsaved)
        self.latest[uri] = analysis
        if analysis.syntax_ok and analysis.program is not None:
            self.parsed[uri] = analysis
        document = self._document(uri)
        if document is not None:
            self.text_document_publish_diagnostics(
                lsp.PublishDiagnosticsParams(uri=uri, version=document.version, diagnostics=diagnostics(analysis))
            )
        return analysis

    def mark(self, uri: str) -> None:
        """The document changed: it and every open document importing it are to be checked."""
        now = time.monotonic()
        if self._document(uri) is not None:
            self.dirty.setdefault(uri, now)
        changed = Path(to_fs_path(uri) or uri).resolve()
        for other, analysis in self.latest.items():
            if other != uri and analysis.program is not None:
                files = (Path(key).resolve() for key in analysis.program.modules if key != analysis.path)
                if changed in files:
                    self.dirty.setdefault(other, now)

    def flush(self, waiting: bool) -> None:
        """Check the marked documents: all of them where no message waits, else those marked
        longer than `COALESCE_SECONDS` ago."""
        now = time.monotonic()
        for uri, since in list(self.dirty.items()):
            if not waiting or now - since >= COALESCE_SECONDS:
                self.refresh(uri)

    def current(self, uri: str) -> Analysis | None:
        analysis = self.latest.get(uri)
        document = self._document(uri)
        if analysis is None or uri in self.dirty or (document is not None and analysis.text != document.source):
            analysis = self.refresh(uri) if document is not None else self._unopened(uri)
        return analysis

    def _unopened(self, uri: str) -> Analysis | None:
        found = self._read(uri)
        return analyze(*found, overlay=self._unsaved) if found else None


def _at(analysis: Analysis, position: lsp.Position) -> tuple[int, int]:
    try:
        return offset(analysis.text, position)
    except BadPosition as error:
        raise JsonRpcInvalidParams(str(error)) from None


def _valid(position: lsp.Position) -> None:
    if position.line < 0 or position.character < 0:
        raise JsonRpcInvalidParams(f"no document has line {position.line}, character {position.character}")


def build_server() -> ArchServer:
    server = ArchServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ArchServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.mark(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ArchServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.mark(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ArchServer, params: lsp.DidSaveTextDocumentParams) -> None:
        # A saved file that is not open changed on disk: its importers see it now.
        ls.mark(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ArchServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.latest.pop(uri, None)
        ls.parsed.pop(uri, None)
        ls.dirty.pop(uri, None)
        ls.mark(uri)  # its importers read the file from disk again
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: ArchServer, params: lsp.HoverParams) -> lsp.Hover | None:
        _valid(params.position)
        analysis = ls.current(params.text_document.uri)
        text = hover(analysis, *_at(analysis, params.position)) if analysis else None
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text)) if text else None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(ls: ArchServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        _valid(params.position)
        analysis = ls.current(params.text_document.uri)
        return definition(analysis, *_at(analysis, params.position)) if analysis else None

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ",", ":", ">"]))
    def on_completion(ls: ArchServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        _valid(params.position)
        uri = params.text_document.uri
        analysis = ls.current(uri)
        if analysis is None:
            return lsp.CompletionList(is_incomplete=False, items=[])
        items = completion(analysis, *_at(analysis, params.position), fallback=ls.parsed.get(uri))
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(ls: ArchServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        analysis = ls.current(params.text_document.uri)
        return formatting(analysis) if analysis else []

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(ls: ArchServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        analysis = ls.current(params.text_document.uri)
        return symbols(analysis) if analysis else []

    return server
