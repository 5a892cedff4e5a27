"""`resnet-dsl ir FILE`: the expanded, validated network as JSON."""

from __future__ import annotations

import argparse

from resnet_dsl.cli.commands.common import guarded, load_network


@guarded
def run(args: argparse.Namespace) -> int:
    print(load_network(args).model_dump_json(indent=2))
    return 0
