"""LSP's framing on standard input and output, robust to malformed messages; a quiet exit.

A wrong `Content-Length` costs the messages it spans, never the session (the next header is
found again); a message that is not JSON, or a request whose parameters do not fit its method,
gets an error response; `exit` ends with status 0 after `shutdown` (1 without), nothing on
stderr, standard output left open for the CLI. Messages are read on a thread, so the server
knows when none is waiting: that is when the documents changed meanwhile are checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import select
import threading
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError

from .server import ArchServer

MAX_BODY = 16 * 2**20
"""A larger `Content-Length` is refused unread (the largest spec, 1 MB, escaped, fits)."""
STALL_SECONDS = 0.5
"""An unfinished body this long without more bytes is tried as it stands (a length too large)."""
_HEADER = re.compile(rb"Content-Length:[ \t]*(\d{1,12})[ \t]*(?:\r\n|$)", re.IGNORECASE)
_HEADER_START = re.compile(rb"Content-Length:", re.IGNORECASE)
_EOF = object()


class Invalid:
    """A frame whose body is not JSON: answered with a parse error."""


class Frames:
    """Messages out of a byte stream; resynchronises on the next header after a bad frame."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.wanted = 0  # the length of the body being read, once its header is complete

    def feed(self, data: bytes) -> list[Any]:
        self.buffer += data
        found = []
        while (item := self._next()) is not None:
            found.append(item)
        if not self.wanted and len(self.buffer) > MAX_BODY:  # bytes without a header: drop
            del self.buffer[: -len(b"Content-Length: 123456789012\r\n")]
        return found

    def pending(self) -> bool:
        return bool(self.wanted)

    def stalled(self) -> list[Any]:
        """No more bytes come: a body shorter than announced is taken as it is, if it is JSON."""
        body = bytes(self.buffer)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return []
        self.buffer.clear()
        self.wanted = 0
        return [message]

    def _next(self) -> Any:
        if not self.wanted:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            headers = bytes(self.buffer[: end + 2])
            del self.buffer[: end + 4]
            lengths = _HEADER.findall(headers)
            if not lengths or not 0 < int(lengths[-1]) <= MAX_BODY:
                return Invalid()
            self.wanted = int(lengths[-1])
        if len(self.buffer) < self.wanted:
            return None
        body = bytes(self.buffer[: self.wanted])
        del self.buffer[: self.wanted]
        self.wanted = 0
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            later = _HEADER_START.search(body, 1)
            if later is not None:  # the length was too large: what follows is the next message
                self.buffer[:0] = body[later.start() :]
                return self._parsed_prefix(body[: later.start()])
            return Invalid()

    @staticmethod
    def _parsed_prefix(body: bytes) -> Any:
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            return Invalid()


def _read(fd: int, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    frames = Frames()

    def put(item: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    while True:
        try:
            if frames.pending() and not select.select([fd], [], [], STALL_SECONDS)[0]:
                for item in frames.stalled():
                    put(item)
                continue
            data = os.read(fd, 1 << 16)
        except (OSError, ValueError, RuntimeError):
            data = b""
        if not data:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server has ended already
                put(_EOF)
            return
        for item in frames.feed(data):
            put(item)


class _Writer:
    """Writes to a duplicate of a file descriptor: closing it (pygls does, on `exit`) leaves
    the CLI's standard output open; a client gone away is not an error of ours."""

    def __init__(self, fd: int) -> None:
        self.fd = os.dup(fd)
        self.gone = False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.gone:
            try:
                view = view[os.write(self.fd, view) :]
            except OSError:
                self.gone = True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.gone = True


def _answer_error(server: ArchServer, ident: Any, error: JsonRpcException) -> None:
    ident = ident if isinstance(ident, (int, str)) and not isinstance(ident, bool) else None
    server.protocol._send_response(ident, error=error.to_response_error())


def dispatch(server: ArchServer, item: Any) -> None:
    """One message to pygls; an invalid one answered here, since pygls would drop it."""
    if isinstance(item, Invalid):
        return _answer_error(server, None, JsonRpcParseError())
    if not isinstance(item, dict) or item.get("jsonrpc") != "2.0":
        return _answer_error(server, item.get("id") if isinstance(item, dict) else None, JsonRpcInvalidRequest())
    try:
        message = server.protocol.structure_message(item)
    except JsonRpcException as error:
        if "id" in item and "method" in item:
            invalid = error if isinstance(error, JsonRpcInvalidParams) else JsonRpcInvalidParams()
            _answer_error(server, item["id"], invalid)
        return None
    server.protocol.handle_message(message)
    return None


async def _loop(server: ArchServer, fd_in: int) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_read, args=(fd_in, loop, queue), daemon=True, name="lsp-stdin").start()
    while True:
        if server.dirty:
            try:
                item = await asyncio.wait_for(queue.get(), 0.005)
            except TimeoutError:
                server.flush(waiting=False)
                continue
        else:
            item = await queue.get()
        if item is _EOF:
            return
        dispatch(server, item)
        await asyncio.sleep(0)  # let handlers that are coroutines run
        server.flush(waiting=not queue.empty())


def serve_io(server: ArchServer, fd_in: int = 0, fd_out: int = 1) -> int:
    """Speak LSP on the descriptors until `exit` or the end of input; the exit status."""
    quiet = logging.getLogger("pygls")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    writer = _Writer(fd_out)
    server.protocol.set_writer(writer)
    try:
        asyncio.run(_loop(server, fd_in))
    except SystemExit as ending:  # pygls's `exit`: 0 after `shutdown`, 1 without
        return ending.code if isinstance(ending.code, int) else 1
    except KeyboardInterrupt:
        return 130
    finally:
        writer.close()
    return 0 if server.protocol._shutdown else 1
