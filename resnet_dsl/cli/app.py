"""`resnet-dsl`: argument parsing and exit codes only.

Each command lives in `resnet_dsl.commands.<name>` as `run(args) -> int` and is
imported only when called, so `check` and `summary` never pay for TensorFlow or Jinja.
Exit codes: 0 ok, 1 findings or errors in the input, 2 usage.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from resnet_dsl import __version__
from resnet_dsl.cli.closed_pipe import guarded


def _spec_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        type=_assignment,
        default=[],
        metavar="NAME=VALUE",
        help="override a network parameter, e.g. --set classes=10 --set input=224x224x3",
    )
    parser.add_argument("--network", metavar="NAME", help="the network to use, where a file defines several")


def _target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", choices=("keras", "torch"), default="keras", help="the framework (default: keras)")


def _output_path(text: str) -> str:
    """An output path; an empty one is a usage error (exit 2), not a file named ''."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file (use - for standard output)")
    return text


MAX_BATCH = 2**31 - 1
"""The largest `--batch`: memory figures multiply it, and must stay exact and printable."""


def _positive(text: str) -> int:
    try:
        value = int(text) if len(text) <= 20 else 0  # 310 digits overflowed the memory figures
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_BATCH:
        raise argparse.ArgumentTypeError(f"expected a positive integer up to {MAX_BATCH:,}, got {text[:30]!r}")
    return value


def _assignment(text: str) -> str:
    """`--set NAME=VALUE`, its form checked here so a malformed one is a usage error (exit 2)."""
    key, sep, _ = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"takes name=value, e.g. --set classes=10, got {text[:30]!r}")
    return text


def _path(text: str) -> str:
    """A FILE argument: an empty one would silently mean the current directory."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path names no file")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resnet-dsl",
        description="Describe residual networks in .arch files; check, summarize, build and generate them.",
    )
    parser.add_argument("--version", action="version", version=f"resnet-dsl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser("check", help="validate specs (exit 1 if any has errors)")
    check.add_argument("files", nargs="+", type=_path, metavar="FILE|DIR")

    summary = commands.add_parser("summary", help="per stage: output shape, parameters, MACs, receptive field, memory")
    summary.add_argument("file", type=_path, metavar="FILE")
    summary.add_argument("--layers", action="store_true", help="one row per layer instead of per stage")
    summary.add_argument("--json", action="store_true", help="print a JSON object (layers and stages) instead")
    summary.add_argument(
        "--batch",
        type=_positive,
        default=32,
        metavar="N",
        help="the batch size of the training-step memory figure (default: 32)",
    )
    _spec_options(summary)

    blocks = commands.add_parser("blocks", help="the blocks a spec can call (the prelude's), with their docs")
    blocks.add_argument("file", nargs="?", type=_path, metavar="FILE", help="also list this spec's own blocks")
    blocks.add_argument("--markdown", action="store_true", help="as the README's table")

    ir = commands.add_parser("ir", help="print the expanded, validated network as JSON")
    ir.add_argument("file", type=_path, metavar="FILE")
    _spec_options(ir)

    build = commands.add_parser("build", help="build the Keras (or torch) model (needs the keras or torch extra)")
    build.add_argument("file", type=_path, metavar="FILE")
    build.add_argument(
        "--save",
        type=_output_path,
        metavar="PATH",
        help="save the model: model.keras, or model.pt with --target torch (written atomically)",
    )
    build.add_argument("--keras-summary", action="store_true", help="also print Keras's per-layer table")
    build.add_argument("--verbose", action="store_true", help="keep TensorFlow's start-up messages")
    build.add_argument(
        "--print-module", action="store_true", help="with --target torch: print the whole module as torch prints it"
    )
    _target_option(build)
    _spec_options(build)

    generate = commands.add_parser("generate", help="write standalone Keras (or PyTorch) source that builds the model")
    generate.add_argument("file", type=_path, metavar="FILE")
    _target_option(generate)
    generate.add_argument(
        "-o", "--output", type=_output_path, metavar="OUT.py", help="where to write it (default: standard output)"
    )
    generate.add_argument("--check", action="store_true", help="exit 1 if OUT.py is not up to date; write nothing")
    generate.add_argument(
        "--fold", action="store_true", help="with --target torch: add build_inference_model(), BatchNorms folded"
    )
    _spec_options(generate)

    export = commands.add_parser(
        "export", help="write the torch model as a deployable file: ONNX (needs the onnx extra)"
    )
    export.add_argument("file", type=_path, metavar="FILE")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="the file's format (default: onnx)")
    export.add_argument("-o", "--output", type=_output_path, required=True, metavar="OUT.onnx")
    export.add_argument("--weights", metavar="STATE.pt", help="a state_dict to load first (as build --save writes it)")
    export.add_argument(
        "--fold", action="store_true", help="fold each BatchNorm into its convolution, drop dropout (inference only)"
    )
    _spec_options(export)

    fmt = commands.add_parser("fmt", help="lay specs out canonically, in place")
    fmt.add_argument("files", nargs="+", type=_path, metavar="FILE|DIR")
    fmt.add_argument("--check", action="store_true", help="exit 1 and name the files that would change")
    fmt.add_argument("--diff", action="store_true", help="show what would change as a unified diff")

    diff = commands.add_parser("diff", help="what changed in the network between two specs")
    diff.add_argument("old", type=_path, metavar="OLD")
    diff.add_argument("new", type=_path, metavar="NEW")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    diff.add_argument(
        "--picture", action="store_true", help="with --format markdown: add a Mermaid picture of the changed stages"
    )
    _spec_options(diff)

    graph = commands.add_parser("graph", help="draw the network (.dot or Mermaid .mmd; .svg/.png with Graphviz)")
    graph.add_argument("file", type=_path, metavar="FILE")
    graph.add_argument("-o", "--output", type=_output_path, required=True, metavar="OUT.{dot,mmd,svg,png}")
    graph.add_argument(
        "--format", choices=("dot", "mermaid", "svg", "png"), help="the picture's format (default: from OUT's suffix)"
    )
    graph.add_argument("--expand", action="store_true", help="draw every layer, not one node per stage")
    _spec_options(graph)

    describe = commands.add_parser("describe", help="the network as canonical text, one line per block (git textconv)")
    describe.add_argument("file", type=_path, metavar="FILE")
    describe.add_argument(
        "--textconv",
        action="store_true",
        help="for git's diff.arch.textconv: never fail; show a spec that cannot be expanded as its canonical text",
    )
    _spec_options(describe)

    zoo = commands.add_parser("zoo", help="every shipped network, by the name that loads it from anywhere")
    zoo.add_argument("--markdown", action="store_true", help="as the README's table")

    commands.add_parser("lsp", help="run the language server on standard input/output (needs the lsp extra)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = importlib.import_module(f"resnet_dsl.cli.commands.{args.command}")
    try:
        with guarded(sys):  # a reader that leaves early (`| head`) changes nothing but the output
            status = command.run(args)
            sys.stdout.flush()  # here, not at exit, so a full disk is reported, not a traceback
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise
        from resnet_dsl.cli.output import stdout_failed  # standard output is full: say so, no traceback

        print(stdout_failed(error).render(), file=sys.stderr)
        return getattr(command, "ERROR_STATUS", 1)


if __name__ == "__main__":
    sys.exit(main())
