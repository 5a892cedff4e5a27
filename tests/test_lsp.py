"""`resnet-dsl lsp` through a real client session: pygls's client starts the server as a
subprocess and speaks JSON-RPC to it over stdio, as an editor does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pygls.lsp.client import BaseLanguageClient

from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.resources import PRELUDE
from resnet_dsl.network.api import load
from resnet_dsl.review.formatter import format_source
from tests.conftest import REPO

RESNET101 = REPO / "specs" / "torchvision" / "resnet101.arch"
RESNET152 = REPO / "specs" / "torchvision" / "resnet152.arch"

LIBRARY = """\
# A block of this library.
# It says what it is for.
block twin(filters, stride = 1) {
  main {
    conv(filters, 3, stride=stride, padding=same) -> bn -> relu
  }
  shortcut {
    conv(filters, 1, stride=stride) -> bn
  }
  out = add(main, shortcut) -> relu
}

network Small(input = 32x32x3, classes = 10, width = 16) {
  stem {
    conv1: conv(width, 3, padding=same) -> bn -> relu
  }
  stage s1: twin(width) * 2
  stage s2: twin(2 * width, stride=2)
  head {
    global_avgpool -> dense(classes) as "fc"
  }
}
"""

MAIN = """\
import "lib.arch"

network Wide = Small(width = 32)
"""


class Session:
    """A client and its server subprocess, driven from synchronous tests by one event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = BaseLanguageClient("test-client", "1")
        self.diagnostics: dict[str, list[list[lsp.Diagnostic]]] = {}
        self.versions: dict[str, int] = {}

        @self.client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: lsp.PublishDiagnosticsParams) -> None:
            self.diagnostics.setdefault(params.uri, []).append(list(params.diagnostics))

    def run(self, awaitable):
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout=60))

    def start(self) -> None:
        self.run(self.client.start_io(sys.executable, "-m", "resnet_dsl", "lsp", cwd=str(REPO)))
        result = self.run(
            self.client.initialize_async(
                lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=REPO.as_uri())
            )
        )
        self.capabilities = result.capabilities
        self.client.initialized(lsp.InitializedParams())

    def stop(self) -> None:
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        self.loop.close()

    def wait_for_diagnostics(self, uri: str, count: int) -> list[lsp.Diagnostic]:
        async def wait() -> None:
            while len(self.diagnostics.get(uri, [])) < count:
                await asyncio.sleep(0.01)

        self.run(wait())
        return self.diagnostics[uri][count - 1]

    def open(self, path: Path, text: str | None = None) -> tuple[str, list[lsp.Diagnostic]]:
        uri = path.as_uri()
        seen = len(self.diagnostics.get(uri, []))
        self.versions[uri] = 1
        document = lsp.TextDocumentItem(
            uri=uri, language_id="arch", version=1, text=path.read_text(encoding="utf-8") if text is None else text
        )
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=document))
        return uri, self.wait_for_diagnostics(uri, seen + 1)

    def change(self, uri: str, text: str) -> list[lsp.Diagnostic]:
        seen = len(self.diagnostics.get(uri, []))
        self.versions[uri] += 1
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return self.wait_for_diagnostics(uri, seen + 1)

    def hover(self, uri: str, line: int, character: int) -> str | None:
        where = lsp.TextDocumentIdentifier(uri=uri)
        found = self.run(
            self.client.text_document_hover_async(
                lsp.HoverParams(text_document=where, position=lsp.Position(line=line, character=character))
            )
        )
        return found.contents.value if found else None

    def definition(self, uri: str, line: int, character: int) -> lsp.Location | None:
        where = lsp.TextDocumentIdentifier(uri=uri)
        found = self.run(
            self.client.text_document_definition_async(
                lsp.DefinitionParams(text_document=where, position=lsp.Position(line=line, character=character))
            )
        )
        return found[0] if isinstance(found, list) else found

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        where = lsp.TextDocumentIdentifier(uri=uri)
        found = self.run(
            self.client.text_document_completion_async(
                lsp.CompletionParams(text_document=where, position=lsp.Position(line=line, character=character))
            )
        )
        items = found.items if isinstance(found, lsp.CompletionList) else found
        return [item.label for item in items]


@pytest.fixture(scope="module")
def session():
    session = Session()
    session.start()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("workspace")
    (folder / "lib.arch").write_text(LIBRARY, encoding="utf-8")
    (folder / "main.arch").write_text(MAIN, encoding="utf-8")
    return folder


