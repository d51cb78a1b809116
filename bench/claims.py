"""Claim + complete throughput and claim latency through the coordination service.

Runs, on fresh registry files with synchronous=FULL and WAL, in one process:
  * the service with 1 and with 16 concurrent claimers (async, group commit);
  * a plain sqlite3 loop doing the same two transactions per cycle: the registry's own claim
    and complete operations (same SQL, same checks), one transaction and one commit each;
  * a minimal sqlite3 loop: two statements per transaction (claim the best task and log it;
    complete it and log it), skipping the agent, holder and dependency checks: a stricter floor;
and prints cycles/s, p50/p99 claim latency, writes per commit and the ratios, beside the disk's
fsync rate (write + fsync of a small temp file in the same directory, for about a second) and
the load average, so the ratio can be read against the limit.

    python bench/claims.py [--tasks N] [--synchronous OFF] [--registry postgresql://...]

With --registry URL the service runs and the plain loop also run on PostgreSQL (a fresh
database each, made beside the URL's: bench/pg_bench.py), printed beside SQLite's.

With --synchronous OFF no commit waits for the disk: the figures are then CPU per operation
alone, what a disk much faster than this one would allow.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from control_room.domain import Claim, NothingToClaim
from control_room.engine import Coordinator
from control_room.store import open_registry, ops
from control_room.store.tx import Op, Tx

SYNCHRONOUS = ["FULL"]  # every run's setting (--synchronous)


def percentile(values: list[float], q: int) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else 0.0
    )


async def fill(path: Path | str, tasks: int) -> None:
    registry = await open_registry(path)
    coordinator = Coordinator(registry)
    for start in range(0, tasks, 1000):
        count = min(1000, tasks - start)
        await coordinator.add_tasks([{"title": f"bench {start + i}"} for i in range(count)])
    await registry.close()


async def service_run(path: Path | str, claimers: int) -> dict[str, float]:
    registry = await open_registry(path, synchronous=SYNCHRONOUS[0])
    coordinator = Coordinator(registry)
    latencies: list[float] = []

    async def claimer(index: int) -> int:
        agent, _ = await coordinator.register_agent(f"bench-{index}", ["*"])
        cycles = 0
        while True:
            started = time.perf_counter()
            try:
                claim = await coordinator.claim(agent.id)
            except NothingToClaim:
                return cycles
            latencies.append(time.perf_counter() - started)
            await coordinator.complete(claim.task.id, agent.id, claim.lease.epoch, "done")
            cycles += 1

    commits_before, writes_before = registry.commits, registry.writes
    started = time.perf_counter()
    cycles = sum(await asyncio.gather(*(claimer(i) for i in range(claimers))))
    elapsed = time.perf_counter() - started
    batches = registry.commits - commits_before
    writes = registry.writes - writes_before
    await registry.close()
    return summary(cycles, elapsed, latencies, writes / max(1, batches))


CLAIM = """
    UPDATE tasks SET status = 'CLAIMED', agent_id = ?, epoch = epoch + 1, lease_expires_at = ?,
        updated_at = ?
    WHERE task_id = (SELECT task_id FROM tasks WHERE status = 'AVAILABLE'
                     ORDER BY priority, created_at, rowid LIMIT 1)
    RETURNING task_id, epoch
"""
COMPLETE = """
    UPDATE tasks SET status = 'COMPLETED', lease_expires_at = NULL, summary = ?, updated_at = ?
    WHERE task_id = ? AND epoch = ? AND agent_id = ?
"""
EVENT = """
    INSERT INTO events (at, kind, actor, task_id, agent_id, from_status, to_status, message, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)
