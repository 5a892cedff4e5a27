"""DistributedDataParallel on a `to_torch` model: `scripts/train_ddp.py` under torchrun, two CPU
processes (gloo), against one plain process (no DDP, written out here) on the combined batch.

BatchNorm's statistics are frozen (`--frozen-bn`): with per-process statistics two processes
normalize by their halves and one process by the whole batch, a real difference, not rounding;
the exact cure, `nn.SyncBatchNorm` (`--sync-bn`), runs on GPUs only. Scale and shift still train.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO

torch = pytest.importorskip("torch")

from resnet_dsl.backends.torch import to_torch  # noqa: E402

pytestmark = pytest.mark.torch

SCRIPT = REPO / "scripts" / "train_ddp.py"
SPEC, NETWORK = "papers/cifar_resnet", "ResNet20"
STEPS, BATCH, LR = 3, 4, 0.1


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_ddp", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torchrun(processes: int, save: Path, *options: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    command += [str(SCRIPT), SPEC, "--network", NETWORK, "--steps", str(STEPS), "--batch", str(BATCH)]
    command += ["--lr", str(LR), "--save", str(save), *options]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]


def one_process(processes: int) -> dict[str, Any]:
    """The same training, one process, no DDP, on the whole global batch each step."""
    train = script()
    torch.manual_seed(0)
    model = train.frozen_batchnorm_(to_torch(SPEC, network=NETWORK).train())
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    for step in range(STEPS):
        images, labels = train.global_batch(step, BATCH * processes, (3, 32, 32), 10)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.state_dict()


def test_two_processes_train_what_one_trains_on_the_combined_batch(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    torchrun(2, tmp_path / "ddp.pt", "--frozen-bn")
    trained = torch.load(tmp_path / "ddp.pt", weights_only=True)
    expected = one_process(2)
    torch.manual_seed(0)
    initial = to_torch(SPEC, network=NETWORK).state_dict()
    assert trained.keys() == expected.keys()
    moved = 0
    for key, value in expected.items():
        assert torch.allclose(trained[key], value, rtol=1e-5, atol=1e-5), key
        moved += not torch.equal(value, initial[key]) and key.endswith("weight")
    assert moved > 20  # the steps changed the weights: the comparison is not of two initial models
