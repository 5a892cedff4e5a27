"""The command line: argument parsing, one module per command, output files."""

from resnet_dsl.cli.app import main

__all__ = ["main"]
