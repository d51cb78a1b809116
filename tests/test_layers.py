"""Dependencies point down only (DESIGN section 1), checked on the source of every module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "control_room"

# layer -> what it must not import (besides anything outside the standard library, for domain)
FORBIDDEN = {
    "domain": ("control_room.store", "control_room.engine", "control_room.cli"),
    "store": ("control_room.engine", "control_room.cli", "control_room.server", "control_room.tui"),
    "engine": ("control_room.cli", "control_room.server", "control_room.tui"),
    # The screen gets its world from control_room/screen.py: it never imports the server.
    "tui": (
        "control_room.server",
        "control_room.cli",
        "control_room.world",
        "control_room.headless",
        "control_room.screen",
    ),
    "server": ("control_room.tui", "control_room.cli"),
}
UI_AND_WEB = {
    "textual": "tui",
    "starlette": "server",
    "mcp": "server",
    "uvicorn": "server",
    "textual_serve": "web",  # `control-room web`: the screen in a browser
    "aiohttp": "web",
}
# The MCP *client* is how agents reach the server: the anthropic runtime (engine) and the demo's
# scripted agents use it. The MCP server side stays in `server`.
MCP_CLIENT_LAYERS = ("server", "engine", "demo")
UI_LIBRARIES = ("textual", "starlette", "mcp")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> list[tuple[str, Path]]:
    return [(p.relative_to(PACKAGE).parts[0], p) for p in PACKAGE.rglob("*.py")]


def test_layers_import_only_downwards() -> None:
    for layer, path in modules():
        for name in imports(path):
            for banned in FORBIDDEN.get(layer, ()):
                assert not name.startswith(banned), f"{path} imports {name}"


def test_domain_uses_only_the_standard_library() -> None:
    for layer, path in modules():
        if layer != "domain":
            continue
        for name in imports(path):
            top = name.split(".")[0]
            assert top == "control_room" or top in sys.stdlib_module_names, f"{path}: {name}"


def test_ui_and_web_libraries_stay_in_their_layers() -> None:
    for layer, path in modules():
        for name in imports(path):
            if name.split(".")[0] == "mcp" and not name.startswith("mcp.server"):
                assert layer in MCP_CLIENT_LAYERS, f"{path} imports the MCP client {name}"
                continue
            owner = UI_AND_WEB.get(name.split(".")[0])
            assert owner is None or layer == owner, f"{path} imports {name}"


def loaded_by(modules: str, families: tuple[str, ...]) -> list[str]:
    probe = (
        f"import sys, {modules};print([m for m in sys.modules if m.split('.')[0] in {families!r}])"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded: list[str] = ast.literal_eval(result.stdout.strip())
    return loaded


def test_the_command_line_loads_no_screen_or_server_library() -> None:
    assert loaded_by("control_room.cli.main, control_room.engine", UI_LIBRARIES) == []


def test_the_headless_path_never_imports_textual() -> None:
    assert loaded_by("control_room.headless, control_room.world", ("textual",)) == []