def _position(text: str, needle: str, nth: int = 0, shift: int = 1) -> tuple[int, int]:
    """0-based (line, character) inside the nth occurrence of `needle`."""
    index = -1
    for _ in range(nth + 1):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1) + shift


def test_the_server_says_what_it_can_do(session: Session):
    capabilities = session.capabilities
    assert capabilities.hover_provider
    assert capabilities.definition_provider
    assert capabilities.completion_provider is not None
    assert capabilities.document_formatting_provider
    assert capabilities.document_symbol_provider


def test_diagnostics_as_you_type_are_checks_errors(session: Session, workspace: Path, cli):
    path = workspace / "lib.arch"
    uri, found = session.open(path)
    assert found == []
    broken = LIBRARY.replace("twin(width) * 2", "twinn(width) * 2")
    (found_error,) = session.change(uri, broken)
    # the same message, place and hint as `resnet-dsl check`
    scratch = workspace / "broken.arch"
    scratch.write_text(broken, encoding="utf-8")
    check = cli("check", str(scratch))
    assert check.returncode == 1
    assert "unknown block 'twinn'" in found_error.message
    assert "hint: did you mean 'twin'?" in found_error.message
    line, column = _position(broken, "twinn(width)", shift=0)
    assert (found_error.range.start.line, found_error.range.start.character) == (line, column)
    assert f":{line + 1}:{column + 1}: error: unknown block 'twinn'" in check.stderr
    assert found_error.severity == lsp.DiagnosticSeverity.Error
    assert session.change(uri, LIBRARY) == []


def test_a_syntax_error_is_located(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    broken = LIBRARY.replace("stage s2: twin", "stage s2 twin")
    (error,) = session.change(uri, broken)
    assert error.message.startswith("unexpected name 'twin'; expected ':'")
    assert (error.range.start.line, error.range.start.character) == _position(broken, "twin(2", shift=0)
    session.change(uri, LIBRARY)


def test_an_error_in_an_imported_file_points_at_the_import(session: Session, workspace: Path):
    (workspace / "bad_lib.arch").write_text("block b(f) { main { conv(f, 0) } out = add(main, shortcut) }\n")
    text = 'import "bad_lib.arch"\n\nnetwork N(input = 8x8x3) {\n  stage s: b(4)\n}\n'
    (workspace / "uses_bad.arch").write_text(text)
    _, (error,) = session.open(workspace / "uses_bad.arch")
    assert "bad_lib.arch:1:" in error.message
    assert error.range.start.line == 0
    assert error.related_information and error.related_information[0].location.uri.endswith("bad_lib.arch")


def test_saving_an_imported_file_rechecks_its_importers(session: Session, workspace: Path):
    (workspace / "saved_lib.arch").write_text(LIBRARY, encoding="utf-8")
    (workspace / "saved_main.arch").write_text(MAIN.replace("lib.arch", "saved_lib.arch"), encoding="utf-8")
    main_uri, found = session.open(workspace / "saved_main.arch")
    assert found == []
    library = workspace / "saved_lib.arch"
    seen = len(session.diagnostics[main_uri])
    library.write_text(LIBRARY.replace("twin(width) * 2", "twin(width, 3, 4) * 2"), encoding="utf-8")
    session.client.text_document_did_save(
        lsp.DidSaveTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=library.as_uri()))
    )
    (error,) = session.wait_for_diagnostics(main_uri, seen + 1)
    assert "saved_lib.arch:17:" in error.message


def test_hover_on_a_layer_shows_its_shape_params_and_macs(session: Session):
    text = RESNET101.read_text(encoding="utf-8")
    uri, _ = session.open(RESNET101)
    found = session.hover(uri, *_position(text, "conv(64, 7"))
    assert found is not None
    assert "**conv1_conv**" in found
    assert "(None, 112, 112, 64)" in found
    assert f"params {7 * 7 * 3 * 64:,}" in found  # no bias, as torchvision's
    assert f"MACs {112 * 112 * 64 * 7 * 7 * 3:,}" in found
    found = session.hover(uri, *_position(text, 'dense(classes) as "fc"'))
    assert "**fc**" in found and f"params {2048 * 1000 + 1000:,}" in found