"""


def same_transactions_run(path: Path | str) -> dict[str, float]:
    """The registry's claim and complete, each its own transaction, in a plain sync loop."""
    db: Any
    if isinstance(path, str):  # PostgreSQL: the writer's own connection and BEGIN
        from control_room.store.pg_session import PgSession, connect

        session = PgSession(path, connect(path))
        db, begin = session.conn, functools.partial(session.begin, session.conn)
    else:
        db = sqlite3.connect(path, isolation_level=None)
        db.row_factory = sqlite3.Row
        for pragma in (
            "journal_mode = WAL",
            f"synchronous = {SYNCHRONOUS[0]}",
            "foreign_keys = ON",
        ):
            db.execute(f"PRAGMA {pragma}")
        begin = functools.partial(db.execute, "BEGIN IMMEDIATE")

    def transaction(op: Op) -> object:
        begin()
        try:
            result = op(Tx(db, time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    transaction(lambda tx: ops.register_agent(tx, "A-plain", "plain", ("*",), "bench", "x"))
    latencies: list[float] = []
    cycles = 0
    started = time.perf_counter()
    while True:
        begun = time.perf_counter()
        try:
            claim = transaction(lambda tx: ops.claim(tx, "A-plain", None, 300))
        except NothingToClaim:
            break
        latencies.append(time.perf_counter() - begun)
        assert isinstance(claim, Claim)
        epoch, task_id = claim.lease.epoch, claim.task.id
        transaction(
            functools.partial(
                ops.complete, task_id=task_id, agent_id="A-plain", epoch=epoch, summary="done",
                files=(), hours=None,
            )
        )  # fmt: skip
        cycles += 1
    elapsed = time.perf_counter() - started
    (db.raw if isinstance(path, str) else db).close()
    return summary(cycles, elapsed, latencies, 1.0)


def summary(
    cycles: int, elapsed: float, latencies: list[float], per_commit: float
) -> dict[str, float]:
    return {
        "cycles": cycles,
        "cycles_per_s": cycles / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "writes_per_commit": per_commit,
    }


def minimal_run(path: Path) -> dict[str, float]:
    """Two statements per transaction, one transaction (one fsync) per write."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute(f"PRAGMA synchronous = {SYNCHRONOUS[0]}")
    latencies: list[float] = []
    cycles = 0
    started = time.perf_counter()
    while True:
        begun = time.perf_counter()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        row = db.execute(CLAIM, ("plain", now + 300, now)).fetchone()
        if row is None:
            db.execute("ROLLBACK")
            break
        task_id, epoch = row
        data = json.dumps({"epoch": epoch})
        db.execute(EVENT, (now, "claimed", "plain", task_id, "plain", "AVAILABLE", "CLAIMED", data))
        db.execute("COMMIT")
        latencies.append(time.perf_counter() - begun)
        db.execute("BEGIN IMMEDIATE")
        db.execute(COMPLETE, ("done", now, task_id, epoch, "plain"))
        db.execute(
            EVENT, (now, "completed", "plain", task_id, "plain", "CLAIMED", "COMPLETED", "{}")
        )
        db.execute("COMMIT")
        cycles += 1
    elapsed = time.perf_counter() - started
    db.close()
    return summary(cycles, elapsed, latencies, 1.0)


def fsync_rate(folder: Path, seconds: float = 1.0) -> float:
    """Small write + fsync pairs per second on a temp file in `folder`."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count, started = 0, time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            os.pwrite(fd, b"x" * 512, (count % 64) * 512)
            os.fsync(fd)
            count += 1
    finally:
        os.close(fd)
        path.unlink()
    return count / (time.perf_counter() - started)


PLAIN = "plain loop, same txns"
MINIMAL = "minimal 2-statement loop"
RUNS = (PLAIN, MINIMAL, "service, 1 claimer", "service, 16 claimers")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000, help="tasks per run (default 4000)")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL", "OFF"), default="FULL")
    parser.add_argument("--registry", metavar="URL", help="also run on this PostgreSQL server")
    args = parser.parse_args()
    SYNCHRONOUS[0] = args.synchronous
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        fsyncs = [fsync_rate(Path(folder))]
        for number, name in enumerate(RUNS):
            path = Path(folder) / f"run{number}.db"
            asyncio.run(fill(path, args.tasks))
            if name == PLAIN:
                results[name] = same_transactions_run(path)
            elif name == MINIMAL:
                results[name] = minimal_run(path)
            else:
                results[name] = asyncio.run(service_run(path, int(name.split()[1])))
            print(f"  ran {name}: {results[name]['cycles']:.0f} cycles", flush=True)
        fsyncs.append(fsync_rate(Path(folder)))
    print(f"\nclaim + complete cycles, {args.tasks} tasks each, synchronous={SYNCHRONOUS[0]}, WAL")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"disk: {min(fsyncs):,.0f}-{max(fsyncs):,.0f} write+fsync/s (before and after the runs); "
        f"load average {load} on {os.cpu_count()} CPUs"
    )
    print(f"{'':26}{'cycles/s':>10}{'p50 claim':>12}{'p99 claim':>12}{'writes/commit':>15}")
    for name, r in results.items():
        print(
            f"{name:26}{r['cycles_per_s']:>10,.0f}{r['p50_ms']:>10.2f}ms{r['p99_ms']:>10.2f}ms"
            f"{r['writes_per_commit']:>15.1f}"
        )
    if args.registry:
        postgres = postgres_runs(args.registry, args.tasks)
        print("\non PostgreSQL (synchronous_commit on), beside SQLite:")
        print(
            f"{'':26}{'cycles/s':>10}{'p50 claim':>12}{'p99 claim':>12}{'writes/commit':>15}"
            f"{'SQLite cycles/s':>17}"
        )
        for name, r in postgres.items():
            print(
                f"{name:26}{r['cycles_per_s']:>10,.0f}{r['p50_ms']:>10.2f}ms{r['p99_ms']:>10.2f}ms"
                f"{r['writes_per_commit']:>15.1f}{results[name]['cycles_per_s']:>17,.0f}"
            )
    sixteen = results["service, 16 claimers"]
    for baseline in (PLAIN, MINIMAL):
        ratio = sixteen["cycles_per_s"] / results[baseline]["cycles_per_s"]
        print(f"16 claimers / {baseline}: {ratio:.2f}x")
    ratio = sixteen["cycles_per_s"] / results[PLAIN]["cycles_per_s"]
    print(
        f"targets: 16 claimers >= 2x the plain loop: {'met' if ratio >= 2 else 'MISSED'} "
        f"({ratio:.2f}x); p99 claim <= 10 ms: {'met' if sixteen['p99_ms'] <= 10 else 'MISSED'} "
        f"({sixteen['p99_ms']:.2f} ms)"
    )


def postgres_runs(url: str, tasks: int) -> dict[str, dict[str, float]]:
    from pg_bench import fresh_database

    found: dict[str, dict[str, float]] = {}
    for name in (PLAIN, "service, 1 claimer", "service, 16 claimers"):
        with fresh_database(url) as fresh:
            asyncio.run(fill(fresh, tasks))
            if name == PLAIN:
                found[name] = same_transactions_run(fresh)
            else:
                found[name] = asyncio.run(service_run(fresh, int(name.split()[1])))
        print(f"  ran {name} on PostgreSQL: {found[name]['cycles']:.0f} cycles", flush=True)
    return found


if __name__ == "__main__":
    main()
