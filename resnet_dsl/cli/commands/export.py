"""`resnet-dsl export FILE --format onnx -o OUT.onnx [--weights STATE.pt] [--fold]`: a deployable file.

The torch model of the spec (`to_torch`, in eval mode; `--weights` loads a state_dict first, as
`build --target torch --save` writes it; `--fold` then folds each BatchNorm into its
convolution) exported through `torch.export` and `torch.onnx.export`, any batch size
(`backends/torch_export.py`). Every failure is one located message and exit 1: a spec error, a
layer torch cannot build, a weights file that does not fit, an export torch refuses. The file is
written whole or not at all (`write_output`), so a failure half-way through leaves nothing
behind, and an existing file stays as it was.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any

from resnet_dsl.cli.commands.common import guarded, load_network
from resnet_dsl.cli.output import check_target, write_output
from resnet_dsl.language.errors import ArchError
from resnet_dsl.language.ir import Span

if TYPE_CHECKING:
    from resnet_dsl.network.model import Network

TORCH_INSTALL_HINT = "PyTorch is required for 'export': pip install \"resnet-dsl[torch,onnx]\""
LAYER_NAMED = re.compile(r"layer '([^']+)'")


@guarded
def run(args: argparse.Namespace) -> int:
    network = load_network(args)
    check_target(args.output, inputs=(args.file,))  # a bad target fails now, not after the export
    try:
        from resnet_dsl.backends import torch_export
        from resnet_dsl.backends.torch import to_torch
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "torch":
            raise
        print(TORCH_INSTALL_HINT, file=sys.stderr)
        return 1
    try:
        model = to_torch(network)
    except NotImplementedError as error:
        raise _located(network, args.file, str(error)) from None
    if args.weights:
        _load_weights(model, network, args.weights)
    if args.fold:
        from resnet_dsl.backends.torch_fold import fold

        model = fold(model, network, inplace=True)
    print(f"exporting {network.name} ({args.file}) to {args.format}...", file=sys.stderr, flush=True)

    def write(path: Any) -> None:
        try:
            torch_export.to_onnx(torch_export.exported(model, network), path)
        except ModuleNotFoundError as error:
            if error.name not in {"onnx", "onnxscript"}:
                raise
            raise ArchError(str(error), Span(file=args.file), 'pip install "resnet-dsl[onnx]"') from None
        except Exception as error:  # torch's exporters raise many kinds; each is one message here
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            message = f"torch cannot export {network.name} to {args.format}: {first}"
            raise ArchError(message, Span(file=args.file)) from error

    write_output(args.output, write, inputs=(args.file,))
    print(f"wrote {args.output}")
    return 0


def _located(network: Network, file: str, message: str) -> ArchError:
    """A layer torch cannot build, pointed at where the spec makes it."""
    match = LAYER_NAMED.search(message)
    names = {layer.name for layer in network.layers}
    if match and match.group(1) in names:
        return ArchError(message.partition(": ")[2] or message, network.layer(match.group(1)).span)
    return ArchError(message, Span(file=file))


def _load_weights(model: Any, network: Network, path: str) -> None:
    """Load a state_dict into the model, or say in one line why it cannot be."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ArchError("cannot read the weights: no such file", Span(file=path)) from None
    except Exception as error:
        raise ArchError(
            f"cannot read the weights: not a file torch.save wrote ({type(error).__name__})",
            Span(file=path),
            "a state_dict saved with torch.save, e.g. by build --target torch --save",
        ) from None
    if not isinstance(state, dict):
        raise ArchError(f"the weights are a {type(state).__name__}, not a state_dict", Span(file=path))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        detail = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise ArchError(
            f"the weights do not fit {network.name}: {detail}",
            Span(file=path),
            "weights saved from a model of the same spec and --set values",
        ) from None
