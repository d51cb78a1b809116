"""Issue 6: `kill -9` of `control-room run --headless` under load, again and again.

16 outside agents work claim -> progress -> complete over REST while the engine also spawns
scripted agents (`command` runtime) for the P0 tasks. At a random moment of each round the engine
is killed with SIGKILL (only it: the agents it spawned run in their own sessions and survive as
orphans) and started again on the same port. After the last round one more engine runs for a
lease and a bit, so its reconciler and lease reaper act, and stops with SIGTERM. Then:

* `PRAGMA integrity_check` is ok;
* every transition a client was told about (HTTP 200) is in the registry: the claim as a
  `claimed` event of that epoch and agent, progress and completion as events of that agent
  within that epoch, a completed task still COMPLETED under that epoch;
* one `claimed` event per (task, epoch), epochs rising, event ids 1..N without a hole;
* no task is CLAIMED or IN_PROGRESS past its lease;
* every run the killed engines started has ended (adopted and watched to its end, or stopped, or
  found gone, and its task settled), and no agent process is left alive.

10 rounds, 50 with `pytest --long`. The seed is printed; KILL9_SEED=N replays a schedule.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest

from control_room.engine import processes
from tests.conftest import run_cli
from tests.faults.agents_http import Ack, Ledger, OutsideAgent, start_fleet, stop_fleet
from tests.serving import free_port

SCRIPT = Path(sys.executable).with_name("control-room")
LEASE_SECONDS = 3
OUTSIDE_AGENTS = 16
HELD = ("CLAIMED", "IN_PROGRESS")

# The agent the engine spawns: notes its start (pid, agent) in the file named by argv[2], claims
# its own task, reports progress twice, completes. While the server is down it retries (its
# engine was killed; the next one adopts it). Every answer it was given is appended to the file
# named by argv[1], as the test's own agents remember them.
SPAWNED_AGENT = r"""
import json, os, sys, time, urllib.error, urllib.request

URL, TOKEN = os.environ["CONTROL_ROOM_URL"], os.environ["CONTROL_ROOM_TOKEN"]
TASK, AGENT = os.environ["CONTROL_ROOM_TASK_ID"], os.environ["CONTROL_ROOM_AGENT_ID"]
ACKS, STARTS = sys.argv[1], sys.argv[2]
with open(STARTS, "a") as out:
    out.write(json.dumps({"pid": os.getpid(), "agent_id": AGENT, "task_id": TASK}) + "\n")


