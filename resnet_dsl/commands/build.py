"""`resnet-dsl build FILE [--save PATH] [--keras-summary] [--verbose]`: the Keras model.

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

from resnet_dsl.commands.common import USAGE, guarded, load_network
from resnet_dsl.output import check_target, write_output
from resnet_dsl.quiet import quiet_stderr
from resnet_dsl.summary import render_stages

INSTALL_HINT = "TensorFlow is required for 'build': pip install \"resnet-dsl[keras]\""
KERAS_SUFFIX = ".keras"


@guarded
def run(args: argparse.Namespace) -> int:
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
        from resnet_dsl import keras_backend
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] in {"tensorflow", "keras"}:
            return None
        raise
    return keras_backend
