"""`resnet-dsl check FILE|DIR...`: validate every file; exit 1 if any has errors.

A directory stands for every `.arch` file under it, as for `fmt`.
"""

from __future__ import annotations

import argparse

from resnet_dsl.cli.commands.common import report, spec_files
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import load_program


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in spec_files(args.files):
        try:
            networks = load_program(path).check()
        except ArchError as error:
            report(error)
            failed += 1
            continue
        if not networks:
            print(f"{path}: ok (blocks only)")
        for network in networks:
            layers, params = len(network.layers), network.total_params
            print(
                f"{path}: ok, {network.name}, {_count(layers, 'layer')}, "
                f"{_count(params.total, 'parameter')} ({params.trainable:,} trainable)"
            )
    return 1 if failed else 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
