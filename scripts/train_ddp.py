"""Train a spec's torch model with DistributedDataParallel, one process per GPU (or CPU process).

    torchrun --standalone --nproc_per_node=8 scripts/train_ddp.py torchvision/resnet50 --batch 64 --sync-bn
    torchrun --standalone --nproc_per_node=2 scripts/train_ddp.py papers/cifar_resnet --network ResNet20

On GPUs (NCCL) each process drives the GPU of its `LOCAL_RANK`; without CUDA it runs on the CPU
with gloo. The data here are synthetic, seeded per step, so that every run sees the same global
batch and its slices (process r takes rows r*B..(r+1)*B-1): swap `global_batch` for a
DataLoader with a `DistributedSampler` to train on real data. BatchNorm: `--sync-bn` computes
the statistics over the global batch (`nn.SyncBatchNorm`, GPUs only), so N processes compute
what one process computes on the whole batch; `--frozen-bn` keeps them fixed (eval-mode BN, for
fine-tuning, and the way the CPU test makes two processes equal one); by default each process
normalizes by its own slice, as torchvision's reference scripts do without `--sync-bn`.
`--save` writes rank 0's final state_dict.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from resnet_dsl import load, to_torch
from resnet_dsl.network.api import parse_assignment


def global_batch(step: int, size: int, shape: tuple[int, ...], classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's whole batch, the same in every process: NCHW images and class labels."""
    generator = torch.Generator().manual_seed(1_000 + step)
    images = torch.randn((size, *shape), generator=generator)
    labels = torch.randint(0, classes, (size,), generator=generator)
    return images, labels


def frozen_batchnorm_(model: nn.Module) -> nn.Module:
    """Every BatchNorm in eval mode (fixed statistics, still-trained scale and shift), the rest as it is."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec")
    parser.add_argument("--network")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32, help="images per process and step")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    norm = parser.add_mutually_exclusive_group()
    norm.add_argument("--sync-bn", action="store_true", help="BatchNorm statistics over the global batch (GPUs)")
    norm.add_argument("--frozen-bn", action="store_true", help="BatchNorm statistics fixed (eval mode)")
    parser.add_argument("--save", metavar="STATE.pt")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)

    overrides = dict(parse_assignment(item) for item in args.overrides)
    network = load(args.spec, network=args.network, overrides=overrides)
    torch.manual_seed(args.seed)  # the same initial weights everywhere (DDP also broadcasts rank 0's)
    model = to_torch(network)
    if args.sync_bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model = model.to(device).train()
    if args.frozen_bn:
        frozen_batchnorm_(model)
    ddp = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9)

    *spatial, channels = network.input_shape
    classes = network.output_shape[-1]
    for step in range(args.steps):
        images, labels = global_batch(step, args.batch * world, (channels, *spatial), classes)
        rows = slice(rank * args.batch, (rank + 1) * args.batch)
        loss = F.cross_entropy(ddp(images[rows].to(device)), labels[rows].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the processes: the global batch's mean loss
        optimizer.step()
        if rank == 0 and (step % 10 == 0 or step == args.steps - 1):
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    if rank == 0 and args.save:
        torch.save({key: value.cpu() for key, value in model.state_dict().items()}, args.save)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
