"""CLI sub-commands: each module has add_parser(sub) and run(args) -> int."""
