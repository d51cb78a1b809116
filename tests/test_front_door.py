"""Front ends (the screen, the CLI, the server, the headless runner, the demo, the web screen)
go through the coordinator and the engine's public methods: none reaches past the coordinator
into its registry, or into the engine's supervisor. Checked on the source of every module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "control_room"
FRONT_END_PACKAGES = ("tui", "cli", "server", "demo", "web")
FRONT_END_MODULES = ("headless.py", "headless_log.py", "world.py", "screen.py")
PRIVATE = {
    "registry": "the coordinator's registry (add a coordinator method instead)",
    "supervisor": "the engine's supervisor (add an engine method instead)",
}


def front_ends() -> list[Path]:
    found = [PACKAGE / name for name in FRONT_END_MODULES]
    for package in FRONT_END_PACKAGES:
        found += sorted((PACKAGE / package).rglob("*.py"))
    return found


def _receiver(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def offences(source: str, name: str = "<source>") -> list[str]:
    """Each `x.registry` (but a data directory's `home.registry`, the file's path) and each
    `x.supervisor`, with its line."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            if node.attr == "registry" and _receiver(node.value).endswith("home"):
                continue
            found.append(f"{name}:{node.lineno}: .{node.attr}: {PRIVATE[node.attr]}")
    return found


def test_the_check_sees_what_it_looks_for() -> None:
    assert offences("await coordinator.registry.last_event_id()")
    assert offences("c = self.coordinator\nawait c.registry.get_run(key)")
    assert offences("engine.supervisor.attempts")
    assert offences("getattr(world.engine, 'x').supervisor")
    assert not offences("backup(home.registry)\nprint(self.home.registry)")
    assert not offences("await coordinator.get_run(key)\nawait engine.stop_agent(a, why)")


def test_front_ends_reach_no_registry_or_supervisor_past_the_coordinator() -> None:
    modules = front_ends()
    assert len(modules) > 40, "the front-end modules were found"
    found = [o for path in modules for o in offences(path.read_text(), str(path))]
    assert found == []
