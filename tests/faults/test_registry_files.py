"""Issue 11, findings 2 and 3: the registry's files go wrong under or before `serve`.

* The write-ahead log and its shared-memory index are deleted while `serve` runs. SQLite
  would go on writing to the unlinked files: writes acknowledged from then on, and whatever
  the WAL held that was not yet in registry.db, would vanish with the process. The writer
  notices before the next commit, saves what was acknowledged into registry.db, and refuses
  every write with a JSON 503 and one line on stderr; after a kill -9 everything that was
  acknowledged is there.
* A registry with 8 KB of garbage in its middle: `serve` refuses it in one line, non-zero.
* A zero-length registry.db: nothing (not `serve`, `task add`, `task list`, not even `init`)
  takes it for a new registry; each says so in one line and the file stays as it is.
* `serve` says "serving on" (and its JSON start line) only once /api/health answers.

Everything runs through the real console script on real files.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from tests.conftest import run_cli
from tests.faults.test_storage import (
    ERROR_PREFIX,
    SCRIPT,
    SIDE_FILES,
    add,
    integrity,
    listed,
    one_line_error,
    refused_as_unavailable,
    serve,
)
from tests.lines import Lines
from tests.serving import free_port


def test_a_wal_removed_under_serve_refuses_writes_and_keeps_what_was_acknowledged(
    tmp_path: Path,
) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    with serve(home, tmp_path / "serve.err") as server:
        assert server.started()
        acked = set()
        for i in range(20):
            answer = server.post_task(f"before {i}", "x" * 2000)
            assert answer.status_code == 201, answer.text
            acked.add(answer.json()["id"])
        for name in SIDE_FILES:
            (home / name).unlink()
        answers = [server.post_task(f"after {i}") for i in range(20)]
        for answer in answers:
            refused_as_unavailable(answer, "write-ahead log", "shared memory")
        print(f"\nafter the WAL was removed: {answers[0].json()['message']}")
        assert server.task_ids() == acked, "reads go on, with everything acknowledged"
        noticed = [line for line in server.errors().splitlines() if "refusing every" in line]
        assert len(noticed) == 1, server.errors()  # said once, in one line
        assert noticed[0].startswith("control-room: the registry's "), noticed
        assert "Traceback" not in server.errors()
        server.kill()  # SIGKILL: nothing gets a chance to tidy up
    assert integrity(home / "registry.db") == "ok"
    assert listed(home) == acked, "a task acknowledged before the WAL vanished was lost"
    acked.add(add(home, "after a restart"))
    assert listed(home) == acked


async def _registry_with_tasks(path: Path, count: int) -> None:
    registry = await SqliteRegistry.open(path)
    try:
        coordinator = Coordinator(registry)
        await coordinator.add_tasks([{"title": f"task {i}", "description": "d" * 500}
                                     for i in range(count)])  # fmt: skip
    finally:
        await registry.close()


def _serve_once(home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    argv = [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(free_port())]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def test_a_corrupt_registry_is_refused_at_start(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    db = home / "registry.db"
    asyncio.run(_registry_with_tasks(db, 300))
    size = db.stat().st_size
    with open(db, "r+b") as handle:
        handle.seek(size // 2 // 4096 * 4096)
        handle.write(os.urandom(8192))
    started = time.monotonic()
    refused = _serve_once(home)
    print(f"\nserve on a corrupt {size >> 10} KB registry: {refused.stderr.strip()!r} "
          f"after {time.monotonic() - started:.1f} s")  # fmt: skip
    assert refused.returncode == 1, (refused.returncode, refused.stderr)
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), refused.stderr
    assert "corrupt" in lines[0] and str(db) in lines[0]
    assert "serving on" not in refused.stderr


def test_a_registry_too_big_to_check_in_time_starts_with_a_warning(tmp_path: Path) -> None:
    """The check at open is bounded: past `[store] check_seconds` it stops and says so."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    asyncio.run(_registry_with_tasks(home / "registry.db", 3000))
    (home / "control-room.toml").write_text("[store]\ncheck_seconds = 0.000001\n")
    with serve(home, tmp_path / "serve.err") as server:
        assert server.started()
        warned = [line for line in server.errors().splitlines() if "not checked in full" in line]
        assert len(warned) == 1, server.errors()
        assert server.post_task("still works").status_code == 201
        assert server.terminate() == 0


@pytest.mark.parametrize("command", ["serve", "task list", "task add", "init"])
def test_an_empty_registry_is_never_taken_for_a_new_one(tmp_path: Path, command: str) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    for i in range(3):
        add(home, f"lost {i}")
    (home / "registry.db").write_bytes(b"")  # emptied by a bad copy, a full disk, a script
    if command == "serve":
        result = _serve_once(home)
    else:
        argv = command.split() + (["--title", "x"] if command == "task add" else [])
        result = run_cli(*argv, data_dir=home)
    line = one_line_error(result, "empty")
    assert "serving on" not in result.stderr
    print(f"\n{command} on an empty registry: {line}")
    assert (home / "registry.db").stat().st_size == 0, "the empty file was made a registry"


def test_serve_says_serving_on_only_once_it_serves(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    port = free_port()
    process = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    said = Lines(process.stderr)
    try:
        said.wait_for(lambda line: "serving on" in line)
        # Told it serves: the very first request is answered, no retry.
        assert httpx2.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        start = json.loads(said.wait_for(lambda line: line.startswith("{")))
        assert start["event"] == "started" and start["url"] == f"http://127.0.0.1:{port}"
        assert start["pid"] == process.pid and start["version"]
        process.terminate()
        assert process.wait(timeout=15) == 0
        assert json.loads(said.join()[-1])["event"] == "stopped", said.lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        process.stderr.close()
