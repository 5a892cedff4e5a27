"""`resnet-dsl summary FILE [--json]`: shapes, parameters and MACs, no TensorFlow."""

from __future__ import annotations

import argparse
import json

from resnet_dsl.commands.common import guarded, load_network
from resnet_dsl.summary import render_table, summary


@guarded
def run(args: argparse.Namespace) -> int:
    network = load_network(args)
    print(json.dumps(summary(network), indent=2) if args.json else render_table(network))
    return 0