def test_hover_on_a_stage_shows_its_totals(session: Session):
    text = RESNET101.read_text(encoding="utf-8")
    uri, _ = session.open(RESNET101)
    torchvision = pytest.importorskip("tests.torch_reference").sections("torchvision", "resnet101", 224)
    found = session.hover(uri, *_position(text, "conv4"))
    assert "**stage conv4**" in found
    assert "23 blocks" in found
    assert f"params {torchvision['conv4'].params:,}" in found  # torchvision's layer3, running statistics included
    assert f"MACs {torchvision['conv4'].macs:,}" in found
    assert "(None, 14, 14, 1024)" in found


def test_hover_on_a_block_call_shows_its_blocks_and_the_definition(session: Session):
    text = RESNET101.read_text(encoding="utf-8")
    uri, _ = session.open(RESNET101)
    reference = pytest.importorskip("tests.torch_reference")
    layer3 = reference.constructor("torchvision", "resnet101").layer3
    found = session.hover(uri, *_position(text, "bottleneck(256)"))
    assert "conv4_block2 .. conv4_block23 (22 blocks)" in found
    params = sum(sum(reference.parameter_count(block)) for block in list(layer3)[1:])
    assert f"params {params:,}" in found
    assert "block bottleneck(filters, stride = 1, groups = 1, base_width = 64)" in found
    assert "the stride sits on the 3x3 convolution" in found  # its doc comment, from the prelude


def test_hover_on_a_block_name_shows_signature_and_doc(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    found = session.hover(uri, *_position(LIBRARY, "twin(filters"))
    assert "block twin(filters, stride = 1)" in found
    assert "A block of this library. It says what it is for." in found


def test_hover_on_a_layer_of_a_block_lists_each_use(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    found = session.hover(uri, *_position(LIBRARY, "conv(filters, 1"))
    assert "made 3 times" in found
    assert "(None, 32, 32, 16)" in found and "(None, 16, 16, 32)" in found


def test_hover_on_a_network_name_shows_its_totals(session: Session):
    text = RESNET152.read_text(encoding="utf-8")
    uri, _ = session.open(RESNET152)
    reference = pytest.importorskip("tests.torch_reference")
    trainable, statistics = reference.parameter_count(reference.constructor("torchvision", "resnet152"))
    macs = sum(section.macs for section in reference.sections("torchvision", "resnet152", 224).values())
    found = session.hover(uri, *_position(text, "ResNet152"))
    assert "**network ResNet152**" in found
    assert f"params {trainable + statistics:,} (trainable {trainable:,})" in found
    assert f"MACs {macs:,}" in found
    assert "conv4 (36)" in found


def test_go_to_definition(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    # a block of this file
    found = session.definition(uri, *_position(LIBRARY, "twin(width)"))
    assert found.uri == uri and found.range.start.line == 2
    # a prelude block
    spec = RESNET101.read_text(encoding="utf-8")
    uri101, _ = session.open(RESNET101)
    found = session.definition(uri101, *_position(spec, "bottleneck_projection(128)"))
    assert Path(found.uri.removeprefix("file://")).resolve() == PRELUDE.resolve()
    line = PRELUDE.read_text(encoding="utf-8").splitlines()[found.range.start.line]
    assert line.startswith("block bottleneck_projection = bottleneck(")
    # an imported file, and the base of a derived network
    main_uri, _ = session.open(workspace / "main.arch")
    found = session.definition(main_uri, *_position(MAIN, "lib.arch"))
    assert found.uri == (workspace / "lib.arch").as_uri()
    found = session.definition(main_uri, *_position(MAIN, "Small("))
    assert found.uri == (workspace / "lib.arch").as_uri()
    assert found.range.start.line == LIBRARY.splitlines().index(
        "network Small(input = 32x32x3, classes = 10, width = 16) {"
    )
    # a parameter
    found = session.definition(uri, *_position(LIBRARY, "filters, 3"))
    assert (found.range.start.line, found.range.start.character) == _position(LIBRARY, "filters, stride", shift=0)


def test_completion(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    # layer options and parameters in scope, inside a layer's parentheses
    labels = session.completion(uri, *_position(LIBRARY, "padding=same", shift=0))
    assert {"stride=", "padding=", "groups=", "filters"} <= set(labels)
    assert "twin" not in labels
    # a block's parameters inside a block call
    labels = session.completion(uri, *_position(LIBRARY, "width) * 2", shift=0))
    assert {"filters=", "stride=", "width", "classes"} <= set(labels)
    # block names after a stage label
    text = LIBRARY.replace("  stage s2: twin(2 * width, stride=2)\n", "  stage s2: \n")
    session.change(uri, text)
    labels = session.completion(uri, *_position(text, "stage s2: ", shift=10))
    assert {"twin", "bottleneck", "identity"} <= set(labels)
    assert "conv" not in labels
    # layer names on a new line, even while the text does not parse
    text = LIBRARY.replace("    global_avgpool ->", "    glo\n    global_avgpool ->")
    session.change(uri, text)
    labels = session.completion(uri, *_position(text, "    glo\n", shift=7))
    assert {"global_avgpool", "conv", "bn", "relu", "dense"} <= set(labels)
    session.change(uri, LIBRARY)


def test_formatting_is_fmt(session: Session, workspace: Path):
    messy = "network  N(input=8x8x3){\n stage s :   basic( 4 )   # keep me\n}\n"
    path = workspace / "messy.arch"
    path.write_text(messy, encoding="utf-8")
    uri, _ = session.open(path)
    edits = session.run(
        session.client.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri),
                options=lsp.FormattingOptions(tab_size=2, insert_spaces=True),
            )
        )
    )
    assert len(edits) == 1
    assert edits[0].new_text == format_source(messy)
    assert "# keep me" in edits[0].new_text
    assert (edits[0].range.start.line, edits[0].range.end.line) == (0, 3)


def test_document_symbols(session: Session, workspace: Path):
    uri, _ = session.open(workspace / "lib.arch")
    found = session.run(
        session.client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
        )
    )
    outline = {symbol.name: symbol for symbol in found}
    assert set(outline) == {"twin", "Small"}
    assert outline["twin"].kind == lsp.SymbolKind.Function
    assert [child.name for child in outline["twin"].children] == ["main", "shortcut"]
    assert [child.name for child in outline["Small"].children] == ["stem", "s1", "s2", "head"]
    main_uri, _ = session.open(workspace / "main.arch")
    (derived,) = session.run(
        session.client.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=main_uri))
        )
    )
    assert derived.name == "Wide" and derived.detail == "= Small(...)"


