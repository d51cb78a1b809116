"""Schema upgrades: applied once, atomically, keeping data, even when two processes race."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from control_room.domain import StoreError
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry, sql

ROOT = Path(__file__).resolve().parents[1]
V2 = "ALTER TABLE tasks ADD COLUMN estimate REAL; CREATE TABLE notes (id INTEGER PRIMARY KEY)"


def version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


async def test_an_upgrade_applies_once_and_keeps_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry.db"
    registry = await SqliteRegistry.open(path)
    task = await Coordinator(registry).add_task({"title": "survives the upgrade"})
    await registry.close()
    assert version(path) == 1

    monkeypatch.setattr(sql, "MIGRATIONS", (*sql.MIGRATIONS, V2))
    for _ in range(2):
        registry = await SqliteRegistry.open(path)
        assert (await registry.get_task(task.id)).title == "survives the upgrade"
        await registry.close()
    assert version(path) == 2
    db = sqlite3.connect(path)
    assert "estimate" in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    db.close()


async def test_a_failing_upgrade_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry.db"
    await (await SqliteRegistry.open(path)).close()
    monkeypatch.setattr(sql, "MIGRATIONS", (*sql.MIGRATIONS, V2 + "; SELECT no_such_function()"))
    with pytest.raises(StoreError, match="no such function"):
        await SqliteRegistry.open(path)
    assert version(path) == 1
    db = sqlite3.connect(path)
    assert "estimate" not in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    db.close()


def test_processes_racing_to_create_a_registry_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    opener = (
        "import asyncio, sys; from pathlib import Path\n"
        "from control_room.store import SqliteRegistry\n"
        "async def main():\n"
        "    r = await SqliteRegistry.open(Path(sys.argv[1])); await r.close()\n"
        "asyncio.run(main())"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", opener, str(path)], cwd=ROOT, stderr=subprocess.PIPE
        )
        for _ in range(6)
    ]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
    assert version(path) == len(sql.MIGRATIONS)
    asyncio.run(_integrity(path))


async def _integrity(path: Path) -> None:
    registry = await SqliteRegistry.open(path)
    assert await registry.integrity_check() == "ok"
    await registry.close()
