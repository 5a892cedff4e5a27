"""`resnet-dsl check FILE|DIR...`: validate every file; exit 1 if any has errors.

A directory stands for every `.arch` file under it, as for `fmt`. Each network's torch layout
is worked out too (plain data, no torch), so a module path the spec gives twice is an error here.
"""

from __future__ import annotations

import argparse

from resnet_dsl.backends import torch_layout
from resnet_dsl.cli.commands.common import report, spec_files
from resnet_dsl.cli.output import terminal_text
from resnet_dsl.language.errors import ArchError
from resnet_dsl.network.loader import load_program


def run(args: argparse.Namespace) -> int:
    failed = 0
    for path in spec_files(args.files):
        try:
            program = load_program(path)
            networks = program.check()
            with program.located():
                for network in networks:
                    torch_layout.layout(network)
        except ArchError as error:
            report(error)
            failed += 1
            continue
        if not networks:
            print(terminal_text(f"{path}: ok (blocks only)"))
        for network in networks:
            layers, params = len(network.layers), network.total_params
            print(
                terminal_text(
                    f"{path}: ok, {network.name}, {_count(layers, 'layer')}, "
                    f"{_count(params.total, 'parameter')} ({params.trainable:,} trainable)"
                )
            )
    return 1 if failed else 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
