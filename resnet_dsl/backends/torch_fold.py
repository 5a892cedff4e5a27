"""Inference folding of a torch model: each BatchNorm into the convolution before it, dropout out.

`fold_plan` says which modules (from the network and its layout); `fold_batchnorms_` below does
it to any module tree, `to_torch`'s or a generated one, whose modules sit at those paths. It is
standalone (torch only): `codegen/torch_fold.py` copies its source into generated files.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from resnet_dsl.backends.fold_plan import fold_plan
from resnet_dsl.network.api import Spec, resolve

# ------------------------------------------------------------ helpers --
# Standalone (torch only): `codegen/torch_fold.py` copies their source into generated files.


def fold_batchnorms_(
    model: nn.Module,
    folds: tuple[tuple[str, str], ...],
    identities: tuple[str, ...] = (),
) -> nn.Module:
    """Fold each BatchNorm (`folds`: its convolution's path, its own) into the convolution's
    weight and bias, and turn it and each path of `identities` into nn.Identity, in place;
    the model is left in eval() mode, for inference only. Modules are changed where they
    are, not replaced, so a forward that holds them (not only attributes) sees the change."""
    model.eval()
    with torch.no_grad():
        for conv_path, norm_path in folds:
            conv, norm = model.get_submodule(conv_path), model.get_submodule(norm_path)
            variance = norm.running_var.double() + norm.eps
            scale = norm.weight.double() * variance.rsqrt()
            shift = norm.bias.double() - norm.running_mean.double() * scale
            weight = conv.weight.double() * scale.reshape(-1, *[1] * (conv.weight.dim() - 1))
            bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
            conv.weight.copy_(weight.to(conv.weight.dtype))
            conv.bias = nn.Parameter((bias * scale + shift).to(conv.weight.dtype))
            become_identity_(norm)
        for path in identities:
            become_identity_(model.get_submodule(path))
    return model


def become_identity_(module: nn.Module) -> None:
    """Make a module nn.Identity in place: no parameters or buffers, its input returned."""
    module._parameters.clear()
    module._buffers.clear()
    module.__class__ = nn.Identity


# ----------------------------------------------------------------- api --


def fold(model: nn.Module, spec: Spec, *, inplace: bool = False, **load_kwargs: Any) -> nn.Module:
    """A torch model of the network `spec` (`to_torch`'s or generated), folded for inference:
    outputs in eval() mode unchanged (to float32 rounding), fewer layers to run. Not for training."""
    plan = fold_plan(resolve(spec, **load_kwargs))
    return fold_batchnorms_(model if inplace else copy.deepcopy(model), plan.folds, plan.identities)
