"""Generated source: a validated network rendered as standalone Keras or PyTorch code.

`views` turns a network into the typed views both targets share; `keras` and `torch` each add what
only their target needs and render one template. Neither dispatches to the other: `to_python`
below is where the caller's choice of target is made.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

TARGETS = ("keras", "torch")


def to_python(spec: Any, *, target: str = "keras", fold: bool = False, **load_kwargs: Any) -> str:
    """Standalone source that builds the network a spec describes (`load_kwargs` go to `load`):
    Keras by default, `target="torch"` a PyTorch module (`fold=True`: with inference folding).

    The header names the spec as given (run from the repository, `specs/x.arch`); for a
    `Network`, the file it came from.
    """
    from resnet_dsl.network.api import resolve

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: keras or torch")
    network = resolve(spec, **load_kwargs)
    return render(network, Path(spec).as_posix() if isinstance(spec, (str, Path)) else network.source, target, fold)


def render(network: Any, source: str, target: str = "keras", fold: bool = False) -> str:
    """The generated module of a network for one target; `source` names its spec in the header;
    `fold`: with inference folding (`torch_fold`, torch only)."""
    if fold and target != "torch":
        raise ValueError("inference folding is for the torch target")
    return importlib.import_module(f"resnet_dsl.codegen.{target}{'_fold' if fold else ''}").render(network, source)
