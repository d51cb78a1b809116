"""The `control-room` command line: parses arguments and calls the engine."""
