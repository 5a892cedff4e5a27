"""resnet-dsl: residual networks described in a small language, checked, built and generated.

    import resnet_dsl
    net = resnet_dsl.load("specs/seed/resnet50.arch")      # validated, no TensorFlow
    resnet_dsl.summary(net)["params"]["total"]          # 23600006
    model = resnet_dsl.to_keras(net)                    # a keras.Model (keras extra)
    module = resnet_dsl.to_torch(net)                   # a torch.nn.Module (torch extra)
    source = resnet_dsl.to_python(net)                  # standalone Keras source

Names are imported on first use, so `import resnet_dsl` stays light.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "resnet_dsl.network.api",
    "loads": "resnet_dsl.network.api",
    "parse_module": "resnet_dsl.network.loader",
    "summary": "resnet_dsl.analysis.summary",
    "ArchError": "resnet_dsl.language.errors",
    "Network": "resnet_dsl.network.model",
    "to_keras": "resnet_dsl.backends.keras",
    "to_torch": "resnet_dsl.backends.torch",
    "keras_weights_to_torch": "resnet_dsl.backends.torch",
    "torch_weights_to_keras": "resnet_dsl.backends.torch",
    "to_python": "resnet_dsl.codegen",
    "format_source": "resnet_dsl.review.formatter",
    "diff": "resnet_dsl.review.archdiff",
    "to_dot": "resnet_dsl.review.graph",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'resnet_dsl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """The package's own module type, so an export is never replaced by a submodule.

    Importing a submodule sets it as an attribute of its package: once `resnet_dsl.summary`
    (the module) is imported, `resnet_dsl.summary` would stop being the `summary` function.
    Exported names are refused that way; the submodule stays in `sys.modules`, which is
    where `from resnet_dsl.summary import ...` finds it.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
