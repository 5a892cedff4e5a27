"""`resnet-dsl build FILE [--target keras|torch] [--save PATH] [--keras-summary] [--verbose]`: the model.

Keras by default; `--target torch` builds the torch module instead: the per-stage summary, the
module's top-level children and its parameter and buffer counts (`--print-module`: the whole
module as torch prints it; `--save model.pt` writes its state_dict).

The spec is loaded and checked before TensorFlow is imported, so a spec error is
reported in a fraction of a second, and without TensorFlow installed the command
says how to get it instead of failing with a traceback. TensorFlow's start-up noise is
silenced unless `--verbose` (see `resnet_dsl.quiet`); the command says what it is doing
while TensorFlow loads, then prints the tool's per-stage summary (`--keras-summary`
adds Keras's own per-layer table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

from resnet_dsl.analysis.summary import render_stages
from resnet_dsl.cli.commands.common import USAGE, guarded, load_network
from resnet_dsl.cli.output import check_target, write_output
from resnet_dsl.cli.quiet import quiet_stderr

INSTALL_HINT = "TensorFlow is required for 'build': pip install \"resnet-dsl[keras]\""
TORCH_INSTALL_HINT = "PyTorch is required for 'build --target torch': pip install \"resnet-dsl[torch]\""
KERAS_SUFFIX = ".keras"
TORCH_SUFFIX = ".pt"


@guarded
def run(args: argparse.Namespace) -> int:
    if args.target == "torch":
        return _run_torch(args)
    if args.save and Path(args.save).suffix != KERAS_SUFFIX:
        print(f"resnet-dsl build: error: --save PATH must end in {KERAS_SUFFIX}, got {args.save}", file=sys.stderr)
        return USAGE
    network = load_network(args)
    if args.save:
        check_target(args.save)  # a bad target fails now, not after building the model
    print(f"{network.name} ({args.file}): {len(network.layers)} layers checked; loading TensorFlow...", file=sys.stderr)
    with quiet_stderr(enabled=not args.verbose) as stderr:
        backend = _keras_backend()
        if backend is None:
            print(INSTALL_HINT, file=stderr)
            return 1
        print(f"building the Keras model {network.name}...", file=stderr, flush=True)
        model = backend.to_keras(network)
        print(render_stages(network), flush=True)
        if args.keras_summary:
            model.summary()
        if args.save:
            # Keras picks the format from the suffix, so the temporary file keeps `.keras`.
            write_output(args.save, model.save)
            print(f"Saved {args.save}")
    return 0


def _keras_backend() -> ModuleType | None:
    """The Keras back end, or None when TensorFlow/Keras cannot be imported."""
    try:
        from resnet_dsl.backends import keras as keras_backend
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in {"tensorflow", "keras"}:
            return None
        raise
    return keras_backend


def _run_torch(args: argparse.Namespace) -> int:
    if args.save and Path(args.save).suffix != TORCH_SUFFIX:
        print(f"resnet-dsl build: error: --save PATH must end in {TORCH_SUFFIX}, got {args.save}", file=sys.stderr)
        return USAGE
    network = load_network(args)
    if args.save:
        check_target(args.save)  # a bad target fails now, not after building the model
    try:
        from resnet_dsl.backends import torch as torch_backend
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] == "torch":
            print(TORCH_INSTALL_HINT, file=sys.stderr)
            return 1
        raise
    import torch

    model = torch_backend.to_torch(network)
    parameters = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    if getattr(args, "print_module", False):
        print(model)
    else:  # one screen: the per-stage summary, then what torch built, counted from the module
        print(render_stages(network))
        children = [name for name, _ in model.named_children()]
        print(f"torch module {type(model).__name__}: {', '.join(children)} (--print-module prints it whole)")
    print(f"Parameters: {parameters:,}  Buffers: {buffers:,}")
    if args.save:
        write_output(args.save, lambda path: torch.save(model.state_dict(), path))
        print(f"Saved {args.save}")
    return 0
