"""Issue 11, finding 6: task ids the validators refuse, written by a sqlite3 shell.

The schema refuses them as `task add` does (one rule: domain/specs.py TASK_ID). Rows an
older registry already holds with such ids are marked FAILED by the migration, with an event
saying why, may never leave FAILED or CANCELLED, and are never spawned.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import pytest

from control_room.store import SqliteRegistry, schema
from tests.conftest import run_cli
from tests.test_headless import _config, _task, _wait, start_engine

BAD_IDS = ["../../x", "sub/dir", "tab\there", "bell\x07", "csi\x9b2J", "-leading", "a" * 65, ""]
SHELL_INSERT = (
    "INSERT INTO tasks (task_id, project_name, title, description, priority, "
    "required_capabilities, status, created_at) VALUES (?, 'p', 'shell task', 'd', 'P0-CRITICAL', "
    "'[]', 'AVAILABLE', datetime('now'))"
)


def _shell(db: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for statement, params in statements:
            conn.execute(statement, params)
    finally:
        conn.close()


@pytest.mark.parametrize("bad", BAD_IDS)
def test_the_schema_refuses_ids_task_add_refuses(tmp_path: Path, bad: str) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    if bad:
        refused = run_cli("task", "add", "--title", "x", f"--id={bad}", data_dir=home)
        assert refused.returncode == 1 and refused.stderr.startswith("control-room: error: --id")
    with pytest.raises(sqlite3.IntegrityError, match="task_id must be"):
        _shell(home / "registry.db", (SHELL_INSERT, (bad,)))
    good = "T-SHELL.ok_1"
    _shell(home / "registry.db", (SHELL_INSERT, (good,)))  # the documented statement still works
    listing = json.loads(run_cli("task", "list", "--json", data_dir=home).stdout)
    assert [t["id"] for t in listing] == [good]
    with pytest.raises(sqlite3.IntegrityError, match="task_id must be"):
        _shell(home / "registry.db", ("UPDATE tasks SET task_id = ?", (bad,)))


async def _version_3_registry(db: Path) -> None:
    """A registry as the version before this rule made it."""
    registry = await SqliteRegistry.open(db)
    await registry.close()


def test_bad_rows_of_an_older_registry_are_failed_and_never_spawned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    db = home / "registry.db"
    db.unlink()
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:3])
        asyncio.run(_version_3_registry(db))
    bad = ["../../x", "sub/dir", "ctl\x1bx"]
    _shell(db, *((SHELL_INSERT, (task_id,)) for task_id in [*bad, "T-GOOD"]))

    (home / "control-room.toml").write_text(_config("work"))
    engine = start_engine(home, tmp_path)  # migrates the registry, then routes and spawns
    try:
        _wait(lambda: _task(home, "T-GOOD")["status"] == "COMPLETED", timeout=60)
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=20) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
        _, err = engine.communicate()
    assert "Traceback" not in err, err
    conn = sqlite3.connect(db)
    try:
        rows = dict(conn.execute("SELECT task_id, status FROM tasks").fetchall())
        started = {r[0] for r in conn.execute("SELECT task_id FROM runs").fetchall()}
        failed_by = conn.execute(
            "SELECT task_id, actor, message FROM events WHERE kind = 'failed'"
        ).fetchall()
    finally:
        conn.close()
    assert {task_id: rows[task_id] for task_id in bad} == dict.fromkeys(bad, "FAILED")
    assert started == {"T-GOOD"}, "a task with a refused id was spawned"
    assert {row[0] for row in failed_by} == set(bad)
    assert all(row[1] == "migration" and "task id" in row[2] for row in failed_by)

    retried = run_cli("task", "retry", "sub/dir", data_dir=home)
    assert retried.returncode == 1 and len(retried.stderr.splitlines()) == 1, retried.stderr
    assert "task_id must be" in retried.stderr
    assert _task(home, "sub/dir")["status"] == "FAILED"


def test_the_rule_is_the_validators_rule() -> None:
    """The SQL rule and domain/specs.py agree on a spread of ids."""
    from control_room.domain.specs import TASK_ID

    conn = sqlite3.connect(":memory:")
    try:
        for candidate in [*BAD_IDS, "T-1", "a", "A.b_c-d", "9" * 64, "é", "x y", "x/", "x\n"]:
            (refused,) = conn.execute(f"SELECT {schema._bad_id('?1')}", (candidate,)).fetchone()
            assert bool(refused) is not bool(TASK_ID.fullmatch(candidate)), repr(candidate)
    finally:
        conn.close()
