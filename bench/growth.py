"""How Control Room's views and claims grow with the registry: 1k, 10k, 100k tasks (1M with
--huge), most COMPLETED, 2,000 AVAILABLE, about 3 events each.

Each registry is built fast, straight into SQLite (one transaction, executemany; the schema
comes from `init_home`, so it is the real one), then measured, each beside `task show` in the
same run:
  * claim p50/p99: claim + complete cycles through the service (in this process);
  * `task list --json` (its first page, --limit 100) and `task show ID --json`: real CLI
    processes, wall time and max RSS;
  * `GET /api/tasks` (first page) and `GET /api/tasks/ID`: a real `control-room serve`, median
    of a few calls, and the server's RSS after them.

    python bench/growth.py [--sizes 1000,10000,100000] [--huge] [--claims 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

from control_room.config import Home, Settings
from control_room.engine import init_home, open_coordinator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from claims import percentile  # noqa: E402
from http_claims import free_port, wait_until_up  # noqa: E402

AVAILABLE = 2000
SCRIPT = Path(sys.executable).with_name("control-room")
PAGE = os.sysconf("SC_PAGE_SIZE")
INSERT_TASK = """
    INSERT INTO tasks (task_id, title, description, priority, status, created_by, created_at)
    VALUES (?, ?, ?, ?, 'AVAILABLE', 'bench', ?)
"""
INSERT_EVENT = """
    INSERT INTO events (at, kind, actor, task_id, agent_id, from_status, to_status, message, data)
    VALUES (?, ?, 'bench', ?, 'bench', ?, ?, '', ?)
"""


def build(home: Home, size: int) -> float:
    """`size` tasks (all but AVAILABLE of them COMPLETED) with ~3 events each; seconds taken."""
    started = time.perf_counter()
    asyncio.run(init_home(home))
    db = sqlite3.connect(home.registry, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    base = time.time() - size
    db.execute("BEGIN")
    # Inserted AVAILABLE (a new task must start so; the schema logs each one's `created`).
    db.executemany(
        INSERT_TASK,
        ((f"T-{n:07d}", f"bench task {n}", "x" * 80, f"P{n % 4}", base + n) for n in range(size)),
    )
    done = max(0, size - AVAILABLE)
    db.execute(
        "UPDATE tasks SET status = 'COMPLETED', epoch = 1, summary = 'done', progress = 100 "
        "WHERE task_id < ?",
        (f"T-{done:07d}",),
    )
    claimed, completed = json.dumps({"epoch": 1}), json.dumps({"hours": None})
    db.executemany(
        INSERT_EVENT,
        (
            row
            for n in range(done)
            for row in (
                (base + n, "claimed", f"T-{n:07d}", "AVAILABLE", "CLAIMED", claimed),
                (base + n, "completed", f"T-{n:07d}", "CLAIMED", "COMPLETED", completed),
            )
        ),
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - started


async def claims(home: Home, count: int) -> list[float]:
    """Claim latencies of `count` claim + complete cycles through the service."""
    latencies = []
    async with open_coordinator(home, Settings()) as coordinator:
        agent, _ = await coordinator.register_agent("bench", ["*"])
        for _ in range(count):
            started = time.perf_counter()
            claim = await coordinator.claim(agent.id)
            latencies.append(time.perf_counter() - started)
            await coordinator.complete(claim.task.id, agent.id, claim.lease.epoch, "done")
    return latencies


def cli(home: Home, *argv: str) -> tuple[float, float]:
    """A real CLI process: (wall seconds, max RSS in MiB)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home.root), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        raise SystemExit(f"{' '.join(argv)} failed: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def served(home: Home, task_id: str, calls: int = 5) -> tuple[float, float, float]:
    """A real `serve`: median seconds of GET /api/tasks and GET /api/tasks/ID, RSS in MiB."""
    port = free_port()
    server = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home.root), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/api/health")
        token = home.operator_token.read_text().strip()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx2.Client(base_url=url, headers=headers, timeout=300) as http:

            def median(path: str) -> float:
                times = []
                for _ in range(calls):
                    started = time.perf_counter()
                    answer = http.get(path)
                    times.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:200]}")
                return statistics.median(times)

            listing, one = median("/api/tasks"), median(f"/api/tasks/{task_id}")
        pages = int(Path(f"/proc/{server.pid}/statm").read_text().split()[1])
        return listing, one, pages * PAGE / 2**20
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--huge", action="store_true", help="also 1,000,000 tasks")
    parser.add_argument("--claims", type=int, default=300, help="claim cycles per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([1_000_000] if args.huge else [])
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    header = (
        f"{'tasks':>9} {'build':>7} {'claim p50':>10} {'p99':>8} {'list --json':>12} "
        f"{'show':>7} {'RSS list':>9} {'RSS show':>9} {'GET list':>9} {'GET one':>8} "
        f"{'serve RSS':>10}"
    )
    print(header, flush=True)
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
            home = Home(Path(folder) / "data")
            built = build(home, size)
            latencies = asyncio.run(claims(home, args.claims))
            shown = f"T-{size - 1:07d}"
            listed, list_rss = cli(home, "task", "list", "--json", "--limit", "100")
            show, show_rss = cli(home, "task", "show", shown, "--json")
            get_list, get_one, serve_rss = served(home, shown)
            print(
                f"{size:>9,} {built:>6.1f}s {percentile(latencies, 50) * 1000:>8.2f}ms "
                f"{percentile(latencies, 99) * 1000:>6.2f}ms {listed:>11.2f}s {show:>6.2f}s "
                f"{list_rss:>7.0f}MB {show_rss:>7.0f}MB {get_list * 1000:>7.1f}ms "
                f"{get_one * 1000:>6.1f}ms {serve_rss:>8.0f}MB",
                flush=True,
            )
    print(
        "claim: service in-process; list/show: real CLI processes (wall, max RSS); "
        "GET: real `serve`, median of 5, first page (limit 100)"
    )


if __name__ == "__main__":
    main()
