"""The PostgreSQL registry itself, on a real throwaway server (tests/pg.py): the connector's
placeholder translation, the schema's rules, migrations kept in step with SQLite's, the change
notifications, and the CLI's one-line errors for a wrong URL, password or server. (The shared
behaviour runs on both backends in test_registry, test_transitions, test_stateful and
test_concurrency.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import psycopg
import pytest

from control_room.domain import StoreError
from control_room.engine import Coordinator
from control_room.store import open_registry, pg_schema, schema
from control_room.store.pg_conn import to_pyformat
from control_room.store.postgres import PostgresRegistry
from tests import pg
from tests.pg import PASSWORD, PgServer

SEED_INSERT = """
INSERT INTO tasks (task_id, project_name, title, description, priority,
                   required_capabilities, status, created_at)
VALUES ('T-TEST-001', 'central-mcp', 'Create sample component', 'Build it', 'P1-HIGH',
        '["frontend", "ui"]', 'AVAILABLE', extract(epoch from now()))
"""


def test_placeholders_are_translated_outside_quotes_and_casts() -> None:
    assert to_pyformat("SELECT ? WHERE a = :name") == "SELECT %s WHERE a = %(name)s"
    assert to_pyformat("SELECT '?:x%', \"a?\" -- why?\n") == "SELECT '?:x%%', \"a?\" -- why?\n"
    assert to_pyformat("SELECT x::text, 'it''s ?', ? LIKE '%'") == (
        "SELECT x::text, 'it''s ?', %s LIKE '%%'"
    )


def test_every_sqlite_migration_has_its_postgresql_spelling() -> None:
    assert len(schema.MIGRATIONS) == pg_schema.VERSION, (
        "a migration was added to store/schema.py without its PostgreSQL spelling in "
        "store/pg_schema.py PG_MIGRATIONS"
    )


async def test_a_hand_written_insert_makes_a_normal_task(pg_url: str) -> None:
    registry = await open_registry(pg_url)
    try:
        with psycopg.connect(pg_url, autocommit=True) as shell:
            shell.execute(SEED_INSERT)  # type: ignore[arg-type]
        coordinator = Coordinator(registry)
        task = await coordinator.task("T-TEST-001")
        assert (task.priority, task.project, task.capabilities) == (
            "P1",
            "central-mcp",
            ("frontend", "ui"),
        )
        (created,) = await coordinator.events(task_id="T-TEST-001")
        assert (created.kind, created.actor) == ("created", "sql")
        agent, _ = await coordinator.register_agent("fe", ["ui", "frontend"])
        assert (await coordinator.claim(agent.id)).task.id == "T-TEST-001"
    finally:
        await registry.close()


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("INSERT INTO tasks (title) VALUES ('no id')", "null value in column"),
        (
            "INSERT INTO tasks (task_id, title, status) VALUES ('X', 'held', 'CLAIMED')",
            "a new task must start AVAILABLE or PENDING",
        ),
        ("INSERT INTO tasks (task_id, title, priority) VALUES ('Y', 't', 'P7')", "check"),
        ("INSERT INTO tasks (task_id, title) VALUES ('-bad id', 't')", "check"),
        ("UPDATE events SET kind = 'forged'", "append-only"),
        ("DELETE FROM events", "append-only"),
    ],
)
async def test_the_schema_refuses_rows_the_registry_could_not_manage(
    pg_url: str, statement: str, refusal: str
) -> None:
    registry = await open_registry(pg_url)
    try:
        await Coordinator(registry).add_task({"title": "kept"})
        with (
            psycopg.connect(pg_url, autocommit=True) as shell,
            pytest.raises(psycopg.Error, match=refusal),
        ):
            shell.execute(statement)  # type: ignore[arg-type]
        assert [t.title for t in await registry.list_tasks()] == ["kept"]
        assert len(await registry.events()) == 1
    finally:
        await registry.close()


async def test_a_newer_schema_and_a_foreign_database_are_refused(pg_server: PgServer) -> None:
    url = pg_server.fresh_database()
    await (await open_registry(url)).close()
    with psycopg.connect(url, autocommit=True) as shell:
        shell.execute("UPDATE control_room_schema SET version = 99")
    with pytest.raises(StoreError, match="schema version 99, newer than this Control Room"):
        await open_registry(url)
    other = pg_server.fresh_database()
    with psycopg.connect(other, autocommit=True) as shell:
        shell.execute("CREATE TABLE tasks (id int)")
    with pytest.raises(StoreError, match="not a Control Room registry"):
        await open_registry(other)
    empty = pg_server.fresh_database()
    with pytest.raises(StoreError, match="holds no Control Room registry"):
        await PostgresRegistry.open(empty, create=False)
    for made in (url, other, empty):
        pg_server.drop(made)


async def test_a_commit_in_another_process_wakes_the_waiter(pg_url: str) -> None:
    watcher, writer = await open_registry(pg_url), await open_registry(pg_url)
    try:
        assert isinstance(watcher, PostgresRegistry)
        assert await watcher.wait_for_change(timeout=0.2) is False  # also starts listening
        waiting = asyncio.ensure_future(watcher.wait_for_change(timeout=30))
        await Coordinator(writer).add_task({"title": "from the other side"})
        assert await asyncio.wait_for(waiting, 30) is True
        assert [e.kind for e in await watcher.events()] == ["created"]
    finally:
        await watcher.close()
        await writer.close()


def _cli(
    *args: str, data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    base["CONTROL_ROOM_HOME"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "control_room", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
    )


def _one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert PASSWORD not in line and "wrong-password" not in line, line
    for word in words:
        assert word in line, line


def test_a_wrong_password_an_unreachable_server_or_a_bad_url_is_one_line(
    pg_server: PgServer, tmp_path: Path
) -> None:
    refused = pg_server.url(password="wrong-password")
    _one_line_error(_cli("--registry", refused, "init", data_dir=tmp_path), "password")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    away = f"postgresql://control:{PASSWORD}@127.0.0.1:{closed}/x"
    _one_line_error(_cli("task", "list", "--registry", away, data_dir=tmp_path), "refused")
    bad = "postgresql://control@127.0.0.1:notaport/x"
    _one_line_error(_cli("--registry", bad, "init", data_dir=tmp_path), "port")


def test_the_cli_works_on_postgresql_by_option_environment_and_config(
    pg_server: PgServer, tmp_path: Path
) -> None:
    url = pg_server.fresh_database()
    done = _cli("init", "--registry", url, data_dir=tmp_path / "a")
    assert done.returncode == 0, done.stderr
    assert "registry postgresql://control:***@" in done.stdout and PASSWORD not in done.stdout
    assert not (tmp_path / "a" / "registry.db").exists()
    added = _cli("task", "add", "--title", "shared", data_dir=tmp_path / "b", env={
        "CONTROL_ROOM_REGISTRY": url})  # fmt: skip
    assert added.returncode == 0, added.stderr
    third = tmp_path / "c"
    assert _cli("init", data_dir=third).returncode == 0
    config = third / "control-room.toml"
    text = config.read_text().replace(
        '# url = "postgresql://control@db.example.com/control_room"', f'url = "{url}"'
    )
    config.write_text(text)
    listed = _cli("task", "list", data_dir=third)
    assert listed.returncode == 0, listed.stderr
    assert "shared" in listed.stdout
    pg_server.drop(url)


@pytest.mark.parametrize(("ci", "outcome"), [("true", "fail"), ("", "skip")])
def test_without_a_server_the_postgresql_tests_skip_except_in_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    monkeypatch.setattr(pg, "BIN_DIRS", [Path("/nonexistent/bin")])
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="PostgreSQL"):
        pg.start_or_skip()


def test_backup_of_a_postgresql_registry_points_to_pg_dump(tmp_path: Path) -> None:
    away = "postgresql://control@127.0.0.1:1/x"  # never connected to: refused before
    done = _cli("backup", str(tmp_path / "copy.db"), data_dir=tmp_path, env={
        "CONTROL_ROOM_REGISTRY": away})  # fmt: skip
    _one_line_error(done, "pg_dump")
    assert not (tmp_path / "copy.db").exists()


def _home_on(url: str, home: Path) -> Path:
    """A data directory whose config names the PostgreSQL registry `url`."""
    assert _cli("init", data_dir=home, env={"CONTROL_ROOM_REGISTRY": url}).returncode == 0
    config = home / "control-room.toml"
    example = '# url = "postgresql://control@db.example.com/control_room"'
    config.write_text(config.read_text().replace(example, f'url = "{url}"'))
    return home


async def test_two_servers_on_one_postgresql_registry_serve_the_same_queue(
    pg_url: str, tmp_path: Path
) -> None:
    from tests.serve_process import start_serve, stop

    first = start_serve(_home_on(pg_url, tmp_path / "one"))
    try:
        second = start_serve(_home_on(pg_url, tmp_path / "two"))
        try:
            added = httpx2.post(
                f"{first.url}/api/tasks", json={"title": "shared"}, headers=first.operator
            )
            assert added.status_code == 201, added.text
            task_id = added.json()["id"]
            agent = {"Authorization": f"Bearer {first.join('far')}"}
            claimed = httpx2.post(f"{second.url}/api/tasks/claim", json={}, headers=agent)
            assert claimed.status_code == 200, claimed.text  # its token works on both
            epoch = claimed.json()["lease"]["epoch"]
            done = httpx2.post(
                f"{first.url}/api/tasks/{task_id}/complete",
                json={"epoch": epoch, "summary": "done"},
                headers=agent,
            )
            assert done.status_code == 200, done.text
            seen = httpx2.get(f"{second.url}/api/tasks/{task_id}", headers=second.operator)
            assert seen.json()["status"] == "COMPLETED"
        finally:
            stop(second)
    finally:
        stop(first)
    registry = await open_registry(pg_url)
    try:
        kinds = [e.kind for e in await registry.events(task_id=task_id)]
        assert kinds == ["created", "claimed", "completed"]
    finally:
        await registry.close()


async def test_the_engine_spawns_and_finishes_a_task_on_postgresql(
    pg_url: str, tmp_path: Path
) -> None:
    from control_room.config import Home
    from tests.engine_world import ended, engine_world, scripted, settings_with, status_is, wait_for

    home = Home(tmp_path / "data", pg_url)
    async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
        c = world.coordinator
        assert isinstance(c.registry, PostgresRegistry)
        task = await c.add_task({"title": "Fix the crash", "priority": "P0"})
        await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        (run,) = await wait_for(lambda: c.runs(), what="the run")
        run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
        assert (run.task_id, run.attempt, run.exit_code) == (task.id, 1, 0)
        kinds = [e.kind for e in await c.events(task_id=task.id)]
        assert kinds == [
            "created", "routed", "agent_started", "claimed", "progress", "completed", "agent_ended"
        ]  # fmt: skip
        # A task added by another process (the CLI, another control room) is spawned too.
        other = await open_registry(pg_url)
        try:
            added = await Coordinator(other).add_task({"title": "From afar", "priority": "P0"})
        finally:
            await other.close()
        await wait_for(lambda: status_is(c, added.id, "COMPLETED"), what="the other's task")


async def test_the_change_feed_hears_another_process_commit(pg_url: str) -> None:
    """The feed of one registry hears, through LISTEN/NOTIFY, a task added through another."""
    mine, other = await open_registry(pg_url), await open_registry(pg_url)
    assert isinstance(mine, PostgresRegistry)
    try:
        with mine.feed.subscribe() as heard:
            mine.feed.watch_outside()
            added = await Coordinator(other).add_task({"title": "elsewhere"})
            async with asyncio.timeout(30):
                event = await heard.get()
        assert (event.kind, event.task_id) == ("created", added.id)
    finally:
        await mine.close()
        await other.close()


async def test_a_dropped_connection_fails_one_write_cleanly_and_the_next_reconnects(
    pg_url: str,
) -> None:
    registry = await open_registry(pg_url)
    try:
        coordinator = Coordinator(registry)
        await coordinator.add_task({"title": "before"})
        name = pg_url.rsplit("/", 1)[1]
        with psycopg.connect(pg_url, autocommit=True) as admin:  # as a server restart would
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid != pg_backend_pid()",
                (name,),
            )
        outcomes = []
        for title in ("during", "after"):
            try:
                outcomes.append((await coordinator.add_task({"title": title})).title)
            except StoreError as error:
                assert "nothing was changed" in error.message
                outcomes.append("refused")
        assert outcomes[-1] == "after" and outcomes[0] in ("during", "refused")
        titles = set()
        for _ in range(registry._readers + 1):  # type: ignore[attr-defined]
            try:  # a reader whose connection was dropped fails once, then is replaced
                titles = {t.title for t in await registry.list_tasks()}
                break
            except StoreError:
                continue
        assert titles == {"before", "after"} | ({"during"} if outcomes[0] == "during" else set())
    finally:
        await registry.close()


async def test_each_batch_waits_for_the_write_lock_and_commits_durably(pg_url: str) -> None:
    """Another process (another host's engine) holding the writers' advisory lock makes this
    registry's write wait, as SQLite's BEGIN IMMEDIATE would; once it lets go, the write runs."""
    registry = await open_registry(pg_url)
    try:
        assert isinstance(registry, PostgresRegistry) and registry._session is not None
        raw = registry._session.conn.raw
        assert raw.execute("SHOW synchronous_commit").fetchone()[0] == "on"
        with (
            psycopg.connect(pg_url) as holder,
            psycopg.connect(pg_url, autocommit=True) as admin,
        ):
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema.WRITE_LOCK,))
            write = asyncio.ensure_future(Coordinator(registry).add_task({"title": "waits"}))
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            for _ in range(3000):  # until the writer is seen waiting for the lock (<= 30 s)
                if admin.execute(waiting).fetchone()[0] == 1:  # type: ignore[index]
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the writer never waited for the lock")
            assert not write.done() and await registry.list_tasks() == []
            holder.commit()  # lets go of the lock
            assert (await asyncio.wait_for(write, 30)).title == "waits"
    finally:
        await registry.close()


async def test_writes_take_their_time_from_the_database_server(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control rooms on hosts whose clocks differ agree on leases: a write's time (the lease's
    end, the event's time) is the server's, whatever this host's clock says."""
    registry = await open_registry(pg_url)
    try:
        c = Coordinator(registry, lease_seconds=300)
        task = await c.add_task({"title": "leased"})
        agent, _ = await c.register_agent("far", ["*"])
        ahead = time.time() + 3600  # this host's clock, an hour ahead, as the writer sees it
        monkeypatch.setattr(registry._writer, "_clock", lambda: ahead)
        claim = await c.claim(agent.id, task.id)
        with psycopg.connect(pg_url) as conn:
            (server_now,) = conn.execute("SELECT extract(epoch from now())::float8").fetchone()
        assert abs(claim.lease.expires_at - (server_now + 300)) < 60, "the server's clock"
        claimed = [e for e in await c.events() if e.kind == "claimed"]
        assert abs(claimed[-1].at - server_now) < 60
    finally:
        await registry.close()


async def test_a_registry_of_an_older_version_is_migrated_with_its_tasks(pg_url: str) -> None:
    """A PostgreSQL registry made by an older Control Room (the base schema, before the later
    migrations) is brought to the current version at open, in one transaction, its tasks kept."""
    with psycopg.connect(pg_url, autocommit=True) as shell:
        for script in pg_schema.scripts_after(0)[:2]:  # the SQLite functions, the base schema
            shell.execute(script)
        shell.execute(
            "INSERT INTO control_room_schema (version) VALUES (%s)", (pg_schema.BASE_VERSION,)
        )
        shell.execute(SEED_INSERT)  # type: ignore[arg-type]
    assert pg_schema.VERSION > pg_schema.BASE_VERSION, "this test needs a migration after BASE"
    registry = await open_registry(pg_url)
    try:
        c = Coordinator(registry)
        assert (await c.task("T-TEST-001")).title == "Create sample component"
        with psycopg.connect(pg_url) as shell:
            (version,) = shell.execute("SELECT version FROM control_room_schema").fetchone()
            machine = shell.execute(
                "SELECT 1 FROM information_schema.columns "
                "WHERE table_name = 'engines' AND column_name = 'machine'"
            ).fetchone()
        assert version == pg_schema.VERSION == len(schema.MIGRATIONS) and machine
        added = await c.add_task({"title": "after the migration"})
        assert (await c.task(added.id)).status == "AVAILABLE"
    finally:
        await registry.close()
