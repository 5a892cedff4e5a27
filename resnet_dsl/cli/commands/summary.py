"""`resnet-dsl summary FILE [--layers] [--json] [--batch N]`: the figures, no TensorFlow.

Per stage by default (input, stem, each stage, head: blocks, output shape, parameters,
MACs, receptive field, activation memory), per layer with `--layers`; `--json` holds both.
"""

from __future__ import annotations

import argparse
import json

from resnet_dsl.analysis.summary import render_stages, render_table, summary
from resnet_dsl.cli.commands.common import guarded, load_network


@guarded
def run(args: argparse.Namespace) -> int:
    network = load_network(args)
    if args.json:
        print(json.dumps(summary(network, args.batch), indent=2))
    elif args.layers:
        print(render_table(network))
    else:
        print(render_stages(network, args.batch))
    return 0
