"""One module per CLI command, each with `run(args) -> int`; shared glue in `common`."""
