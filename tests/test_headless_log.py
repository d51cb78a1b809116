"""Issue 11, finding 10: the headless log has every committed event, whoever wrote it.

`run --headless` prints one JSON line per event on stdout, in id order, including the events
other processes commit (`task add` and `task approve` from the CLI, a sqlite3 shell). Its
stderr is plain lines: a JSON line when it serves (url, pid, version) and when it stops.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.lines import Lines
from tests.test_headless import SCRIPT, _config, _task, _wait, start_engine


def events(out: Lines) -> list[dict[str, Any]]:
    return [json.loads(line) for line in list(out.lines)]


def has(out: Lines, kind: str, task_id: str) -> bool:
    return any(e["kind"] == kind and e["task_id"] == task_id for e in events(out))


def test_events_from_other_processes_reach_the_headless_log(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(_config("work"))
    engine = start_engine(home, tmp_path)
    assert engine.stdout is not None and engine.stderr is not None
    printed, said = Lines(engine.stdout), Lines(engine.stderr)
    try:
        start = json.loads(said.wait_for(lambda line: line.startswith("{")))
        first = said.lines[0]
        assert "running on" in first and start["event"] == "started", (first, start)
        assert start["pid"] == engine.pid and start["version"] and start["url"] in first
        added = run_cli("task", "add", "--title", "Plan it", "--type", "architecture",
                        data_dir=home)  # fmt: skip
        task_id = added.stdout.strip()
        _wait(lambda: has(printed, "created", task_id), timeout=10)
        _wait(lambda: _task(home, task_id)["status"] == "AWAITING_APPROVAL")
        approved = run_cli("task", "approve", task_id, data_dir=home)
        assert approved.returncode == 0, approved.stderr
        _wait(lambda: has(printed, "approved", task_id), timeout=10)
        conn = sqlite3.connect(home / "registry.db")
        with conn:
            conn.execute(
                "INSERT INTO tasks (task_id, title, priority, status) "
                "VALUES ('T-SHELL', 'from a shell', 'P3', 'AVAILABLE')"
            )
        conn.close()
        _wait(lambda: has(printed, "created", "T-SHELL"), timeout=10)
        _wait(lambda: _task(home, task_id)["status"] == "COMPLETED")
        _wait(lambda: has(printed, "completed", task_id), timeout=10)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
        lines = said.join()
        printed.join()
        engine.stderr.close()
        engine.stdout.close()
    assert engine.returncode == 0, lines

    ids = [e["id"] for e in events(printed)]
    assert ids == sorted(set(ids)), "in id order, each once"
    logged = run_cli("events", "--json", "--after", str(ids[0] - 1), "--limit", "1000",
                     data_dir=home)  # fmt: skip
    assert [json.loads(line)["id"] for line in logged.stdout.splitlines()] == ids, "none missed"
    created_by = {e["task_id"]: e["actor"] for e in events(printed) if e["kind"] == "created"}
    assert created_by[task_id] == "operator" and created_by["T-SHELL"] == "sql"

    stop = json.loads(lines[-1])
    assert stop["event"] == "stopped" and stop["pid"] == engine.pid
    for line in lines:  # plain: JSON, or a line of its own that says who speaks
        assert line.startswith(("{", "control-room: ", "Control Room ")), line
        assert "│" not in line and "╭" not in line, "no Rich panels"


def test_a_second_writer_under_load_loses_no_line(tmp_path: Path) -> None:
    """Events committed while the printer is busy reading are printed once, in order."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text("[routing]\nspawn_priorities = []\n")
    engine = start_engine(home, tmp_path)
    assert engine.stdout is not None and engine.stderr is not None
    printed, said = Lines(engine.stdout), Lines(engine.stderr)
    try:
        said.wait_for(lambda line: '"event": "started"' in line)
        tasks = [{"id": f"T-{i:03d}", "title": f"task {i}", "priority": "P3"} for i in range(150)]
        writers = []
        for n, half in enumerate((tasks[:75], tasks[75:])):  # two CLI processes at once
            file = tmp_path / f"tasks{n}.json"
            file.write_text(json.dumps(half))
            argv = [str(SCRIPT), "--data-dir", str(home), "task", "import", str(file)]
            writers.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL))
        for writer in writers:
            assert writer.wait(timeout=60) == 0
        _wait(lambda: sum(e["kind"] == "created" for e in events(printed)) == 150, timeout=20)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
        said.join()
        printed.join()
        engine.stderr.close()
        engine.stdout.close()
    ids = [e["id"] for e in events(printed)]
    assert ids == sorted(set(ids))
    assert sum(e["kind"] == "created" for e in events(printed)) == 150
