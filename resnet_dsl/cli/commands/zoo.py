"""`resnet-dsl zoo [--markdown]`: every shipped network, by the name that loads it from anywhere."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from resnet_dsl.analysis.tables import aligned
from resnet_dsl.network.loader import load_program
from resnet_dsl.network.zoo import SPEC_SUFFIX, zoo_dir

HEADER = ("spec", "network", "input", "parameters", "trainable", "MACs")


@dataclass(frozen=True)
class ZooEntry:
    """One shipped network: the name that loads it and what it costs."""

    call: str
    network: str
    input: str
    params: int
    trainable: int
    macs: int

    def cells(self) -> tuple[str, ...]:
        figures = (f"{self.params:,}", f"{self.trainable:,}", f"{self.macs / 1e9:.2f} G")
        return (self.call, self.network, self.input, *figures)


def entries() -> list[ZooEntry]:
    """Every network of every shipped spec, by zoo name, in file order within one file."""
    found = []
    root = zoo_dir()
    for path in sorted(root.rglob("*" + SPEC_SUFFIX), key=_natural):
        name = path.relative_to(root).with_suffix("").as_posix()
        networks = load_program(path).check()
        for network in networks:
            call = f"{name} --network {network.name}" if len(networks) > 1 else name
            params = network.total_params
            shape = "x".join(str(d) for d in network.input_shape)
            found.append(ZooEntry(call, network.name, shape, params.total, params.trainable, network.macs))
    return found


def _natural(path: Path) -> list[str | int]:
    """resnet18 before resnet101: numbers compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def render_markdown(rows: list[ZooEntry]) -> str:
    """The README's zoo table."""
    lines = ["| " + " | ".join(HEADER) + " |", "| --- | --- | --- | ---: | ---: | ---: |"]
    lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(row.cells())) + " |" for row in rows]
    return "\n".join(lines)


def render_text(rows: list[ZooEntry]) -> str:
    return "\n".join(aligned([HEADER, *(row.cells() for row in rows)], left=(0, 1, 2)))


def run(args: argparse.Namespace) -> int:
    rows = entries()
    print(render_markdown(rows) if args.markdown else render_text(rows))
    return 0
