"""`resnet-dsl check FILE...`: validate every file; exit 1 if any has errors."""

from __future__ import annotations

import argparse

from resnet_dsl.commands.common import report
from resnet_dsl.errors import ArchError
from resnet_dsl.loader import load_program


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.files:
        try:
            networks = load_program(path).check()
        except ArchError as error:
            report(error)
            failed += 1
            continue
        if not networks:
            print(f"{path}: ok (blocks only)")
        for network in networks:
            layers, total = len(network.layers), network.total_params.total
            print(f"{path}: ok, {network.name}, {_count(layers, 'layer')}, {_count(total, 'parameter')}")
    return 1 if failed else 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
