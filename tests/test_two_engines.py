"""Two control rooms (two data directories, as on two hosts) on ONE registry file: two real
`control-room run --headless` processes spawn each task exactly once, accept each other's
operator token, and settle the runs of the other when it is killed (-9) once it is gone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from pathlib import Path

import httpx2
import pytest

from control_room.domain.engines import heartbeat_seconds
from control_room.engine import processes
from tests.conftest import run_cli
from tests.serving import free_port
from tests.two_rooms import engines as _engines
from tests.two_rooms import healthy as _healthy
from tests.two_rooms import homes as _homes
from tests.two_rooms import rows as _rows
from tests.two_rooms import statuses as _statuses
from tests.two_rooms import wait as _wait


def test_two_engines_on_one_registry_spawn_each_task_once(tmp_path: Path) -> None:
    a, b, registry = _homes(tmp_path, "work")
    ports = free_port(), free_port()
    ids = [f"T-SHARED-{i}" for i in range(8)]
    tasks = [{"id": i, "title": f"shared {i}", "priority": "P0"} for i in ids]
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
    with _engines((a, tmp_path, ports[0]), (b, tmp_path, ports[1])) as running:
        _wait(lambda: all(_healthy(p) for p in ports))
        _wait(lambda: len(_rows(registry, "SELECT 1 FROM engines WHERE stopped_at IS NULL")) == 2)
        imported = run_cli("task", "import", str(tmp_path / "tasks.json"), data_dir=a)
        assert imported.returncode == 0, imported.stderr
        _wait(lambda: set(_statuses(registry).values()) == {"COMPLETED"})

        # each data directory's operator token works on the other's server; others do not
        for home, port in ((a, ports[1]), (b, ports[0])):
            token = (home / "operator.token").read_text().strip()
            answer = httpx2.post(
                f"http://127.0.0.1:{port}/api/tasks", json={"title": f"from {home.name}"},
                headers={"Authorization": f"Bearer {token}"}, timeout=30,
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
        stranger = httpx2.get(
            f"http://127.0.0.1:{ports[1]}/api/inbox",
            headers={"Authorization": "Bearer op_not-a-token"}, timeout=30,
        )  # fmt: skip
        assert stranger.status_code == 401
        engines = json.loads(run_cli("engine", "list", "--json", data_dir=a).stdout)
        assert sorted(e["host"] for e in engines) == ["alpha", "beta"]
        assert all(engine.poll() is None for engine in running)
    runs = _rows(registry, "SELECT task_id, engine_id FROM runs")
    per_task = {i: [e for t, e in runs if t == i] for i in ids}
    assert all(len(engines) == 1 for engines in per_task.values()), per_task
    started = _rows(registry, "SELECT task_id FROM events WHERE kind = 'agent_started'")
    assert sorted(str(t) for (t,) in started) == sorted(ids), "each task spawned exactly once"
    decided = _rows(registry, "SELECT count(*) FROM routing_decisions GROUP BY task_id")
    assert max(n for (n,) in decided) <= 6, "a refused spawn is held, not retried in a loop"
    hosts = _rows(registry, "SELECT DISTINCT e.host FROM runs r JOIN engines e USING (engine_id)")
    assert {str(h) for (h,) in hosts} == {"alpha", "beta"}, "both engines started agents"
    stopped = _rows(registry, "SELECT count(*) FROM engines WHERE stopped_at IS NOT NULL")
    assert stopped == [(2,)], "a clean exit marks the engine stopped"
    assert _rows(registry, "SELECT count(*) FROM operators WHERE status = 'ACTIVE'") == [(2,)]
    listed = run_cli("agent", "list", "--all", data_dir=b)  # b's CLI reads the shared registry
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert "HOST" in header and {"alpha", "beta"} <= set(" ".join(lines).split())
    shown = json.loads(run_cli("agent", "list", "--all", "--json", data_dir=a).stdout)
    assert {agent["host"] for agent in shown} == {"alpha", "beta"}
    name = f"{socket.gethostname()}:{a}"  # init registered it, before the host was named
    assert run_cli("operator", "list", data_dir=b).stdout.count(" ACTIVE ") == 2
    revoked = run_cli("operator", "revoke", name, data_dir=b)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    assert _rows(registry, "SELECT status FROM operators WHERE name = ?", name) == [("REVOKED",)]
    again = run_cli("operator", "revoke", name, data_dir=b)
    assert again.returncode == 1 and again.stderr.startswith("control-room: error: no active")


@pytest.mark.parametrize("same_host", [False, True], ids=["other-host", "same-host"])
def test_the_runs_of_a_killed_engine_are_settled_by_the_other_once_it_is_gone(
    tmp_path: Path, same_host: bool
) -> None:
    """On another host (as far as b knows) a is gone once silent for gone_seconds, and its
    agents cannot be seen from b; on the same host a's process is seen gone at once and b stops
    a's agents itself."""
    gone = 3.0 if not same_host else 60.0
    hosts = ("here", "here") if same_host else ("alpha", "beta")
    a, b, registry = _homes(tmp_path, "hang,work", gone_seconds=gone, hosts=hosts)
    ports = free_port(), free_port()
    ids = ["T-KILLED-1", "T-KILLED-2"]
    pids: list[int] = []
    with _engines((a, tmp_path, ports[0])) as (first,):
        try:
            for task_id in ids:
                added = run_cli("task", "add", "--id", task_id, "--title", "t", "--priority",
                                "P0", data_dir=a)  # fmt: skip
                assert added.returncode == 0, added.stderr
            _wait(lambda: set(_statuses(registry).values()) == {"IN_PROGRESS"})
            pids = [
                int(json.loads(str(d))["pid"])
                for (d,) in _rows(registry, "SELECT data FROM events WHERE kind='agent_started'")
            ]
            with _engines((b, tmp_path, ports[1])) as (second,):
                _wait(lambda: _healthy(ports[1]))
                live = "SELECT count(*) FROM runs WHERE ended_at IS NULL"  # a lives: kept
                assert _rows(registry, live) == [(2,)]
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=30)
                killed_at = time.time()
                _wait(lambda: set(_statuses(registry).values()) == {"COMPLETED"})
                assert second.poll() is None
            (noticed,) = _rows(registry, "SELECT at FROM events WHERE kind = 'engine_gone'")
            if same_host:
                assert float(noticed[0]) - killed_at < gone / 2, "seen gone long before 60 s"
                assert not any(processes.alive(pid) for pid in pids), "b stopped a's agents"
            else:
                assert float(noticed[0]) - killed_at >= gone - heartbeat_seconds(gone) - 0.5, (
                    "settled only once the killed engine was silent for gone_seconds"
                )
        finally:
            for pid in pids:  # a's agents on "another host" for b: b could not stop them
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
    ended = _rows(registry, "SELECT task_id, outcome, engine_id FROM runs ORDER BY started_at")
    assert len(ended) == 4
    first_runs, second_runs = ended[:2], ended[2:]
    how = "was stopped: the Control Room that started it had ended" if same_host else "elsewhere"
    assert all(how in str(o) for _, o, _ in first_runs), first_runs
    assert len({e for _, _, e in first_runs}) == 1 and len({e for _, _, e in second_runs}) == 1
    assert {t for t, _, _ in second_runs} == set(ids), "each task re-spawned once, by b"
    attempts = _rows(registry, "SELECT attempts FROM tasks")
    assert attempts == [(0,), (0,)], "an engine's death costs its tasks no attempt"
    _wait(lambda: not any(processes.alive(pid) for pid in pids), timeout=20)  # nothing left
