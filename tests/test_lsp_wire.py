"""`resnet-dsl lsp` spoken to byte by byte, as no polite client would: files it must not wait
for or read whole, invalid positions and parameters, broken framing, a burst of changes; and
every session ends with status 0 and nothing on stderr."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.lsp_wire import Wire, frame

RESNET152 = REPO / "specs" / "torchvision" / "resnet152.arch"
SMALL = "network N(input = 8x8x3) {\n  stage s: basic(4)\n}\n"


@pytest.fixture
def wire():
    server = Wire()
    server.initialize()
    yield server
    server.kill()


def _hover(wire: Wire, uri: str, line: int = 0, character: int = 0, timeout: float = 10) -> dict:
    params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
    return wire.request("textDocument/hover", params, timeout=timeout)


def test_a_session_ends_with_status_0_and_nothing_on_stderr(wire: Wire):
    wire.open("file:///tmp/quiet.arch", SMALL)
    assert wire.diagnostics("file:///tmp/quiet.arch") == []
    assert _hover(wire, "file:///tmp/quiet.arch", 1, 11)["result"] is not None
    assert wire.close() == (0, "")


def test_exit_without_shutdown_is_status_1_as_the_protocol_says():
    wire = Wire()
    wire.initialize()
    wire.notify("exit", None)
    assert wire.process.wait(timeout=30) == 1
    assert wire.process.stderr.read() == b""


def test_a_request_naming_an_unopened_fifo_is_answered_at_once(wire: Wire, tmp_path: Path):
    fifo = tmp_path / "pipe.arch"
    os.mkfifo(fifo)
    start = time.monotonic()
    assert _hover(wire, fifo.as_uri())["result"] is None
    assert time.monotonic() - start < 5
    assert wire.close() == (0, "")


def test_an_unopened_huge_file_is_not_read_whole(wire: Wire, tmp_path: Path):
    huge = tmp_path / "huge.arch"
    with huge.open("wb") as handle:
        handle.truncate(3 * 2**30)  # 3 GiB, sparse: reading it whole would be the bug
    for method in ("textDocument/hover", "textDocument/definition", "textDocument/completion"):
        params = {"textDocument": {"uri": huge.as_uri()}, "position": {"line": 0, "character": 0}}
        found = wire.request(method, params)
        assert "error" not in found and found["result"] in (None, {"isIncomplete": False, "items": []})
    assert wire.close() == (0, "")


def test_a_lone_surrogate_keeps_the_diagnostics(wire: Wire):
    uri = "file:///tmp/surrogate.arch"
    wire.open(uri, SMALL.replace("basic(4)", "basc(4)") + "# \ud800\n")
    (found,) = wire.diagnostics(uri)
    assert "unknown block 'basc'" in found["message"]
    assert found["range"]["start"] == {"line": 1, "character": 11}
    assert wire.close() == (0, "")


@pytest.mark.parametrize(
    "position",
    [{"line": -1, "character": 0}, {"line": 0, "character": -3}, {"line": "one", "character": 0}, {"line": 0}],
)
def test_an_invalid_position_gets_an_error_response(wire: Wire, position: dict):
    wire.open("file:///tmp/p.arch", SMALL)
    for method in ("textDocument/hover", "textDocument/definition", "textDocument/completion"):
        found = wire.request(method, {"textDocument": {"uri": "file:///tmp/p.arch"}, "position": position})
        assert found["error"]["code"] == -32602, (method, found)
    assert _hover(wire, "file:///tmp/p.arch", 1, 11)["result"] is not None  # and it goes on
    assert wire.close() == (0, "")


def test_wrongly_typed_parameters_get_an_error_response(wire: Wire):
    for params in ([1, 2], "text", {"textDocument": 5, "position": {"line": 0, "character": 0}}):
        found = wire.request("textDocument/hover", params)
        assert found["error"]["code"] == -32602, found
    assert wire.close() == (0, "")


def _hover_frame(ident: int) -> bytes:
    params = {"textDocument": {"uri": "file:///tmp/f.arch"}, "position": {"line": 1, "character": 11}}
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": "textDocument/hover", "params": params}).encode()


@pytest.mark.parametrize(
    "broken",
    [
        lambda body: frame(body, len(body) - 7),  # too short: the rest of the body looks like a header
        lambda body: frame(body, len(body) + 40),  # too long: eats into the next message
        lambda body: frame(body, 10**13),  # absurd
        lambda body: b"Content-Length: twelve\r\n\r\n" + body,  # not a number
        lambda body: b"Content-Length: 5\r\n\r\n{]]]]",  # not JSON
    ],
)
def test_a_bad_content_length_costs_that_message_not_the_session(wire: Wire, broken):
    wire.open("file:///tmp/f.arch", SMALL)
    wire.diagnostics("file:///tmp/f.arch")
    wire.send(broken(_hover_frame(900)))
    found = wire.request("textDocument/hover", json.loads(_hover_frame(0))["params"])
    assert "basic" in found["result"]["contents"]["value"]
    assert wire.close() == (0, "")


def test_a_body_shorter_than_announced_is_still_answered(wire: Wire):
    """The client sent one request with a length too large and waits: the server does not."""
    wire.open("file:///tmp/f.arch", SMALL)
    body = _hover_frame(77)
    wire.send(frame(body, len(body) + 100))
    assert "basic" in wire.answer(77, timeout=10)["result"]["contents"]["value"]


def test_a_burst_of_changes_is_coalesced_and_the_latest_text_checked(wire: Wire):
    """1,000 changes of ResNet-152 sent at once: the server does not check each (which took 25 s
    of backlog); the diagnostics of the last version come promptly and say what it has."""
    uri = RESNET152.as_uri()
    text = RESNET152.read_text(encoding="utf-8")
    wire.open(uri, text)
    assert wire.diagnostics(uri) == []
    broken = text.replace("ResNet101(", "ResNet10(")
    burst = b"".join(
        frame(
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": broken if version == 1001 else text.replace("36", str(version % 40))}],
                },
            }
        )
        for version in range(2, 1002)
    )
    start = time.monotonic()
    wire.send(burst)
    published = []
    while True:
        message = wire.messages.get(timeout=60)
        if message.get("method") == "textDocument/publishDiagnostics":
            published.append(message["params"])
            if message["params"]["version"] == 1001:
                break
    elapsed = time.monotonic() - start
    assert len(published) < 100, len(published)  # checked in batches, not 1,000 times
    assert "unknown network 'ResNet10'" in published[-1]["diagnostics"][0]["message"]
    assert elapsed < 10, elapsed
    assert wire.close() == (0, "")
