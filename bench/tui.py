# ruff: noqa: ASYNC110 (the bench watches the screen's state by polling it, on purpose)
"""The screen under load: 10,000 tasks, 50 agents whose reports grow by 200 lines/s in total
and who report progress, while keys are pressed.

Prints: time to the first full render (every pane drawn with its data), to all 10,000 rows
being in the table, keypress-to-update p95
for moving the cursor (the report pane follows the selection) and for approving a task (the row
changes), and peak RSS. The screen runs headless through Textual's Pilot, with its real world
(registry, engine loops, server) inside it.

    python bench/tui.py [--tasks N] [--agents N] [--lines-per-second N] [--finished N]

--finished N adds N COMPLETED tasks and one event each with bulk SQL inserts (a large registry
in seconds: 1,000,000 in about a minute), as a registry that has run for a long time holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from claims import percentile  # noqa: E402

from control_room.config import Home, load_settings  # noqa: E402
from control_room.engine import init_home, open_coordinator  # noqa: E402
from control_room.server.run import StopSignals  # noqa: E402
from control_room.tui.app import create_app  # noqa: E402
from control_room.tui.task_rows import PAGE  # noqa: E402
from control_room.world import World, open_world  # noqa: E402


async def build(home: Home, tasks: int, agents: int) -> list[tuple[str, str, int, Path]]:
    """The registry: `tasks` tasks (every 50th awaiting approval), `agents` agents each on a
    task with a run folder. Returns (agent, task, epoch, report) per agent."""
    await init_home(home)
    home.config.write_text("[routing]\nspawn_priorities = []\napproval_types = []\n")
    async with open_coordinator(home) as c:
        specs = [{"title": f"task {n}", "priority": f"P{n % 4}"} for n in range(tasks)]
        for start in range(0, tasks, 1000):
            await c.add_tasks(specs[start : start + 1000])
        listed = await c.tasks()
        for task in listed[:: max(1, tasks // 200)][:200]:
            await c.await_approval(task.id, "bench")
        working = []
        free = [t for t in await c.tasks() if t.status == "AVAILABLE"]
        for number, task in enumerate(free[:agents]):
            run, _ = await c.start_run(
                task.id, f"agent-{number}", "command", (), home.runs / task.id
            )
            await c.run_process(run.agent_id, None, None, home.root)
            claim = await c.claim(run.agent_id, task.id)
            report = Path(run.run_dir) / "report.log"
            report.parent.mkdir(parents=True, exist_ok=True)
            working.append((run.agent_id, task.id, claim.lease.epoch, report))
    return working


def bulk_finished(home: Home, count: int) -> None:
    """`count` COMPLETED tasks (P0-P3, finished over the last days) and a `completed` event
    each, written with plain sqlite3 in batches (the registry's own writes would take hours)."""
    now = time.time()
    db = sqlite3.connect(home.registry)
    try:
        for start in range(0, count, 50_000):
            numbers = range(start, min(count, start + 50_000))
            db.executemany(
                "INSERT INTO tasks (task_id, title, priority, status, attempts, created_by,"
                " created_at, updated_at) VALUES (?, ?, ?, 'AVAILABLE', 0, 'bench', ?, ?)",
                (
                    (
                        f"DONE-{n}",
                        f"finished task {n}",
                        f"P{n % 4}",
                        now - 86400 * 3 + n * 0.01,
                        now - 86400 * 2 + n * 0.01,
                    )
                    for n in numbers
                ),
            )
            db.executemany(  # new rows must start AVAILABLE (a schema trigger); then finished
                "UPDATE tasks SET status = 'COMPLETED' WHERE task_id = ?",
                ((f"DONE-{n}",) for n in numbers),
            )
            db.executemany(
                "INSERT INTO events (at, kind, actor, task_id, from_status, to_status, message)"
                " VALUES (?, 'completed', 'bench', ?, 'VALIDATING', 'COMPLETED', 'checks passed')",
                ((now - 86400 * 2 + n * 0.01, f"DONE-{n}") for n in numbers),
            )
            db.commit()
    finally:
        db.close()


async def load(world: World, working: list[tuple[str, str, int, Path]], per_second: int) -> None:
    """Report lines at `per_second` in total, and a progress event per agent every 2 s."""
    line = json.dumps(
        {
            "type": "assistant",
            "message": {
                "content": [
                    {
                        "type": "text",
                        "text": "Reading the code and running the tests, step by step.",
                    }
                ]
            },
        }
    )
    interval = len(working) / per_second
    ticks = 0
    while True:
        for _, _, _, report in working:
            with report.open("a") as handle:
                handle.write(line + "\n")
        ticks += 1
        if ticks % max(1, int(2 / interval)) == 0:
            for agent, task_id, epoch, _ in working:
                with contextlib.suppress(Exception):
                    await world.coordinator.progress(task_id, agent, epoch, ticks % 100, "busy")
        await asyncio.sleep(interval)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--lines-per-second", type=int, default=200)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--finished", type=int, default=0)
    parser.add_argument(
        "--check-seconds", type=float, default=None, help="[store] check_seconds (default 5)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Home(Path(folder) / "data")
        working = await build(home, args.tasks, args.agents)
        if args.check_seconds is not None:  # how long opening checks the file (quick_check)
            with home.config.open("a") as config:
                config.write(f"\n[store]\ncheck_seconds = {args.check_seconds}\n")
        if args.finished:
            began = time.perf_counter()
            bulk_finished(home, args.finished)
            print(f"  ({args.finished} finished tasks inserted in "
                  f"{time.perf_counter() - began:.1f} s)")  # fmt: skip
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        settings, signals = load_settings(home.config), StopSignals()

        def opener() -> contextlib.AbstractAsyncContextManager[World]:
            return open_world(home, settings, "127.0.0.1", 0, spawn=False, signals=signals,
                              quiet=True, check_later=True)  # fmt: skip  # as the screen

        app = create_app(opener)
        started = time.perf_counter()
        async with app.run_test(size=(160, 50)) as pilot:
            while app.loaded_at is None:
                await asyncio.sleep(0.005)
            first_render = app.loaded_at - started  # drawn at the next frame
            assert app.load_started is not None
            screen_load = app.loaded_at - app.load_started
            while app.tasks.row_count < min(args.tasks, PAGE):  # the first page; more on scroll
                await pilot.pause(0.01)
            all_rows = time.perf_counter() - started
            assert app.world is not None
            loader = asyncio.create_task(load(app.world, working, args.lines_per_second))
            app.agents.focus()  # the report pane follows a writing agent
            await pilot.pause(1.0)
            app.tasks.focus()
            moves = []
            for _ in range(args.presses):
                before = app.tasks.cursor_row
                pressed = time.perf_counter()
                app.simulate_key("down")  # as a terminal delivers it (Pilot.press also waits
                while app.tasks.cursor_row == before:  # for animations and idleness)
                    await asyncio.sleep(0.001)
                moves.append((time.perf_counter() - pressed) * 1000)
                await asyncio.sleep(0.05)
            approvals = []
            waiting = [t for t in app.tasks.tasks.values() if t.status == "AWAITING_APPROVAL"]
            for press in range(args.presses):  # each waiting task again, once put back
                task = waiting[press % len(waiting)]
                if press >= len(waiting):
                    await app.world.coordinator.await_approval(task.id, "again", "bench")
                    while app.tasks.tasks[task.id].status != "AWAITING_APPROVAL":
                        await asyncio.sleep(0.001)
                    await asyncio.sleep(0.05)
                app.tasks.move_cursor(row=app.tasks.get_row_index(task.id))
                await pilot.pause(0)
                pressed = time.perf_counter()
                app.simulate_key("a")
                while app.tasks.tasks[task.id].status == "AWAITING_APPROVAL":
                    await asyncio.sleep(0.001)
                approvals.append((time.perf_counter() - pressed) * 1000)
                await asyncio.sleep(0.05)
            loader.cancel()
            await app.action_quit()
            while app.is_running:
                await pilot.pause(0.05)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.tasks} tasks (+{args.finished} finished), {args.agents} agents, "
          f"{args.lines_per_second} report lines/s")  # fmt: skip
    print(f"  the screen's own load: {screen_load:.2f} s (from the registry open to drawn)")
    print(f"  first full render: {first_render:.2f} s (every pane drawn with its data; the first "
          f"page of rows in the table after {all_rows:.2f} s)")  # fmt: skip
    print(f"  cursor move (report pane follows): p50 {percentile(moves, 50):.1f} ms, "
          f"p95 {percentile(moves, 95):.1f} ms")  # fmt: skip
    print(f"  approve -> row updated: p50 {percentile(approvals, 50):.1f} ms, "
          f"p95 {percentile(approvals, 95):.1f} ms (n={len(approvals)})")  # fmt: skip
    print(f"  peak RSS: {rss:.0f} MB (pid {os.getpid()}; {rss_before:.0f} MB before the screen)")


if __name__ == "__main__":
    asyncio.run(main())