def test_static_commands_do_not_import_pygls(cli):
    result = cli("check", "specs/seed/resnet50.arch", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0
    assert "pygls" not in result.stderr and "lsprotocol" not in result.stderr


def test_without_the_lsp_extra_the_command_says_what_to_install():
    code = "import sys; sys.modules['pygls'] = None; from resnet_dsl.cli import main; sys.exit(main(['lsp']))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "pip install 'resnet-dsl[lsp]'" in result.stderr
    assert "Traceback" not in result.stderr


# Blocks as small graphs (named paths, conditions, values, in_channels), derived blocks and a
# derived network that replaces a stage.
GRAPHS = """\
# A block that projects only where it must.
block unit(filters, stride = 1) {
  project = stride != 1 or in_channels != filters
  main {
    conv(filters, 3, stride=stride, padding=same) -> bn -> relu
  }
  side from main {
    conv(filters, 1) -> bn
  }
  shortcut if project {
    conv(filters, 1, stride=stride) -> bn
  }
  out = add(add(main, side), shortcut) -> relu
}

block down = unit(stride=2)

network Graph(input = 16x16x3, classes = 4) {
  stem {
    c1: conv(8, 3, padding=same) -> relu
  }
  stage s2: unit(8) * 2
  stage s3: down(16), unit(16)
  head {
    global_avgpool -> dense(classes)
  }
}

network Wide = Graph(classes = 10) {
  stage s3: down(32), unit(32)
}
"""


def test_the_server_knows_block_graphs_and_derivations(session: Session, workspace: Path, cli):
    path = workspace / "graphs.arch"
    path.write_text(GRAPHS, encoding="utf-8")
    assert cli("check", str(path)).returncode == 0
    uri, found = session.open(path)
    assert found == []
    graph, wide = (load(path, network=name) for name in ("Graph", "Wide"))
    # a merge nested in `out`: the inner add, once per block of both networks
    found = session.hover(uri, *_position(GRAPHS, "add(main"))
    assert "**s2_block1_add_1** (add) in Graph" in found
    assert "made 8 times" in found
    # a call of a derived block, and the stage a derived network replaces
    block = graph.stages[1].blocks[0]
    names = set(block.layers)
    params = sum(layer.params.total for layer in graph.layers if layer.name in names)
    found = session.hover(uri, *_position(GRAPHS, "down(16)"))
    assert "**s3_block1**: down in Graph" in found and f"params {params:,}" in found
    assert "block down = unit(stride=2)" in found
    layers = [layer for layer in wide.layers if layer.origin.stage == "s3"]
    found = session.hover(uri, *_position(GRAPHS, "s3:", nth=1))
    assert "**stage s3** of Wide" in found and f"params {sum(x.params.total for x in layers):,}" in found
    # definitions: a derived block, its base, a derived network's base
    assert session.definition(uri, *_position(GRAPHS, "down(16)")).range.start.line == 15
    assert session.definition(uri, *_position(GRAPHS, "unit(stride=2)")).range.start.line == 1
    assert session.definition(uri, *_position(GRAPHS, "Graph(classes")).range.start.line == 17
    # completion inside a block: its parameters, in_channels and its values
    labels = session.completion(uri, *_position(GRAPHS, "padding=same) -> bn -> relu", shift=0))
    assert {"filters", "stride", "in_channels", "project", "padding="} <= set(labels)
    # the outline: a block's paths with their sources and conditions; derived items
    outline = {
        symbol.name: symbol
        for symbol in session.run(
            session.client.text_document_document_symbol_async(
                lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
            )
        )
    }
    paths = [(child.name, child.detail) for child in outline["unit"].children]
    assert paths == [("main", None), ("side", "from main"), ("shortcut", "if project")]
    assert outline["down"].detail == "block down = unit(stride=2)"
    assert [child.name for child in outline["Wide"].children] == ["s3"]


def test_a_bug_in_the_checker_becomes_a_diagnostic_not_silence(monkeypatch: pytest.MonkeyPatch):
    from resnet_dsl.integrations import lsp as server
    from resnet_dsl.integrations.lsp import analysis

    def broken(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr(analysis, "expand", broken)
    (found,) = server.diagnostics(server.analyze("/tmp/x.arch", "network N(input = 8x8x3) { }\n"))
    assert found.message.startswith("internal error: KeyError: 'boom'")
    assert found.range.start.line == 0


def test_every_position_of_every_shipped_spec_answers_without_error():
    """Hover, definition and completion at each word of each shipped spec (the prelude and the
    zoo included), and the outline and formatting of each: no exception, no diagnostic."""
    import re

    from resnet_dsl.integrations import lsp as server

    files = sorted([*REPO.glob("specs/**/*.arch"), PRELUDE, *REPO.glob("tests/specs/**/*.arch")])
    hovered = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        analysis = server.analyze(str(path), text)
        assert server.diagnostics(analysis) == [], path
        assert server.symbols(analysis), path
        assert server.formatting(analysis) == [], f"{path} is not formatted"
        for number, line in enumerate(text.split("\n"), 1):
            for word in re.finditer(r"\S+", line):
                column = word.start() + 1
                hovered += server.hover(analysis, number, column) is not None
                server.definition(analysis, number, column)
                server.completion(analysis, number, column)
    assert hovered > 500  # layers, block calls, stages, block and network names


# A document with three errors in three definitions, and two definitions that are fine.
BROKEN = """\
block wide(filters {
  main {
    conv(filters, 3, padding=same) -> bn -> relu
  }
  out = add(main, shortcut) -> relu
}

network First(input = 16x16x3) {
  stem {
    c1: conv(8, 3, padding=same) -> relu
  }
  stage s1: basic(8) * 2
  stage s2: basci(16, stride=2)
  stage s3: basic(32, stride=2)
}

network  Fine( input = 16x16x3,classes = 4 ) {
  stage s1: basic(8), basic(8)
  head {
    global_avgpool -> dense(classes)
  }
}

network Third(input = 16x16x3) {
  stage t1: basic(8) -> relu
}
"""


def _alone(name: str) -> str:
    """The definition of `name` in BROKEN, as a file of its own."""
    start = BROKEN.index(f"network {name}") if f"network {name}" in BROKEN else BROKEN.index(f"network  {name}")
    end = BROKEN.find("\n\n", start)
    return BROKEN[start : end if end > 0 else len(BROKEN)] + "\n"


def test_every_error_of_a_document_at_once_each_where_check_puts_it(tmp_path: Path, cli):
    from resnet_dsl.integrations import lsp as server

    analysis = server.analyze(str(tmp_path / "broken.arch"), BROKEN)
    found = server.diagnostics(analysis)
    assert len(found) == 3, [d.message for d in found]
    # each as `resnet-dsl check` reports it for the definition on its own (same message, same place)
    lines = BROKEN.split("\n")
    for diagnostic, name, first_line in zip(found, ["wide", "First", "Third"], [0, 7, 23], strict=True):
        text = "\n" * first_line + "\n".join(lines[first_line:]).split("\n\n")[0] + "\n"
        alone = tmp_path / f"{name}.arch"
        alone.write_text(text, encoding="utf-8")
        check = cli("check", str(alone))
        assert check.returncode == 1
        start = diagnostic.range.start
        assert f"{alone.name}:{start.line + 1}:{start.character + 1}: error: {diagnostic.message.splitlines()[0]}" in (
            check.stderr
        ), (check.stderr, diagnostic.message)


def test_the_parts_that_are_fine_keep_hover_definition_and_symbols(tmp_path: Path):
    from resnet_dsl.integrations import lsp as server

    analysis = server.analyze(str(tmp_path / "broken.arch"), BROKEN)
    # a network without errors: its stage, as the network loaded on its own
    fine_file = tmp_path / "fine.arch"
    fine_file.write_text(_alone("Fine"))
    fine = load(fine_file)
    layers = [layer for layer in fine.layers if layer.origin.stage == "s1"]
    found = server.hover(analysis, *_one_based(BROKEN, "s1: basic(8), "))
    assert "**stage s1** of Fine" in found and f"params {sum(x.params.total for x in layers):,}" in found
    # a network with an error in its second stage: its stem and first stage are exact
    first_file = tmp_path / "first.arch"
    later_stages = "  stage s2: basci(16, stride=2)\n  stage s3: basic(32, stride=2)\n"
    first_file.write_text(_alone("First").replace(later_stages, ""))
    first = load(first_file)
    found = server.hover(analysis, *_one_based(BROKEN, "s1: basic(8) * 2"))
    assert "**stage s1** of First" in found
    assert _shape_text(first.stages[0].blocks[-1].output_shape) in found
    found = server.hover(analysis, *_one_based(BROKEN, "conv(8, 3"))
    assert f"params {first.layer('c1_conv').params.total:,}" in found
    assert server.hover(analysis, *_one_based(BROKEN, "s3: basic(32")) is None  # after the error: unknown
    found = server.hover(analysis, *_one_based(BROKEN, "First("))
    assert "has errors" in found
    # a prelude block's definition, its docs; the outline of every definition that parsed
    location = server.definition(analysis, *_one_based(BROKEN, "basic(8), basic"))
    assert location.uri.endswith("prelude.arch")
    assert [symbol.name for symbol in server.symbols(analysis)] == ["First", "Fine"]  # Third does not parse
    labels = {item.label for item in server.completion(analysis, *_one_based(BROKEN, "basic(8) * 2", 6))}
    assert {"filters=", "stride="} <= labels


def test_formatting_formats_the_definitions_that_parse_and_leaves_the_others(tmp_path: Path):
    from resnet_dsl.integrations import lsp as server

    analysis = server.analyze(str(tmp_path / "broken.arch"), BROKEN)
    edits = server.formatting(analysis)
    assert len(edits) == 1  # only Fine is not laid out as fmt would
    (edit,) = edits
    assert edit.new_text.rstrip("\n") == format_source(_alone("Fine")).rstrip("\n")
    assert edit.range.start.line == BROKEN.split("\n").index("network  Fine( input = 16x16x3,classes = 4 ) {")
    lines = BROKEN.split("\n")
    after = lines[: edit.range.start.line] + edit.new_text.split("\n")[:-1] + lines[edit.range.end.line :]
    assert "block wide(filters {" in after and "  stage t1: basic(8) -> relu" in after


def test_hover_on_a_block_lists_each_parameter_on_its_own_line(tmp_path: Path):
    from resnet_dsl.integrations import lsp as server

    text = (REPO / "specs" / "seed" / "resnet50.arch").read_text(encoding="utf-8")
    analysis = server.analyze(str(REPO / "specs" / "seed" / "resnet50.arch"), text)
    found = server.hover(analysis, *_one_based(text, "identity(3, [64"))
    prelude = PRELUDE.read_text(encoding="utf-8")
    for name in ("f", "filters", "init", "training"):
        doc = next(line for line in prelude.splitlines() if line.startswith(f"# {name}: "))
        assert f"\n- `{name}`: {doc.split(': ', 1)[1]}\n" in found + "\n"


def test_imports_see_the_editors_unsaved_buffers(session: Session, workspace: Path):
    (workspace / "buffer_lib.arch").write_text(LIBRARY, encoding="utf-8")
    (workspace / "buffer_main.arch").write_text(MAIN.replace("lib.arch", "buffer_lib.arch"), encoding="utf-8")
    library_uri, _ = session.open(workspace / "buffer_lib.arch", LIBRARY.replace("network Small", "network Smol"))
    main_uri, (error,) = session.open(workspace / "buffer_main.arch")
    assert "unknown network 'Small'" in error.message  # the buffer, not the file on disk
    seen = len(session.diagnostics[main_uri])
    session.change(library_uri, LIBRARY)  # the importer is checked again, against the new buffer
    assert session.wait_for_diagnostics(main_uri, seen + 1) == []


def test_a_session_shows_every_error_and_hovers_the_rest(session: Session, workspace: Path):
    path = workspace / "broken.arch"
    path.write_text(BROKEN, encoding="utf-8")
    uri, found = session.open(path)
    assert len(found) == 3
    assert "**stage s1** of Fine" in session.hover(uri, *_position(BROKEN, "s1: basic(8), "))


def _one_based(text: str, needle: str, shift: int = 1) -> tuple[int, int]:
    line, character = _position(text, needle, shift=shift)
    return line + 1, character + 1


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(None, " + ", ".join(map(str, shape)) + ")"


# One definition, three mistakes: each line as written, and as it should be.
MISTAKES = [
    ("  stem { conv(16, 3,, stride=2) -> bn -> relu }", "  stem { conv(16, 3, stride=2) -> bn -> relu }"),
    ("  stage b: basic(32 stride=2), basic(32)", "  stage b: basic(32, stride=2), basic(32)"),
    ("  head { global_avgpool -> dense(10 }", "  head { global_avgpool -> dense(10) }"),
]
SEVERAL = "network N(input = 8x8x3) {\n{0}\n  stage a: basic(16) * 2\n{1}\n  stage c: basic(64)\n{2}\n}\n"


def test_every_syntax_error_of_one_definition_each_as_the_parser_finds_it_once_those_before_are_fixed(tmp_path: Path):
    from resnet_dsl.integrations import lsp as server
    from resnet_dsl.language.parser import parse

    written = SEVERAL.replace("{0}", MISTAKES[0][0]).replace("{1}", MISTAKES[1][0]).replace("{2}", MISTAKES[2][0])
    found = server.diagnostics(server.analyze(str(tmp_path / "n.arch"), written))
    assert len(found) == len(MISTAKES), [d.message for d in found]
    for index, diagnostic in enumerate(found):
        lines = [fixed if number < index else wrong for number, (wrong, fixed) in enumerate(MISTAKES)]
        text = SEVERAL.replace("{0}", lines[0]).replace("{1}", lines[1]).replace("{2}", lines[2])
        with pytest.raises(ArchError) as error:
            parse(text, "n.arch")
        span = error.value.span
        assert (diagnostic.range.start.line + 1, diagnostic.range.start.character + 1) == (span.line, span.column)
        assert diagnostic.message.splitlines()[0] == error.value.message
    fixed = SEVERAL.replace("{0}", MISTAKES[0][1]).replace("{1}", MISTAKES[1][1]).replace("{2}", MISTAKES[2][1])
    assert server.diagnostics(server.analyze(str(tmp_path / "n.arch"), fixed)) == []


def test_an_error_that_leaves_a_bracket_open_is_not_followed_by_the_errors_it_causes(tmp_path: Path):
    """`basic(64` left open: the parser stumbles on the next line; that one error, not one per line after it."""
    from resnet_dsl.integrations import lsp as server

    text = "network N(input = 8x8x3) {\n  stage c: basic(64\n  stage d: basic(64)\n  stage e: basic(64)\n}\n"
    found = server.diagnostics(server.analyze(str(tmp_path / "n.arch"), text))
    assert [(d.range.start.line + 1, d.message.split(";")[0]) for d in found] == [(3, "unexpected 'stage'")]
