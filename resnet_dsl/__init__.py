"""resnet-dsl: residual networks described in a small language, checked, built and generated.

    import resnet_dsl
    net = resnet_dsl.load("specs/resnet50.arch")      # validated, no TensorFlow
    resnet_dsl.summary(net)["params"]["total"]          # 23600006
    model = resnet_dsl.to_keras(net)                    # a keras.Model (keras extra)
    module = resnet_dsl.to_torch(net)                   # a torch.nn.Module (torch extra)
    source = resnet_dsl.to_python(net)                  # standalone Keras source

Names are imported on first use, so `import resnet_dsl` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load": "resnet_dsl.api",
    "loads": "resnet_dsl.api",
    "parse_module": "resnet_dsl.loader",
    "summary": "resnet_dsl.summary",
    "ArchError": "resnet_dsl.errors",
    "Network": "resnet_dsl.network",
    "to_keras": "resnet_dsl.keras_backend",
    "to_torch": "resnet_dsl.torch_backend",
    "keras_weights_to_torch": "resnet_dsl.torch_backend",
    "torch_weights_to_keras": "resnet_dsl.torch_backend",
    "to_python": "resnet_dsl.codegen",
    "format_source": "resnet_dsl.formatter",
    "diff": "resnet_dsl.archdiff",
    "to_dot": "resnet_dsl.graph",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'resnet_dsl' has no attribute {name!r}")
