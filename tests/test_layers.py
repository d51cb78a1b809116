"""Dependencies point down only (DESIGN section 1), checked on the source of every module as an
allowlist: each package and top-level module of control_room names the control_room units and
the third-party packages it may import; anything else, and any unit not named here, fails.
Imports inside functions and under TYPE_CHECKING count like the others."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "control_room"
INIT = "__init__"  # `from control_room import __version__`

# unit -> the control_room units it may import. A unit is a package (domain, store, ...) or a
# top-level module (config, world, ...). The pieces are put together above the layers: the
# screen with the engine and the server in `screen`, without a screen in `headless`/`world`.
ALLOWED: dict[str, frozenset[str]] = {
    name: frozenset(units.split())
    for name, units in {
        INIT: "",
        "__main__": "cli",
        "domain": "",
        "store": "domain",
        "engine": "domain store config default_config private",
        "server": "domain engine config early_stop __init__",
        "tui": "domain engine ui_names",
        "web": "domain config private server tui world",
        "demo": "domain engine config",
        "importers": "domain",
        "cli": "domain store engine server config demo early_stop headless importers private "
        "screen web __init__",
        # top-level modules
        "config": "domain routing_config ui_names",
        "routing_config": "domain",
        "ui_names": "",
        "default_config": "",
        "private": "",
        "early_stop": "",
        "world": "domain engine server config",
        "screen": "tui server world config",
        "headless": "domain engine server world config headless_log",
        "headless_log": "domain __init__",
    }.items()
}
# unit -> the third-party packages it may import (the standard library is free, except in
# `domain`, which imports nothing else either). Textual stays in tui, textual-serve in web,
# the MCP server and Starlette in server; the MCP *client* is how agents reach the server
# (the anthropic runtime, the demo's scripted agents).
ANYWHERE = frozenset({"typing_extensions"})
THIRD_PARTY: dict[str, frozenset[str]] = {
    "store": frozenset({"aiosqlite", "psycopg", "psycopg_pool", "watchfiles"}),
    "engine": frozenset({"anthropic", "apprise", "httpx2", "mcp", "watchfiles"}),
    "server": frozenset({"mcp", "prometheus_client", "starlette", "uvicorn"}),
    "tui": frozenset({"textual", "rich"}),
    "web": frozenset({"textual_serve", "aiohttp"}),
    "demo": frozenset({"httpx2", "mcp"}),
    "cli": frozenset({"uvloop"}),
}
MCP_SERVER_UNITS = ("server",)
UI_LIBRARIES = ("textual", "starlette", "mcp")


def unit_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported(source: str, module: tuple[str, ...]) -> Iterator[str]:
    """Every module name imported by `source`, the module named `module` (its dotted parts),
    relative imports resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                name = ".".join((*module[: -node.level], *([name] if name else [])))
            if name == "control_room":  # `from control_room import x`: a unit, or __init__
                for alias in node.names:
                    named = PACKAGE / alias.name
                    is_unit = named.is_dir() or named.with_suffix(".py").exists()
                    yield f"control_room.{alias.name if is_unit else INIT}"
            else:
                yield name


def refused(unit: str, names: Iterable[str]) -> list[str]:
    """The names among `names` that `unit` may not import."""
    libraries = THIRD_PARTY.get(unit, frozenset()) | (ANYWHERE if unit != "domain" else set())
    wrong = []
    for name in names:
        parts = name.split(".")
        if parts[0] == "control_room":
            if len(parts) > 1 and parts[1] != unit and parts[1] not in ALLOWED[unit]:
                wrong.append(name)
        elif parts[0] and parts[0] not in sys.stdlib_module_names:
            mcp_server = name.startswith("mcp.server") and unit != "server"
            if parts[0] not in libraries or mcp_server:
                wrong.append(name)
    return wrong


def modules() -> list[tuple[str, Path]]:
    return [(unit_of(p), p) for p in sorted(PACKAGE.rglob("*.py"))]


def test_every_unit_is_named_in_the_allowlist() -> None:
    units = {unit for unit, _ in modules()}
    assert units == set(ALLOWED), f"name these in ALLOWED: {sorted(units - set(ALLOWED))}"


def test_each_unit_imports_only_what_it_may() -> None:
    wrong = []
    for unit, path in modules():
        module = path.relative_to(PACKAGE.parent).with_suffix("").parts
        for name in refused(unit, imported(path.read_text(), module)):
            wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_a_forbidden_import_is_refused() -> None:
    """What the check above catches: a unit it may not import (also relative, or inside a
    function), a library outside its layer, the MCP server outside `server`."""
    source = (
        "import textual.app\nfrom control_room.engine import Coordinator\n"
        "def f():\n    from ..tui import app\n    from . import sql\n"
    )
    names = list(imported(source, ("control_room", "store", "probe")))
    assert names == ["textual.app", "control_room.engine", "control_room.tui", "control_room.store"]
    assert refused("store", names) == ["textual.app", "control_room.engine", "control_room.tui"]
    assert refused("domain", ["json", "aiosqlite"]) == ["aiosqlite"]
    assert refused("engine", ["mcp.client.session", "mcp.server.lowlevel"]) == [
        "mcp.server.lowlevel"
    ]
    assert refused("server", ["mcp.server", "control_room.tui"]) == ["control_room.tui"]


def test_the_allowlist_itself_points_down() -> None:
    """No unit reaches itself through the units it may import; the screen and the server
    never import each other; the domain imports nothing and the store only the domain."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(ALLOWED[start])
        while todo:
            unit = todo.pop()
            if unit not in seen:
                seen.add(unit)
                todo.extend(ALLOWED[unit])
        return seen

    assert [unit for unit in ALLOWED if unit in reach(unit)] == []
    assert "tui" not in reach("server") and "server" not in reach("tui")
    assert reach("domain") == set() and reach("store") == {"domain"}


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
