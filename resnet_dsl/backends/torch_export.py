"""A torch model of a network -> a deployable graph: `torch.export` and ONNX (the `onnx` extra).

One capture serves both: `exported(model, network)` runs `torch.export.export` on an example
batch of the network's input shape with the batch size left free (`Dim("batch")`), and
`to_onnx` hands that program to `torch.onnx.export` (the dynamo exporter, onnxscript's
translation) and saves one self-contained file. Either back end's module works: `to_torch`'s
or a generated one, folded or not; the model is exported in `eval()` mode, as it is deployed.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from resnet_dsl.network.api import Spec, resolve

INPUT_NAME = "input"
OUTPUT_NAME = "output"
EXAMPLE_BATCH = 2
"""The example's batch: 2, not 1, which `torch.export` would specialize on."""
ONNX_INSTALL_HINT = 'ONNX export needs onnx and onnxscript: pip install "resnet-dsl[onnx]"'


def example_input(spec: Spec, batch: int = EXAMPLE_BATCH, **load_kwargs: Any) -> torch.Tensor:
    """A seeded random NCHW batch of the network's input shape (the IR's is NHWC)."""
    network = resolve(spec, **load_kwargs)
    *spatial, channels = network.input_shape
    shape = (batch, channels, *spatial) if spatial else (batch, channels)
    return torch.rand(shape, generator=torch.Generator().manual_seed(0))


def exported(model: nn.Module, spec: Spec, **load_kwargs: Any) -> torch.export.ExportedProgram:
    """`torch.export.export` of `model` in eval mode, for any batch size."""
    example = example_input(spec, **load_kwargs)
    batch = torch.export.Dim("batch")
    return torch.export.export(model.eval(), (example,), dynamic_shapes=({0: batch},))


def to_onnx(program: torch.export.ExportedProgram, path: str | os.PathLike[str]) -> None:
    """Write an exported model (`exported`) to `path` as one ONNX file, its input named `input`
    (NCHW, any batch size) and its output `output`."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs both, and says so less plainly)
        import onnxscript  # noqa: F401
    except ModuleNotFoundError as missing:
        raise ModuleNotFoundError(ONNX_INSTALL_HINT, name=missing.name) from None
    onnx_program = torch.onnx.export(
        program, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamo=True, verbose=False
    )
    assert onnx_program is not None
    onnx_program.save(os.fspath(path), external_data=False)
