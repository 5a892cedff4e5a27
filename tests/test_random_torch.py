"""Random small networks in torch alone, without TensorFlow: `check`'s summary, `to_torch` and the
generated torch module agree on every layer's parameters, the totals, the output shape and, given
the same weights, the outputs; the generated Keras source compiles.

The draws are tests/test_random_networks.py's, each kind of stage on its own (the newer
constructs included: block graphs, ECA, pre-activation, reflection padding, layer scale, drop
path), with a fixed seed: 4 networks of each kind, in the fast suite, where the Keras comparison
of the same draws needs TensorFlow. `RANDOM_TORCH_NETWORKS=100` hunts longer.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import resnet_dsl
from resnet_dsl.analysis.summary import summary
from resnet_dsl.codegen import to_python
from tests.test_codegen import import_source
from tests.test_random_networks import FAMILIES, specs

torch = pytest.importorskip("torch")
from resnet_dsl.backends.torch import to_torch  # noqa: E402
from resnet_dsl.backends.torch_layout import layout  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("family", FAMILIES)
@seed(20261201)
@given(data=st.data())
@settings(
    max_examples=int(os.environ.get("RANDOM_TORCH_NETWORKS", "4")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
def test_summary_to_torch_and_the_generated_module_agree(family: str, data: st.DataObject) -> None:
    text = data.draw(specs(families=(family,)))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    network = resnet_dsl.loads(text)
    static = summary(network)
    model = to_torch(network).eval()
    rows = {row["name"]: row for row in static["layers"]}
    for name, path in layout(network).module_paths().items():
        module = model.get_submodule(path)
        counted = sum(t.numel() for t in (*module.parameters(), *module.buffers()) if t.is_floating_point())
        assert counted == rows[name]["params"], name
    assert static["torch"]["params"] == sum(p.numel() for p in model.parameters())
    assert static["torch"]["buffers"] == sum(b.numel() for b in model.buffers())

    height, width, channels = network.input_shape
    images = torch.rand(2, channels, height, width)
    with torch.no_grad():
        expected = model(images)
    assert tuple(expected.shape) == (2, *network.output_shape)

    generated = import_source(to_python(network, target="torch"), "generated_torch").build_model().eval()
    assert list(generated.state_dict()) == list(model.state_dict())
    generated.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(generated(images), expected, rtol=1e-5, atol=1e-6)
    compile(to_python(network), "<generated keras>", "exec")
