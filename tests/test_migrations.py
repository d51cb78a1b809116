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
from control_room.store import SqliteRegistry, schema
from tests.conftest import coordinator_at

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
    current = len(schema.MIGRATIONS)
    assert version(path) == current

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, V2))
    for _ in range(2):
        registry = await SqliteRegistry.open(path)
        assert (await registry.get_task(task.id)).title == "survives the upgrade"
        await registry.close()
    assert version(path) == current + 1
    db = sqlite3.connect(path)
    assert "estimate" in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    db.close()


async def test_a_version_1_registry_is_upgraded_with_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry.db"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        async with coordinator_at(path):
            pass
    # Written as the version-1 code wrote it (today's queries read columns added since).
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "INSERT INTO tasks (task_id, title, priority, status, created_by)"
            " VALUES ('T-V1', 'made under version 1', 'P2', 'AVAILABLE', 'operator')"
        )
    db.close()
    assert version(path) == 1
    async with coordinator_at(path) as coordinator:
        task = await coordinator.task("T-V1")
        assert task.title == "made under version 1"
        assert task.branch is None and task.commit_sha is None  # columns added later
        assert await coordinator.decisions() == []
    assert version(path) == len(schema.MIGRATIONS)


async def test_a_failing_upgrade_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "registry.db"
    await (await SqliteRegistry.open(path)).close()
    monkeypatch.setattr(
        schema, "MIGRATIONS", (*schema.MIGRATIONS, V2 + "; SELECT no_such_function()")
    )
    with pytest.raises(StoreError, match="no such function"):
        await SqliteRegistry.open(path)
    assert version(path) == len(schema.MIGRATIONS) - 1
    db = sqlite3.connect(path)
    assert "estimate" not in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    db.close()


OPENER = """
import asyncio, sys
from pathlib import Path
from control_room.store import SqliteRegistry, schema, sql
if len(sys.argv) > 2:
    schema.MIGRATIONS = (*schema.MIGRATIONS, sys.argv[2])
async def main():
    registry = await SqliteRegistry.open(Path(sys.argv[1]))
    await registry.close()
asyncio.run(main())
"""


def race(*args: str) -> None:
    """Six processes open the registry at the same moment."""
    argv = [sys.executable, "-c", OPENER, *args]
    children = [subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE) for _ in range(6)]
    for child in children:
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()


def test_processes_racing_to_create_a_registry_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    race(str(path))
    assert version(path) == len(schema.MIGRATIONS)
    asyncio.run(_integrity(path))


def test_a_data_migration_raced_by_processes_runs_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"

    async def seed() -> None:
        async with coordinator_at(path) as coordinator:
            await coordinator.add_task({"id": "T", "title": "t", "max_attempts": 3})

    asyncio.run(seed())
    race(str(path), "UPDATE tasks SET max_attempts = max_attempts + 1")
    db = sqlite3.connect(path)
    assert db.execute("SELECT max_attempts FROM tasks").fetchone()[0] == 4
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) + 1
    db.close()


async def _integrity(path: Path) -> None:
    registry = await SqliteRegistry.open(path)
    assert await registry.integrity_check() == "ok"
    await registry.close()
