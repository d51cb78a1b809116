"""Control Room: a terminal control room that coordinates AI coding agents on one codebase."""

__version__ = "0.1.0"