def call(path, body):
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    deadline = time.monotonic() + 20
    while True:
        request = urllib.request.Request(f"{URL}/api{path}", json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, None
        except OSError:  # refused, reset, timed out: the server is down or dying
            if time.monotonic() > deadline:
                sys.exit(5)
            time.sleep(0.2)


def ack(kind, epoch, task):
    line = {"kind": kind, "task_id": TASK, "agent_id": AGENT, "epoch": epoch,
            "status": task["status"]}
    with open(ACKS, "a") as out:
        out.write(json.dumps(line) + "\n")


sys.stdin.read()
status, body = call("/tasks/claim", {"task_id": TASK})
if status != 200:
    sys.exit(2)
epoch = body["lease"]["epoch"]
ack("claim", epoch, body["task"])
for percent in (30, 60):
    time.sleep(0.3)
    status, task = call(f"/tasks/{TASK}/progress", {"epoch": epoch, "percent": percent})
    if status != 200:
        sys.exit(3)
    ack("progress", epoch, task)
time.sleep(0.2)
status, task = call(f"/tasks/{TASK}/complete", {"epoch": epoch, "summary": "spawned did it"})
if status != 200:
    sys.exit(4)
ack("complete", epoch, task)
"""


def _config(agent: Path, acks: Path, starts: Path) -> str:
    command = [sys.executable, str(agent), str(acks), str(starts)]
    return (
        f"[leases]\nseconds = {LEASE_SECONDS}\n\n"
        '[agents]\non_shutdown = "stop"\nwall_clock_seconds = 120\n\n'
        "[worktrees]\nenabled = false\n\n"
        '[routing]\nspawn_priorities = ["P0"]\nmax_running = 3\ndefault_agent = "scripted"\n\n'
        '[[agent_types]]\nname = "scripted"\nruntime = "command"\ncapabilities = ["spawn-only"]\n'
        f"command = {json.dumps(command)}\n"
    )


def _tasks(spawned: int, claimable: int) -> list[dict[str, Any]]:
    """P0 tasks only a spawned agent can take; P2 tasks for the outside agents."""
    own = [
        {"id": f"S-{i:04d}", "title": f"spawned {i}", "priority": "P0",
         "capabilities": ["spawn-only"], "max_attempts": 20}
        for i in range(spawned)
    ]  # fmt: skip
    return own + [
        {"id": f"O-{i:05d}", "title": f"outside {i}", "priority": "P2"} for i in range(claimable)
    ]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}


def _healthy(url: str) -> bool:
    try:
        return httpx2.get(f"{url}/api/health", timeout=1).status_code == 200
    except httpx2.HTTPError:
        return False


def _open_ro(db: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    connection.row_factory = sqlite3.Row
    return connection


def _runs(db: Path) -> list[sqlite3.Row]:
    with contextlib.closing(_open_ro(db)) as connection:
        return list(connection.execute("SELECT * FROM runs ORDER BY started_at"))


def _agent_processes(agent: Path) -> list[int]:
    """Live processes running the spawned agent script (recorded in a run or not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            mine = str(agent).encode() in (entry / "cmdline").read_bytes()
            if mine and processes.alive(int(entry.name)):
                found.append(int(entry.name))
    return found


class Engine:
    """`control-room run --headless` on a fixed port, one process per round."""

    def __init__(self, home: Path, port: int, logs: Path, cwd: Path) -> None:
        self.home, self.port, self.logs, self.cwd = home, port, logs, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        name = self.logs / f"engine-{self.started:03d}"
        with open(f"{name}.out", "wb") as out, open(f"{name}.err", "wb") as err:
            self.process = subprocess.Popen(
                [str(SCRIPT), "--data-dir", str(self.home), "run", "--headless",
                 "--port", str(self.port)],
                stdout=out, stderr=err, cwd=self.cwd, env=_environment(),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _healthy(self.url):
            code = self.process.poll()
            assert code is None, f"engine {self.started} exited {code}: {self.stderr()[-2000:]}"
            assert time.monotonic() < deadline, f"engine {self.started} did not come up"
            time.sleep(0.05)

    def stderr(self, number: int | None = None) -> str:
        return Path(self.logs, f"engine-{number or self.started:03d}.err").read_text()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def ensure_gone(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.slow
def test_kill9_under_load_loses_nothing_acknowledged(tmp_path: Path, long_mode: bool) -> None:
    began = time.monotonic()
    rounds = 50 if long_mode else 10
    seed = int(os.environ.get("KILL9_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    home, logs = tmp_path / "data", tmp_path / "logs"
    logs.mkdir()
    agent_script, acks_file = tmp_path / "spawned_agent.py", tmp_path / "spawned_acks.jsonl"
    starts_file = tmp_path / "spawned_starts.jsonl"
    agent_script.write_text(SPAWNED_AGENT)
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(_config(agent_script, acks_file, starts_file))
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps(_tasks(rounds * 4, rounds * 400)))
    imported = run_cli("task", "import", str(tasks), data_dir=home)
    assert imported.returncode == 0, imported.stderr
    operator = (home / "operator.token").read_text().strip()
    db = home / "registry.db"

    engine = Engine(home, free_port(), logs, tmp_path)
    fleet: list[OutsideAgent] = []
    ledger, stop = Ledger(), None
    try:
        engine.start()
        fleet, ledger, stop = start_fleet(OUTSIDE_AGENTS, engine.url, operator)
        for _ in range(rounds):
            time.sleep(chance.uniform(0.3, 1.5))
            engine.kill()
            engine.start()
        # The last engine: outside agents stop (giving back what they hold), then the
        # reconciler and the lease reaper get a lease and a bit to settle everything else.
        stop_fleet(fleet, stop)
        time.sleep(LEASE_SECONDS + 2)
        assert engine.stop() == 0, engine.stderr()[-3000:]
        left = _wait_for_no_agents(agent_script, timeout=10)
    finally:
        engine.ensure_gone()
        if stop is not None:
            stop.set()
        _kill_leftovers(db, agent_script)

    errors = [error for agent in fleet for error in agent.errors]
    assert not errors, errors
    for number in range(1, engine.started + 1):
        assert "Traceback" not in engine.stderr(number), engine.stderr(number)[-3000:]
    assert not left, f"spawned agents still alive after the last engine stopped: {left}"
    assert not [s for s in ledger.statuses if s >= 500], ledger.statuses

    spawned_acks = [Ack(**json.loads(line)) for line in _lines(acks_file)]
    checked = check_registry(db, ledger.acks + spawned_acks)
    outcomes = checked.pop("outcomes")
    untracked = _untracked_starts(db, starts_file)
    print(
        f"\nkill9: seed {seed}, {rounds} rounds (SIGKILL), {engine.started} engine starts, "
        f"{checked['acks']} acknowledged transitions checked "
        f"({checked['claims']} claims, {checked['progress']} progress, "
        f"{checked['completions']} completions; {len(spawned_acks)} from spawned agents), "
        f"{checked['completed']} tasks COMPLETED, {checked['runs']} runs "
        f"({checked['adopted']} adopted, {outcomes}), "
        f"{len(untracked)} agent processes started whose run never got their pid "
        f"{untracked}, {ledger.unknown} requests unanswered, "
        f"{ledger.recovered} lost claims recovered, "
        f"HTTP {dict(sorted(ledger.statuses.items()))}, "
        f"{time.monotonic() - began:.1f} s"
    )


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _untracked_starts(db: Path, starts: Path) -> list[str]:
    """Agents whose process started but whose run has no pid: an engine was killed between
    starting the process and recording it, so no later engine could adopt or stop it (the
    reconciler takes such a run for gone). Reported, not asserted (a known gap): the process
    is still required to be gone by the end (its token is revoked when the run is settled)."""
    pids = {run["agent_id"]: run["pid"] for run in _runs(db)}
    untracked = []
    for line in _lines(starts):
        start = json.loads(line)
        recorded = pids.get(start["agent_id"])
        assert recorded in (None, start["pid"]), (start, recorded)
        if recorded is None:
            untracked.append(f"{start['task_id']}/pid {start['pid']}")
    return untracked


def _wait_for_no_agents(agent: Path, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _agent_processes(agent)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _kill_leftovers(db: Path, agent: Path) -> None:
    """Never leave a process behind: every recorded run's group, every agent script process."""
    pids: set[int] = set(_agent_processes(agent))
    with contextlib.suppress(sqlite3.Error):
        for run in _runs(db):
            if run["pid"] is not None and processes.alive(run["pid"], run["pid_identity"]):
                pids.add(run["pid"])
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def check_registry(db: Path, acks: list[Ack]) -> dict[str, Any]:
    """Assert what the registry must say after the rounds; returns figures for the summary."""
    now = time.time()
    with contextlib.closing(_open_ro(db)) as connection:
        assert [tuple(r) for r in connection.execute("PRAGMA integrity_check")] == [("ok",)]
        events = list(connection.execute("SELECT * FROM events ORDER BY rowid"))
        tasks = {r["task_id"]: r for r in connection.execute("SELECT * FROM tasks")}
        runs = list(connection.execute("SELECT * FROM runs"))

    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1)), "event ids rise by one, without a hole"

    # Per task: its claims in order (event id, epoch, agent) and every event's position.
    claims: dict[str, list[tuple[int, int, str]]] = {}
    by_task: dict[str, list[sqlite3.Row]] = {}
    for event in events:
        if event["task_id"] is None:
            continue
        by_task.setdefault(event["task_id"], []).append(event)
        if event["kind"] == "claimed":
            epoch = json.loads(event["data"])["epoch"]
            claims.setdefault(event["task_id"], []).append((event["id"], epoch, event["agent_id"]))
    for task_id, claimed in claims.items():
        epochs = [epoch for _, epoch, _ in claimed]
        assert epochs == sorted(set(epochs)), f"{task_id}: one claim per epoch, rising: {epochs}"
        assert epochs[-1] <= tasks[task_id]["epoch"], task_id

    def within_epoch(ack: Ack, kinds: tuple[str, ...]) -> bool:
        """An event of `kinds` by the ack's agent between its claim and the task's next one."""
        claimed = claims.get(ack.task_id, [])
        starts = [i for i, (_, epoch, _) in enumerate(claimed) if epoch == ack.epoch]
        if not starts:
            return False
        first = claimed[starts[0]][0]
        until = claimed[starts[0] + 1][0] if starts[0] + 1 < len(claimed) else len(ids) + 1
        return any(
            first < e["id"] < until and e["kind"] in kinds and e["agent_id"] == ack.agent_id
            for e in by_task.get(ack.task_id, [])
        )

    kinds = Counter(ack.kind for ack in acks)
    for ack in acks:
        if ack.kind == "claim":
            assert any(
                epoch == ack.epoch and agent == ack.agent_id
                for _, epoch, agent in claims.get(ack.task_id, [])
            ), f"acknowledged claim lost: {ack}"
        elif ack.kind == "progress":
            assert within_epoch(ack, ("progress",)), f"acknowledged progress lost: {ack}"
        else:
            assert ack.status in ("COMPLETED", "VALIDATING"), ack
            assert within_epoch(ack, ("completed", "handed_in")), f"completion lost: {ack}"
            task = tasks[ack.task_id]
            assert (task["status"], task["epoch"]) == ("COMPLETED", ack.epoch), (dict(task), ack)

    stale = [
        (t["task_id"], t["status"], t["lease_expires_at"])
        for t in tasks.values()
        if t["status"] in HELD and (t["lease_expires_at"] is None or t["lease_expires_at"] < now)
    ]
    assert not stale, f"held past the lease: {stale}"

    live = [dict(r) for r in runs if r["ended_at"] is None]
    assert not live, f"runs never ended: {live}"
    alive = [
        r["pid"]
        for r in runs
        if r["pid"] is not None and processes.alive(r["pid"], r["pid_identity"])
    ]
    assert not alive, f"spawned agents outlived their runs: {alive}"

    adopted = {e["agent_id"] for e in events if e["kind"] == "agent_adopted"}
    outcomes = Counter(_outcome(r["outcome"]) for r in runs)
    return {
        "acks": len(acks),
        "claims": kinds["claim"],
        "progress": kinds["progress"],
        "completions": kinds["complete"],
        "completed": sum(1 for t in tasks.values() if t["status"] == "COMPLETED"),
        "runs": len(runs),
        "adopted": len(adopted),
        "outcomes": dict(outcomes),
    }


def _outcome(text: str) -> str:
    """A run's outcome, short: exited 0, adopted, stopped at restart, gone, shut down, ..."""
    if "adopted" in text:
        return "adopted-ended"
    if "had ended" in text:
        return "stopped-after-restart"
    if "was gone" in text:
        return "gone"
    if "shut down" in text:
        return "stopped-at-shutdown"
    return text.split("(")[0].strip() or "?"
