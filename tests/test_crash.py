"""SIGKILL a process that claims and completes in a loop, again and again: after every kill the
registry file passes `PRAGMA integrity_check` and holds every completion the process had
acknowledged (printed after its write returned)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import coordinator_at

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20


def _read_lines(child: subprocess.Popen[str], into: list[str]) -> threading.Thread:
    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            into.append(line.strip())

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def test_sigkill_never_loses_an_acknowledged_completion(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"

    async def top_up() -> None:  # more work than a worker can finish before its kill
        async with coordinator_at(path) as coordinator:
            await coordinator.add_tasks([{"title": f"t{i}"} for i in range(3000)])

    rng = random.Random(2026)
    acknowledged: set[str] = set()
    kills = 0
    while kills < KILLS:
        asyncio.run(top_up())
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.agents", "work", str(path), "8"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        lines: list[str] = []
        reader = _read_lines(child, lines)
        deadline = time.monotonic() + 30
        while len(lines) < 5 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)  # let it get going, then kill it at a random moment
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        reader.join(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL, "the worker finished before it was killed"
        kills += 1
        acknowledged |= {line.split()[0] for line in lines if line.startswith("T-")}

        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            done = {
                row[0] for row in db.execute("SELECT task_id FROM tasks WHERE status = 'COMPLETED'")
            }
        finally:
            db.close()
        lost = acknowledged - done
        assert not lost, f"kill {kills}: acknowledged completions lost: {sorted(lost)[:5]}"
    assert len(acknowledged) > KILLS * 5
