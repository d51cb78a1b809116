"""Dispatch: how fast an urgent task gets an agent, and what an idle engine costs.

A real `control-room run --headless` on a fresh data directory; agents on the `command` runtime
(a few lines of sh and curl: claim, then complete, so the figures measure Control Room, not a
Python start-up). Then:
  * paced: N P0 tasks added through REST, one every 50 ms: time from the task's creation to its
    agent's start (spawn) and to that agent's claim, p50/p99/max (from the event log's times);
  * burst: N P0 tasks added at once (max_running = N): the same figures under a burst;
  * idle: the engine's CPU use over 30 s with nothing to do.

    python bench/dispatch.py [--tasks N] [--idle-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from claims import percentile  # noqa: E402
from http_claims import free_port, wait_until_up  # noqa: E402

AGENT = """\
set -eu
auth="Authorization: Bearer $CONTROL_ROOM_TOKEN"
claim=$(curl -sf -X POST -H "$auth" -d "{\\"task_id\\": \\"$CONTROL_ROOM_TASK_ID\\"}" \\
  "$CONTROL_ROOM_URL/api/tasks/claim")
epoch=$(printf '%s' "$claim" | sed 's/.*"epoch": *\\([0-9]*\\).*/\\1/')
curl -sf -X POST -H "$auth" -d "{\\"epoch\\": $epoch, \\"summary\\": \\"ok\\"}" \\
  "$CONTROL_ROOM_URL/api/tasks/$CONTROL_ROOM_TASK_ID/complete" > /dev/null
"""


def config(agent: Path, max_running: int) -> str:
    command = json.dumps(["sh", str(agent)])
    return (
        f'[routing]\nmax_running = {max_running}\ndefault_agent = "bench"\n\n'
        f"[worktrees]\nenabled = false\n\n"
        f'[[agent_types]]\nname = "bench"\nruntime = "command"\ncommand = {command}\n'
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Engine:
    def __init__(self, folder: Path, max_running: int) -> None:
        self.home = folder / "data"
        self.port = free_port()
        cli = Path(sys.executable).with_name("control-room")
        subprocess.run([str(cli), "--data-dir", str(self.home), "init"], check=True,
                       capture_output=True)  # fmt: skip
        agent = folder / "agent.sh"
        agent.write_text(AGENT)
        (self.home / "control-room.toml").write_text(config(agent, max_running))
        self.process = subprocess.Popen(
            [str(cli), "--data-dir", str(self.home), "run", "--headless", "--port",
             str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until_up(f"{self.url}/api/health")
        token = (self.home / "operator.token").read_text().strip()
        self.operator = {"Authorization": f"Bearer {token}"}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        assert code == 0, f"the engine exited with {code}"


async def dispatch(engine: Engine, tasks: int, pace: float) -> dict[str, list[float]]:
    async with httpx2.AsyncClient(base_url=engine.url, headers=engine.operator, timeout=60) as http:

        async def add(number: int) -> str:
            answer = await http.post("/api/tasks", json={"title": f"urgent {number}",
                                                         "priority": "P0"})  # fmt: skip
            answer.raise_for_status()
            return str(answer.json()["id"])

        if pace:
            ids = []
            for number in range(tasks):
                ids.append(await add(number))
                await asyncio.sleep(pace)
        else:
            ids = await asyncio.gather(*(add(n) for n in range(tasks)))
        deadline = time.monotonic() + 300
        while True:
            completed, params = 0, {"status": "COMPLETED", "limit": "1000"}
            while True:  # the listing pages: follow `next`
                listed = (await http.get("/api/tasks", params=params)).json()
                completed += len(listed["tasks"])
                if listed["next"] is None:
                    break
                params["cursor"] = listed["next"]
            if completed >= tasks:
                break
            assert time.monotonic() < deadline, f"only {completed} completed"
            await asyncio.sleep(0.2)
        times: dict[str, dict[str, float]] = {i: {} for i in ids}
        after = 0
        while True:
            page = (await http.get("/api/events", params={"after": after})).json()["events"]
            if not page:
                break
            for event in page:
                task = times.get(event["task_id"] or "")
                if task is not None and event["kind"] in (
                    "created",
                    "routed",
                    "agent_started",
                    "claimed",
                ):
                    task.setdefault(event["kind"], event["at"])
            after = page[-1]["id"]
    return {
        "route": [(t["routed"] - t["created"]) * 1000 for t in times.values()],
        "spawn": [(t["agent_started"] - t["created"]) * 1000 for t in times.values()],
        "claim": [(t["claimed"] - t["created"]) * 1000 for t in times.values()],
    }


def show(title: str, figures: dict[str, list[float]]) -> None:
    print(title)
    for name, values in figures.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(
            f"  to {name:<6} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   max {max(values):7.1f} ms"
            f"   (n={len(values)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine(Path(folder) / "paced", max_running=64)
        try:
            show(f"paced: {args.tasks} P0 tasks, one every 50 ms",
                 asyncio.run(dispatch(engine, args.tasks, 0.05)))  # fmt: skip
            time.sleep(2)  # let the last agents' ends settle
            before, started = cpu_seconds(engine.process.pid), time.monotonic()
            time.sleep(args.idle_seconds)
            used = cpu_seconds(engine.process.pid) - before
            elapsed = time.monotonic() - started
            print(
                f"idle: {used:.2f} s CPU in {elapsed:.0f} s = {100 * used / elapsed:.2f}% of a core"
            )
        finally:
            engine.stop()
        engine = Engine(Path(folder) / "burst", max_running=args.tasks)
        try:
            show(f"burst: {args.tasks} P0 tasks at once (max_running {args.tasks})",
                 asyncio.run(dispatch(engine, args.tasks, 0)))  # fmt: skip
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
