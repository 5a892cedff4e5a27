"""Run by tests/test_jax.py in a fresh process under one `KERAS_BACKEND`: builds each of CASES
with `to_keras` and with its generated code, gives both the weights in DIR (saving them there
first, under TensorFlow), predicts a fixed batch, and saves both outputs to DIR/<case>.<backend>.npy.

    KERAS_BACKEND=jax python tests/backend_outputs.py DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from resnet_dsl import load, loads, to_keras, to_python
from tests.test_layers import LAYERS, MERGES

CASES = {
    # torchvision's ResNet-18, BatchNorm in inference mode
    "resnet18": ("specs/torchvision/resnet18.arch", {"input": "32x32x3", "classes": "10"}),
    # the seed's ResNet-50: BatchNorm called with training=True
    "resnet50": ("specs/seed/resnet50.arch", {}),
    # every layer primitive beyond the seed's (tests/test_layers.py's small networks)
    "merges": (MERGES, {}),
    "layers": (LAYERS, {}),
}


def main(folder: str) -> None:
    backend = keras.backend.backend()
    for case, (spec, overrides) in CASES.items():
        network = load(spec, overrides=overrides) if spec.endswith(".arch") else loads(spec, overrides=overrides)
        weights = Path(folder) / f"{case}.weights.h5"
        model = to_keras(network)
        if not weights.exists():
            model.save_weights(weights)
        model.load_weights(weights)
        namespace: dict[str, object] = {}
        exec(compile(to_python(network), f"{case}_generated.py", "exec"), namespace)
        generated = namespace["build_model"]()
        generated.load_weights(weights)
        batch = np.random.default_rng(0).standard_normal((2, *network.input_shape)).astype("float32")
        outputs = [keras.ops.convert_to_numpy(m(batch, training=False)) for m in (model, generated)]
        np.save(Path(folder) / f"{case}.{backend}.npy", np.stack(outputs))
    print(backend)


if __name__ == "__main__":
    main(sys.argv[1])
