"""Network -> the generated PyTorch module with inference folding (`generate --target torch --fold`).

The module `codegen.torch` writes, unchanged (so `build_model()` and its state_dict keys stay
torchvision's, and trained weights load as before), then `build_inference_model(state_dict)`:
the model with those weights, each BatchNorm folded into the convolution before it and each
dropout made the identity, for eval() only. Which modules fold is data, a table from
`fold_plan` (the network's layer graph, named by the layout); the folding code is
`backends/torch_fold.py`'s, copied as source, so both back ends fold alike. No torch here.
"""

from __future__ import annotations

from collections.abc import Iterable

from resnet_dsl.backends.fold_plan import fold_plan
from resnet_dsl.codegen import torch as torch_codegen
from resnet_dsl.codegen.pysource import py_string
from resnet_dsl.codegen.torch_helpers import BACKENDS, definitions
from resnet_dsl.codegen.views import LINE_LENGTH
from resnet_dsl.network import model as nw

HELPERS = ("fold_batchnorms_", "become_identity_")
"""`backends/torch_fold.py`'s standalone helpers, in the order of its source."""

SECTION = '''

# Inference folding (generate --fold): `build_inference_model` returns the model above
# with each BatchNorm folded into the convolution before it, for eval() only.

{folds}
"""(a convolution's module path, the BatchNorm folded into it)."""

{identities}
"""Module paths of layers that are the identity at inference (dropout)."""


{helpers}


def build_inference_model(state_dict: dict | None = None) -> nn.Module:
    """`build_model()` with `state_dict` loaded (the unfolded model's: a checkpoint,
    torchvision's or timm's weights), folded for inference; not for training."""
    model = build_model()
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return fold_batchnorms_(model, BATCHNORM_FOLDS, INFERENCE_IDENTITIES)
'''


def render(network: nw.Network, source: str | None = None) -> str:
    """The generated torch module of a network, with inference folding after it."""
    module = torch_codegen.render(network, source)
    plan = fold_plan(network)
    helpers = "\n\n\n".join(helper_sources()[name] for name in HELPERS)
    return module + SECTION.format(
        folds=_tuple_lines("BATCHNORM_FOLDS", (_pair(conv, norm) for conv, norm in plan.folds)),
        identities=_tuple_lines("INFERENCE_IDENTITIES", (py_string(path) for path in plan.identities)),
        helpers=helpers,
    )


def _pair(conv: str, norm: str) -> str:
    return f"({py_string(conv)}, {py_string(norm)})"


def _tuple_lines(name: str, items: Iterable[str]) -> str:
    """`name = (...)` as ruff lays it out: on one line where it fits, else one item a line."""
    items = list(items)
    one_line = f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if len(name) + 3 + len(one_line) <= LINE_LENGTH:
        return f"{name} = {one_line}"
    return f"{name} = (\n" + "".join(f"    {item},\n" for item in items) + ")"


def helper_sources() -> dict[str, str]:
    """The source of each helper in `backends/torch_fold.py`, read as text (torch is not imported)."""
    return definitions(BACKENDS / "torch_fold.py", HELPERS)
