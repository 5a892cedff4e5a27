"""`resnet-dsl generate FILE [--target keras|torch] [--fold] [-o OUT.py] [--check]`: standalone source.

Keras source by default; `--target torch` writes a PyTorch module instead (text only: torch
need not be installed); `--fold` adds `build_inference_model()`, BatchNorms folded (`codegen/torch_fold.py`).

Without `-o` the source goes to standard output. With it, the file is written whole or
not at all, so a spec error never leaves a truncated module behind. `--check` writes
nothing and exits 1 when OUT.py is missing or differs from what would be generated, for
CI jobs that keep generated code in the repository. Neither TensorFlow nor torch is imported.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
from pathlib import Path

from resnet_dsl import codegen
from resnet_dsl.cli.commands.common import USAGE, guarded, load_network
from resnet_dsl.cli.output import STDOUT, write_output
from resnet_dsl.language.errors import printable


@guarded
def run(args: argparse.Namespace) -> int:
    if args.check and args.output in (None, STDOUT):
        print("resnet-dsl generate: error: --check needs -o OUT.py, the file to compare", file=sys.stderr)
        return USAGE
    if args.fold and args.target != "torch":
        print("resnet-dsl generate: error: --fold needs --target torch", file=sys.stderr)
        return USAGE
    source = codegen.render(load_network(args), Path(args.file).as_posix(), args.target, args.fold)
    if args.check:
        return _check(Path(args.output), source)
    write_output(args.output or STDOUT, source, inputs=(args.file,))
    if args.output not in (None, STDOUT):
        print(f"wrote {args.output}")
    return 0


def _check(path: Path, source: str) -> int:
    """Compare bytes, so a line-ending or encoding change counts as out of date too."""
    try:
        current = _read_regular(path)
    except FileNotFoundError:
        print(f"{path}: missing; run resnet-dsl generate to write it", file=sys.stderr)
        return 1
    except OSError as error:  # a directory, a FIFO, a symlink loop, no permission: no traceback
        print(f"{printable(str(path))}: error: cannot read: {error.strerror or error}", file=sys.stderr)
        return 1
    if current != source.encode("utf-8"):
        print(f"{path}: out of date; run resnet-dsl generate to update it", file=sys.stderr)
        return 1
    return 0


def _read_regular(path: Path) -> bytes:
    """The file's bytes; anything but a regular file is an `OSError` at once (a FIFO's `open`
    would wait for a writer, so it is opened without blocking and refused)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "it is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)
