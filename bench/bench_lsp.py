"""The language server's latency: from a change of a ResNet-152 document to its diagnostics.

    python bench/bench_lsp.py [--runs N]

Goal (issue 12): diagnostics within 50 ms of a change on ResNet-152, in-process. Measures what
the server does on each `didChange` (analyse: parse, imports, expand every network; then the
diagnostics) on two documents: `specs/torchvision/resnet152.arch` (derived, imports resnet101.arch) and the
same network written out whole; each change alternates a valid text and one with an error. Then
the same round trip over stdio through pygls's client, as an editor sees it. Prints a table (wall and,
in-process, CPU milliseconds: on a loaded machine the CPU time is the cost of the change);
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def in_process(path: Path, text: str, other: str, runs: int, errors: bool) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU time: what the change costs, however loaded the machine)."""
    from resnet_dsl.integrations.lsp import analyze, diagnostics

    analyze(str(path), text)  # warm: grammar built, prelude parsed
    times, cpu = [], []
    for index in range(runs):
        version = other if index % 2 else text
        start, started = time.perf_counter(), time.process_time()
        found = diagnostics(analyze(str(path), version))
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - started)
        assert bool(found) == (errors and bool(index % 2))
    return statistics.median(times), statistics.median(cpu)


async def over_stdio(path: Path, text: str, other: str, runs: int) -> tuple[float, float]:
    from lsprotocol import types as lsp
    from pygls.lsp.client import BaseLanguageClient

    client = BaseLanguageClient("bench", "1")
    arrived: asyncio.Queue[float] = asyncio.Queue()

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: lsp.PublishDiagnosticsParams) -> None:
        arrived.put_nowait(time.perf_counter())

    await client.start_io(sys.executable, "-m", "resnet_dsl", "lsp", cwd=str(REPO))
    await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    client.initialized(lsp.InitializedParams())
    uri = path.as_uri()
    document = lsp.TextDocumentItem(uri=uri, language_id="arch", version=0, text=text)
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=document))
    await arrived.get()
    times = []
    for index in range(1, runs + 1):
        change = lsp.TextDocumentContentChangeWholeDocument(text=other if index % 2 else text)
        start = time.perf_counter()
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=index), content_changes=[change]
            )
        )
        times.append(await arrived.get() - start)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return statistics.median(times), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    runs = parser.parse_args().runs
    sys.path.insert(0, str(REPO))

    derived = REPO / "specs" / "torchvision" / "resnet152.arch"
    derived_text = derived.read_text(encoding="utf-8")
    whole = REPO / "specs" / "torchvision" / "resnet152_whole.arch"  # never written: the server reads the editor's text
    whole_text = (
        (REPO / "specs" / "torchvision" / "resnet101.arch")
        .read_text(encoding="utf-8")
        .replace("ResNet101", "ResNet152")
        .replace("[3, 4, 23, 3]", "[3, 8, 36, 3]")
    )
    cases = [
        (
            "specs/torchvision/resnet152.arch (derived, imports resnet101.arch)",
            derived,
            derived_text,
            "36, 3]",
            "36, 2]",
        ),
        ("ResNet-152 written out whole", whole, whole_text, "classes = 1000", "classes = 999"),
    ]
    rows = []
    for label, path, text, needle, edit in cases:
        valid = text.replace(needle, edit, 1)
        broken = text.replace("ResNet101(", "ResNet10(", 1).replace("bottleneck(256)", "bottlenek(256)", 1)
        assert valid != text and broken != text
        rows.append((f"in-process, valid -> valid, {label}", in_process(path, text, valid, runs, errors=False)))
        rows.append((f"in-process, valid <-> error, {label}", in_process(path, text, broken, runs, errors=True)))
        rows.append((f"over stdio, valid -> valid, {label}", asyncio.run(over_stdio(path, text, valid, runs))))
    width = max(len(label) for label, _ in rows)
    print(f"{'change -> diagnostics (median of ' + str(runs) + ')':<{width}}  wall ms  CPU ms")
    for label, (seconds, cpu) in rows:
        shown = "-" if cpu != cpu else f"{cpu * 1000:.1f}"  # nan: not measured (another process)
        print(f"{label:<{width}}  {seconds * 1000:7.1f}  {shown:>6}")


if __name__ == "__main__":
    main()
