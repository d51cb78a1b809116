"""What `[screen]` in control-room.toml may name, known without importing Textual: the ids of
the screen's keys (tui/app.py BINDINGS; a test keeps the two equal) and the themes shipped in
the top-level `themes/` folder (one TOML file per theme, named after it)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

KEY_IDS = (
    "approve",
    "reject",
    "details",
    "new-task",
    "edit-task",
    "retry",
    "cancel-task",
    "kill-agent",
    "say",
    "ended-agents",
    "diff",
    "merge",
    "permissions",
    "inbox",
    "go",
    "stats",
    "filter",
    "clear-filter",
    "theme",
    "help",
    "quit",
)


def themes_folder() -> Path:
    """Where the installed package keeps its themes (a link to the top-level themes/)."""
    return Path(str(files("control_room").joinpath("themes")))


def theme_names() -> list[str]:
    return sorted(path.stem for path in themes_folder().glob("*.toml"))
