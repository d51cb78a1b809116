"""The real `control-room` console script in child processes, against a real data directory."""

from __future__ import annotations

import asyncio
import json
import select
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from control_room.config import load_settings
from control_room.default_config import DEFAULT_CONFIG
from tests.conftest import coordinator_at, run_cli


def snapshot(home: Path) -> tuple[list[tuple[object, ...]], int]:
    db = sqlite3.connect(home / "registry.db")
    try:
        tasks = db.execute("SELECT * FROM tasks ORDER BY task_id").fetchall()
        (events,) = db.execute("SELECT count(*) FROM events").fetchone()
    finally:
        db.close()
    return tasks, events


def test_init_creates_the_data_directory_once(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    first = run_cli("init", data_dir=data)
    assert first.returncode == 0 and "Initialised Control Room" in first.stdout
    token = (data / "operator.token").read_text()
    assert stat.S_IMODE((data / "operator.token").stat().st_mode) == 0o600
    assert len(token.strip()) > 40
    assert (data / "control-room.toml").exists() and (data / "registry.db").exists()
    again = run_cli("init", data_dir=data)
    assert again.returncode == 0 and "already initialised" in again.stdout
    assert (data / "operator.token").read_text() == token


def test_add_list_show_round_trip(home: Path) -> None:
    added = run_cli(
        "task", "add", "--title", "Build the login form", "--priority", "P1-HIGH",
        "--type", "implementation", "--capability", "frontend", "--capability", "ui",
        "--criteria", "form validates email", "--check", "pytest -q", "--project", "web",
        "--id", "WEB-1", "--max-attempts", "5", data_dir=home,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "WEB-1"
    dependent = run_cli("task", "add", "--title", "Ship it", "--depends-on", "WEB-1", data_dir=home)
    new_id = dependent.stdout.strip()
    assert new_id.startswith("T-")

    listing = json.loads(run_cli("task", "list", "--json", data_dir=home).stdout)
    assert [t["id"] for t in listing] == ["WEB-1", new_id]
    web = listing[0]
    assert web["priority"] == "P1" and web["status"] == "AVAILABLE"
    assert web["capabilities"] == ["frontend", "ui"] and web["checks"] == ["pytest -q"]
    assert web["max_attempts"] == 5 and web["project"] == "web"
    assert listing[1]["status"] == "PENDING" and listing[1]["depends_on"] == ["WEB-1"]

    table = run_cli("task", "list", data_dir=home).stdout
    assert "WEB-1" in table and "Build the login form" in table and "PENDING" in table
    pending = json.loads(
        run_cli("task", "list", "--status", "pending", "--json", data_dir=home).stdout
    )
    assert [t["id"] for t in pending] == [new_id]

    shown = json.loads(run_cli("task", "show", "WEB-1", "--json", data_dir=home).stdout)
    assert shown["title"] == "Build the login form"
    assert [e["kind"] for e in shown["events"]] == ["created"]
    text = run_cli("task", "show", "WEB-1", data_dir=home).stdout
    assert "P1-HIGH" in text and "pytest -q" in text and "created" in text


def test_python_dash_m_is_the_same_program(home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "control_room", "--data-dir", str(home), "task", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_operator_commands_move_tasks(home: Path) -> None:
    asyncio.run(_hold_for_approval(home / "registry.db", "ARCH"))
    approved = run_cli("task", "approve", "ARCH", data_dir=home)
    assert approved.returncode == 0 and "AWAITING_APPROVAL → AVAILABLE" in approved.stdout
    cancelled = run_cli("task", "cancel", "ARCH", "--reason", "superseded", data_dir=home)
    assert "→ CANCELLED (superseded)" in cancelled.stdout
    retried = run_cli("task", "retry", "ARCH", data_dir=home)
    assert "CANCELLED → AVAILABLE" in retried.stdout

    asyncio.run(_hold_for_approval(home / "registry.db", "ARCH-2"))
    rejected = run_cli("task", "reject", "ARCH-2", "--reason", "too risky", data_dir=home)
    assert rejected.returncode == 0
    task = json.loads(run_cli("task", "show", "ARCH-2", "--json", data_dir=home).stdout)
    assert (task["status"], task["reason"]) == ("CANCELLED", "too risky")
    assert task["events"][-1]["kind"] == "rejected"


async def _hold_for_approval(path: Path, task_id: str) -> None:
    async with coordinator_at(path) as coordinator:
        await coordinator.add_task({"id": task_id, "title": "design", "type": "architecture"})
        await coordinator.await_approval(task_id, "architecture needs a human")


def test_import_json_and_toml(home: Path, tmp_path: Path) -> None:
    as_json = tmp_path / "tasks.json"
    as_json.write_text(
        json.dumps(
            [
                {"id": "A", "title": "first", "priority": "P0-CRITICAL"},
                {"id": "B", "title": "second", "depends_on": ["A"], "checks": ["make test"]},
            ]
        )
    )
    result = run_cli("task", "import", str(as_json), data_dir=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["A", "B"]
    as_toml = tmp_path / "more.toml"
    as_toml.write_text(
        '[[tasks]]\ntitle = "third"\ncapabilities = ["backend"]\nmanual = true\n\n'
        '[[tasks]]\nid = "D"\ntitle = "fourth"\ndepends_on = ["B"]\n'
    )
    result = run_cli("task", "import", str(as_toml), data_dir=home)
    assert result.returncode == 0, result.stderr
    tasks = {
        t["title"]: t for t in json.loads(run_cli("task", "list", "--json", data_dir=home).stdout)
    }
    assert tasks["third"]["manual"] is True and tasks["fourth"]["status"] == "PENDING"


BAD_ADDS = [
    (["--title", "x", "--priority", "P9"], "unknown priority 'P9'"),
    (["--priority", "P1"], "required: --title"),
    (["--title", "   "], "--title: a title is required"),
    (["--title", "x", "--depends-on", "NOPE"], "--depends-on: no task NOPE"),
    (["--title", "x", "--max-attempts", "0"], "--max-attempts: 0 is out of range"),
    (["--title", "x", "--max-attempts", "many"], "invalid int value: 'many'"),
    (["--title", "x", "--id", "bad id!"], "--id: 'bad id!' is not a task id"),
    (["--title", "x", "--id", "EXISTING"], "task EXISTING already exists"),
    (["--title", "x", "--capability", "Has Space"], "--capability: 'has space' is not a name"),
    (["--title", "x" * 201], "--title: is 201 characters; the limit is 200"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ADDS)
def test_bad_task_add_changes_nothing(home: Path, args: list[str], message: str) -> None:
    run_cli("task", "add", "--id", "EXISTING", "--title", "already here", data_dir=home)
    before = snapshot(home)
    result = run_cli("task", "add", *args, data_dir=home)
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("control-room: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(home) == before


BAD_IMPORTS = [
    ("broken.json", '[{"title": "a"}, {"title": ', "is not valid JSON (line 1"),
    ("broken.toml", "[[tasks]]\ntitle = ", "is not valid TOML"),
    ("object.json", '{"title": "lonely"}', "expected a list of tasks"),
    ("empty.json", "[]", "holds no tasks"),
    ("scalar.json", '["just text"]', "task 1 is not a table/object"),
    (
        "cycle.json",
        json.dumps(
            [
                {"id": "X", "title": "x", "depends_on": ["Y"]},
                {"id": "Y", "title": "y", "depends_on": ["X"]},
            ]
        ),
        "dependency cycle: X -> Y -> X",
    ),
    (
        "priority.json",
        json.dumps(
            [
                {"title": "fine"},
                {"title": "Broken one", "priority": "urgent"},
            ]
        ),
        "task 2 ('Broken one'): priority: unknown priority 'urgent'",
    ),
    ("types.json", json.dumps([{"title": "t", "max_attempts": "3"}]), "max_attempts: must be"),
    ("unknown.json", json.dumps([{"title": "t", "owner": "me"}]), "owner: unknown field"),
    ("missing.json", None, "no such file"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_IMPORTS)
def test_bad_import_changes_nothing(
    home: Path, tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    run_cli("task", "add", "--title", "already here", data_dir=home)
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    before = snapshot(home)
    result = run_cli("task", "import", str(path), data_dir=home)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert snapshot(home) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task", "show", "NOPE"], "no task NOPE"),
        (["task", "approve", "NOPE"], "no task NOPE"),
        (["task", "reject", "NOPE"], "required: --reason"),
        (["task", "list", "--status", "DONE"], "unknown status 'DONE'"),
        (["task", "frobnicate"], "invalid choice: 'frobnicate'"),
        (["events", "--after", "x"], "invalid int value"),
        (["events", "--limit", "0"], "must be at least 1"),
        (["events", "--after", "-1"], "is negative"),
    ],
)
def test_bad_commands_say_one_line(home: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, data_dir=home)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_without_init_the_error_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli("task", "list", data_dir=tmp_path / "nowhere")
    assert result.returncode == 1
    assert "run `control-room init` first" in result.stderr
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[store]\nsynchronous = 'SOMETIMES'\n", "store.synchronous"),
        ("[leases]\nseconds = nan\n", "leases.seconds"),
        ("[leases]\nseconds = inf\n", "leases.seconds"),
        ("[store]\nbusy_timeout_ms = -1\n", "store.busy_timeout_ms"),
        ("[server]\nport = 'http'\n", "server.port"),
        ("[srever]\nport = 1\n", "srever.port: unknown setting"),
        ("[store\n", "cannot read the config"),
    ],
)
def test_a_broken_config_is_named(home: Path, config: str, message: str) -> None:
    (home / "control-room.toml").write_text(config)
    result = run_cli("task", "list", data_dir=home)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1


def test_a_named_config_must_exist(home: Path, tmp_path: Path) -> None:
    result = run_cli("task", "list", "--config", str(tmp_path / "typo.toml"), data_dir=home)
    assert result.returncode == 1 and "no such config file" in result.stderr


def test_unusable_paths_are_user_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("not a directory")
    result = run_cli("init", data_dir=a_file)
    assert result.returncode == 1 and "internal error" not in result.stderr, result.stderr
    assert str(a_file) in result.stderr


def test_an_absurdly_nested_import_is_refused(home: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = run_cli("task", "import", str(deep), data_dir=home)
    assert result.returncode == 1 and "nested too deeply" in result.stderr, result.stderr


def test_terminal_control_characters_from_agents_are_not_replayed(home: Path) -> None:
    async def seed() -> None:
        async with coordinator_at(home / "registry.db") as coordinator:
            agent, _ = await coordinator.register_agent("sneaky")
            await coordinator.add_task({"id": "T", "title": "innocent"})
            claim = await coordinator.claim(agent.id, "T")
            await coordinator.progress(
                "T", agent.id, claim.lease.epoch, 5, "\x1b[2K\x1b]0;pwned\x07hidden"
            )

    asyncio.run(seed())
    for args in (["events"], ["task", "show", "T"], ["events", "--json"]):
        out = run_cli(*args, data_dir=home).stdout
        assert "\x1b" not in out and "\x07" not in out, args
    assert "\ufffd[2K" in run_cli("events", data_dir=home).stdout


def test_task_show_keeps_the_newest_history(home: Path) -> None:
    async def seed() -> None:
        async with coordinator_at(home / "registry.db") as coordinator:
            agent, _ = await coordinator.register_agent("busy")
            await coordinator.add_task({"id": "LONG", "title": "many updates"})
            claim = await coordinator.claim(agent.id, "LONG")
            for percent in range(1, 100):
                for _ in range(11):
                    await coordinator.progress("LONG", agent.id, claim.lease.epoch, percent)
            await coordinator.complete("LONG", agent.id, claim.lease.epoch, "finally")

    asyncio.run(seed())
    shown = json.loads(run_cli("task", "show", "LONG", "--json", data_dir=home).stdout)
    assert len(shown["events"]) == 2 + 99 * 11 + 1
    assert shown["events"][-1]["kind"] == "completed"
    text = run_cli("task", "show", "LONG", data_dir=home).stdout
    assert "completed" in text and "older events" in text


def test_agent_list_and_events(home: Path) -> None:
    async def seed() -> None:
        async with coordinator_at(home / "registry.db") as coordinator:
            agent, _ = await coordinator.register_agent("claude-1", ["backend"], "claude-code")
            await coordinator.add_task({"id": "W", "title": "work"})
            claim = await coordinator.claim(agent.id, "W")
            await coordinator.progress("W", agent.id, claim.lease.epoch, 30, "tests written")

    asyncio.run(seed())
    agents = json.loads(run_cli("agent", "list", "--json", data_dir=home).stdout)
    assert [(a["name"], a["runtime"], a["task_id"]) for a in agents] == [
        ("claude-1", "claude-code", "W")
    ]
    assert "claude-1" in run_cli("agent", "list", data_dir=home).stdout
    lines = run_cli("events", "--json", data_dir=home).stdout.splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert kinds == ["agent_registered", "created", "claimed", "progress"]
    text = run_cli("events", "--task", "W", data_dir=home).stdout
    assert "IN_PROGRESS" in text and "tests written" in text
    after = run_cli("events", "--after", "3", "--json", data_dir=home).stdout.splitlines()
    assert [json.loads(line)["id"] for line in after] == [4]


def test_events_follow_prints_new_events(home: Path) -> None:
    script = Path(sys.executable).with_name("control-room")
    follower = subprocess.Popen(
        [str(script), "--data-dir", str(home), "events", "--follow", "--json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        run_cli("task", "add", "--id", "LIVE", "--title", "appears live", data_dir=home)
        assert follower.stdout is not None
        ready, _, _ = select.select([follower.stdout], [], [], 10)
        assert ready, "no event within 10 s"
        event = json.loads(follower.stdout.readline())
        assert (event["kind"], event["task_id"]) == ("created", "LIVE")
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        assert follower.stdout is not None
        follower.stdout.close()


def test_agent_add_and_revoke(home: Path) -> None:
    added = run_cli(
        "agent", "add", "--name", "cli-agent", "--capability", "backend", "--json", data_dir=home
    )
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["token"].startswith("cr_") and created["agent_id"].startswith("A-")
    listed = json.loads(run_cli("agent", "list", "--json", data_dir=home).stdout)
    assert [(a["name"], a["capabilities"], a["status"]) for a in listed] == [
        ("cli-agent", ["backend"], "ACTIVE")
    ]
    revoked = run_cli("agent", "revoke", created["agent_id"], data_dir=home)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert (
        json.loads(run_cli("agent", "list", "--all", "--json", data_dir=home).stdout)[0]["status"]
        == "REVOKED"
    )

    async def token_works() -> bool:
        async with coordinator_at(home / "registry.db") as coordinator:
            return await coordinator.authenticate(created["token"]) is not None

    assert not asyncio.run(token_works())
    again = run_cli("agent", "revoke", "A-nobody", data_dir=home)
    assert again.returncode == 1 and "no agent A-nobody" in again.stderr


def test_the_readme_shows_the_config_init_writes() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert f"```toml\n{DEFAULT_CONFIG}```" in readme


def test_the_readme_example_config_is_valid(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("```toml\n[server]\nregistration_secret")
    example = readme[start + len("```toml\n") : readme.index("```\n", start + 8)]
    path = tmp_path / "control-room.toml"
    path.write_text(example)
    settings = load_settings(path)
    assert settings.routing.max_running == 4 and settings.notify_urls
    kinds = {kind.name: kind for kind in settings.routing.agent_types}
    assert kinds["decision-architect"].model == "claude-opus-5-5"
    assert kinds["codex-frontend"].command[0] == "codex"
    assert settings.routing.default_agent_type is kinds["development-lead"]
