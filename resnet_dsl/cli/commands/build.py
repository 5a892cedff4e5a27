"""`resnet-dsl build FILE [--target keras|torch] [--save PATH] [--keras-summary] [--verbose]`: the model.

Keras by default; `--target torch` builds the torch module instead: the per-stage summary, the
module's top-level children and its parameter and buffer counts (`--print-module`: the whole
module as torch prints it; `--save model.pt` writes its state_dict).

The spec is loaded and checked before TensorFlow is imported, so a spec error is
reported in a fraction of a second, and without TensorFlow installed the command
says how to get it instead of failing with a traceback. TensorFlow's start-up noise is
silenced unless `--verbose` (see `resnet_dsl.quiet`); the command says what it is doing
while TensorFlow loads, then prints the tool's per-stage summary (`--keras-summary`
adds Keras's own per-layer table). Both targets take one path, from the checks to the save;
a `Target` holds what differs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

from resnet_dsl.analysis.summary import render_stages
from resnet_dsl.cli.commands.common import USAGE, guarded, load_network
from resnet_dsl.cli.output import check_target, write_output
from resnet_dsl.cli.quiet import quiet_stderr

if TYPE_CHECKING:
    from resnet_dsl.network.model import Network

INSTALL_HINT = "TensorFlow is required for 'build': pip install \"resnet-dsl[keras]\""
TORCH_INSTALL_HINT = "PyTorch is required for 'build --target torch': pip install \"resnet-dsl[torch]\""
KERAS_SUFFIX = ".keras"
TORCH_SUFFIX = ".pt"

Save = Callable[[str], Any]
"""Writes the model to a path (`write_output` hands it a temporary one beside the target)."""


@dataclass(frozen=True)
class Target:
    """What differs between the targets; `run` does the rest the same way for both."""

    suffix: str
    install_hint: str
    backend: Callable[[], ModuleType]
    """Imports the module of `resnet_dsl.backends` that builds the model."""
    frameworks: frozenset[str]
    """Top-level packages whose absence means the target is not installed (any other is a bug)."""
    build: Callable[[ModuleType, Network, argparse.Namespace, TextIO], Save]
    """Builds the model, prints what the user sees of it, and returns how to save it."""
    loading: str | None = None
    """A framework slow and noisy to start: announced, and its stderr silenced unless --verbose."""


def _keras_backend() -> ModuleType:
    from resnet_dsl.backends import keras

    return keras


def _torch_backend() -> ModuleType:
    from resnet_dsl.backends import torch

    return torch


def _build_keras(backend: ModuleType, network: Network, args: argparse.Namespace, stderr: TextIO) -> Save:
    print(f"building the Keras model {network.name}...", file=stderr, flush=True)
    model = backend.to_keras(network)
    print(render_stages(network), flush=True)
    if args.keras_summary:
        model.summary()
    return model.save  # Keras picks the format from the suffix, so the temporary file keeps `.keras`.


def _build_torch(backend: ModuleType, network: Network, args: argparse.Namespace, stderr: TextIO) -> Save:
    import torch

    model = backend.to_torch(network)
    parameters = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    if getattr(args, "print_module", False):
        print(model)
    else:  # one screen: the per-stage summary, then what torch built, counted from the module
        print(render_stages(network))
        children = [name for name, _ in model.named_children()]
        print(f"torch module {type(model).__name__}: {', '.join(children)} (--print-module prints it whole)")
    print(f"Parameters: {parameters:,}  Buffers: {buffers:,}")
    return lambda path: torch.save(model.state_dict(), path)


TARGETS = {
    "keras": Target(
        suffix=KERAS_SUFFIX,
        install_hint=INSTALL_HINT,
        backend=_keras_backend,
        frameworks=frozenset({"tensorflow", "keras"}),
        build=_build_keras,
        loading="TensorFlow",
    ),
    "torch": Target(
        suffix=TORCH_SUFFIX,
        install_hint=TORCH_INSTALL_HINT,
        backend=_torch_backend,
        frameworks=frozenset({"torch"}),
        build=_build_torch,
    ),
}


@guarded
def run(args: argparse.Namespace) -> int:
    target = TARGETS[args.target or "keras"]
    if args.save and Path(args.save).suffix != target.suffix:
        print(f"resnet-dsl build: error: --save PATH must end in {target.suffix}, got {args.save}", file=sys.stderr)
        return USAGE
    network = load_network(args)
    if args.save:
        check_target(args.save, inputs=(args.file,))  # a bad target fails now, not after building the model
    if target.loading:
        print(
            f"{network.name} ({args.file}): {len(network.layers)} layers checked; loading {target.loading}...",
            file=sys.stderr,
        )
    with quiet_stderr(enabled=bool(target.loading) and not args.verbose) as stderr:
        backend = _backend(target)
        if backend is None:
            print(target.install_hint, file=stderr)
            return 1
        save = target.build(backend, network, args, stderr)
        if args.save:
            write_output(args.save, save, inputs=(args.file,))
            print(f"Saved {args.save}")
    return 0


def _backend(target: Target) -> ModuleType | None:
    """The target's back end, or None when its framework cannot be imported."""
    try:
        return target.backend()
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in target.frameworks:
            return None
        raise
