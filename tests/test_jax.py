"""Every Keras 3 backend: shipped specs' models, from `to_keras` and from the generated code,
built under KERAS_BACKEND=jax give the TensorFlow backend's outputs on the same weights.

Each backend runs in its own process (Keras picks its backend once, at import); the cases are
tests/backend_outputs.py's CASES."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.backend_outputs import CASES
from tests.conftest import REPO

FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
"""JAX runs Keras eagerly, one XLA compilation per operation and shape: most of its time is the
compiler's, which these flags cut by a third; what is computed stays the same."""


def _run(backend: str, folder: Path) -> None:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "JAX_PLATFORMS": "cpu",
        "CUDA_VISIBLE_DEVICES": "",
        "XLA_FLAGS": FAST_XLA,
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "tests.backend_outputs", str(folder)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == backend


@pytest.mark.slow
@pytest.mark.keras
def test_jax_backend_matches_tensorflow(tmp_path: Path):
    _run("tensorflow", tmp_path)
    _run("jax", tmp_path)
    for case in CASES:
        tensorflow = np.load(tmp_path / f"{case}.tensorflow.npy")
        jax = np.load(tmp_path / f"{case}.jax.npy")
        assert tensorflow.shape == jax.shape == (2, 2, tensorflow.shape[-1]), case
        assert np.abs(tensorflow).max() > 0, case
        # to_keras and the generated code agree within each backend, and the backends agree
        np.testing.assert_allclose(tensorflow[0], tensorflow[1], rtol=0, atol=1e-6, err_msg=case)
        np.testing.assert_allclose(jax[0], jax[1], rtol=0, atol=1e-6, err_msg=case)
        np.testing.assert_allclose(jax, tensorflow, rtol=1e-4, atol=1e-5, err_msg=case)
