"""`control-room run --headless` and `control-room demo` as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from control_room.engine import processes
from tests.conftest import run_cli
from tests.engine_world import SPAWNED
from tests.serving import free_port

SCRIPT = Path(sys.executable).with_name("control-room")


def _config(modes: str, on_shutdown: str = "stop") -> str:
    command = [sys.executable, str(SPAWNED), modes, "{run_dir}"]
    return (
        f'[agents]\non_shutdown = "{on_shutdown}"\n\n[worktrees]\nenabled = false\n\n'
        f'[[agent_types]]\nname = "scripted"\nruntime = "command"\n'
        f'command = {json.dumps(command)}\n\n[routing]\ndefault_agent = "scripted"\n'
    )


def start_engine(home: Path, cwd: Path, *, stdout: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """A real `control-room run --headless` on `home`, on a free port."""
    return subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "run", "--headless", "--port", str(free_port())],
        stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip


def _task(home: Path, task_id: str) -> dict[str, object]:
    shown = run_cli("task", "show", task_id, "--json", data_dir=home)
    assert shown.returncode == 0, shown.stderr
    task: dict[str, object] = json.loads(shown.stdout)
    return task


def _wait(check: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_headless_sigterm_stops_the_agents_and_leaves_nothing_claimed(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(_config("hang"))
    engine = start_engine(home, tmp_path)
    try:
        added = run_cli("task", "add", "--title", "long", "--priority", "P0", data_dir=home)
        task_id = added.stdout.strip()
        _wait(lambda: _task(home, task_id)["status"] == "IN_PROGRESS")
        (run,) = json.loads(run_cli("agent", "list", "--json", data_dir=home).stdout)
        assert run["runtime"] == "command" and run["task_id"] == task_id
        events = run_cli("events", "--task", task_id, "--json", data_dir=home).stdout
        pid = next(
            json.loads(line)["data"]["pid"]
            for line in events.splitlines()
            if json.loads(line)["kind"] == "agent_started"
        )
        assert processes.alive(pid)
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=20) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
        out, err = engine.communicate()
    assert "Traceback" not in err, err
    assert not processes.alive(pid), "the agent was stopped"
    task = _task(home, task_id)
    assert (task["status"], task["attempts"], task["agent_id"]) == ("AVAILABLE", 0, None)
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]  # every line is JSON
    assert kinds[-2:] == ["released", "agent_ended"]
    assert {"routed", "agent_started", "claimed", "progress"} <= set(kinds)


def test_the_headless_demo_runs_every_sample_task_to_its_end(tmp_path: Path) -> None:
    demo = subprocess.run(
        [str(SCRIPT), "--data-dir", str(tmp_path / "world"), "demo", "--headless",
         "--exit-when-idle"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Traceback" not in demo.stderr
    summary = demo.stderr[demo.stderr.index("Demo finished") :]
    assert summary.count("COMPLETED") == 6 and "6 of 6 tasks completed" in summary
    assert "DEMO-TESTS    COMPLETED         2 run(s)" in summary, "the flaky check failed once"
    events = [json.loads(line) for line in demo.stdout.splitlines()]
    by_kind = {(e["kind"], e["task_id"]) for e in events}
    assert ("awaiting_approval", "DEMO-PLUGINS") in by_kind
    assert ("approved", "DEMO-PLUGINS") in by_kind
    assert ("checks_failed", "DEMO-TESTS") in by_kind
    assert ("ready", "DEMO-UI") in by_kind
    via_mcp = [e for e in events if e["kind"] == "completed" and "via MCP" in e["message"]]
    assert [e["task_id"] for e in via_mcp] == ["DEMO-PLUGINS"]


def test_the_demo_removes_its_temporary_world_unless_kept(tmp_path: Path) -> None:
    env = os.environ | {"TMPDIR": str(tmp_path)}
    for keep in ((), ("--keep",)):
        demo = subprocess.run(
            [str(SCRIPT), "demo", "--headless", "--exit-when-idle", *keep],
            capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr[-3000:]
        worlds = list(tmp_path.glob("control-room-demo-*"))
        if keep:
            assert len(worlds) == 1 and (worlds[0] / "data").is_dir()
            assert f"Kept the demo world in {worlds[0]}" in demo.stderr
        else:
            assert worlds == [], "the temporary world is gone"
            assert "Removed the demo world" in demo.stderr


def test_one_engine_per_data_directory(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(_config("work"))
    first = start_engine(home, tmp_path, stdout=subprocess.DEVNULL)
    try:
        _wait(
            lambda: (home / "engine.lock").exists() and "pid" in (home / "engine.lock").read_text()
        )
        second = run_cli("run", "--headless", "--port", str(free_port()), data_dir=home)
        assert second.returncode == 1
        assert second.stderr.startswith("control-room: error: a Control Room engine already runs")
        assert f"pid {first.pid}" in second.stderr and len(second.stderr.splitlines()) == 1
        port = free_port()
        beside = subprocess.Popen(
            [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(port)],
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait(lambda: _healthy(port) or beside.poll() is not None)
        assert beside.poll() is None, "serve runs beside the engine"
        beside.send_signal(signal.SIGTERM)
        assert beside.wait(timeout=15) == 0
        assert beside.stderr is not None
        beside.stderr.close()
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=20) == 0
        assert first.stderr is not None
        first.stderr.close()


def _healthy(port: int) -> bool:
    try:
        return httpx2.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False


def test_a_stop_asked_while_starting_is_a_clean_stop(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    engine = start_engine(home, tmp_path, stdout=subprocess.DEVNULL)
    _wait(lambda: (home / "engine.lock").exists())  # past start-up's imports, before serving
    engine.send_signal(signal.SIGTERM)
    assert engine.wait(timeout=20) == 0
    assert engine.stderr is not None
    assert "Traceback" not in engine.stderr.read()
    engine.stderr.close()


def test_agents_left_running_at_shutdown_are_adopted_by_the_next_engine(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(_config("hang", on_shutdown="leave"))

    def engine() -> subprocess.Popen[str]:
        return start_engine(home, tmp_path)

    first = engine()
    added = run_cli(
        "task", "add", "--title", "long", "--priority", "P0", "--max-attempts", "1", data_dir=home
    )
    task_id = added.stdout.strip()
    _wait(lambda: _task(home, task_id)["status"] == "IN_PROGRESS")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    first.communicate()
    events = run_cli("events", "--task", task_id, "--json", data_dir=home).stdout.splitlines()
    pid = next(json.loads(e)["data"]["pid"] for e in events if '"agent_started"' in e)
    assert processes.alive(pid), "left running"
    assert _task(home, task_id)["status"] == "IN_PROGRESS", "and still holding its task"

    second = engine()
    try:
        _wait(lambda: '"agent_adopted"' in run_cli("events", "--json", data_dir=home).stdout)
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: _task(home, task_id)["status"] == "FAILED", timeout=10)
        kinds = run_cli("events", "--task", task_id, "--json", data_dir=home).stdout
        assert '"released"' in kinds and "adopted after a restart" in kinds
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
        second.communicate()
