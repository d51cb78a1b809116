"""Two control rooms (two data directories, as on two hosts) on one registry, for the tests of
tests/test_two_engines.py (a SQLite file) and tests/test_two_engines_pg.py (PostgreSQL): their
data directories (the second joins the first's registry), their `run --headless` processes, and
queries on the registry whichever backend it is (`?` placeholders on both)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2

from control_room.domain.urls import redact
from tests.conftest import run_cli
from tests.engine_world import SPAWNED

SCRIPT = Path(sys.executable).with_name("control-room")
Registry = Path | str  # a SQLite file, or a PostgreSQL URL


def config(
    modes: str,
    *,
    host: str,
    registry: Registry,
    gone_seconds: float = 30,
    capabilities: tuple[str, ...] = (),
    routing: str = "max_running = 2\n",
) -> str:
    command = [sys.executable, str(SPAWNED), modes, "{run_dir}"]
    return (
        f"[worktrees]\nenabled = false\n\n[engine]\ngone_seconds = {gone_seconds}\n"
        f'host = "{host}"\n\n[registry]\nurl = {json.dumps(str(registry))}\n\n'
        f'[[agent_types]]\nname = "scripted"\nruntime = "command"\n'
        f"capabilities = {json.dumps(list(capabilities))}\ncommand = {json.dumps(command)}\n\n"
        f'[routing]\ndefault_agent = "scripted"\n{routing}'
    )


def homes(
    tmp_path: Path,
    modes: str,
    gone_seconds: float = 30,
    hosts: tuple[str, str] = ("alpha", "beta"),
    *,
    url: str | None = None,
    **options: object,
) -> tuple[Path, Path, Registry]:
    """Data directories a and b; b joins a's registry: the SQLite file of a, or the PostgreSQL
    database at `url` (a creates the registry in it). Returns (a, b, registry)."""
    a, b = tmp_path / "a", tmp_path / "b"
    first = run_cli("init", data_dir=a) if url is None else run_cli("init", "--registry", url,
                                                                     data_dir=a)  # fmt: skip
    assert first.returncode == 0, first.stderr
    registry: Registry = a / "registry.db" if url is None else url
    joined = run_cli("init", "--registry", str(registry), data_dir=b)
    assert joined.returncode == 0, joined.stderr
    shown = registry if url is None else redact(url)
    assert f"joined the existing registry {shown}" in joined.stdout, joined.stdout
    assert not (b / "registry.db").exists(), "b keeps no registry of its own"
    for home, host in zip((a, b), hosts, strict=True):
        text = config(modes, host=host, registry=registry, gone_seconds=gone_seconds, **options)  # type: ignore[arg-type]
        (home / "control-room.toml").write_text(text)
    return a, b, registry


def start(home: Path, cwd: Path, port: int, log: Path | None = None) -> subprocess.Popen[str]:
    """`run --headless` on `port`; its stderr to `log` (else a pipe, read at the end)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    stderr = subprocess.PIPE if log is None else log.open("w")
    try:
        return subprocess.Popen(
            [str(SCRIPT), "--data-dir", str(home), "run", "--headless", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=stderr, text=True, cwd=cwd, env=env,
        )  # fmt: skip
    finally:
        if log is not None:
            stderr.close()  # type: ignore[union-attr]


@contextlib.contextmanager
def engines(
    *started: tuple[Path, Path, int], logs: Path | None = None
) -> Iterator[list[subprocess.Popen[str]]]:
    """The engines, stopped with SIGTERM (then SIGKILL) at the end; with `logs`, each one's
    stderr goes to logs/<data directory name>.err."""
    running = [
        start(home, cwd, port, None if logs is None else logs / f"{home.name}.err")
        for home, cwd, port in started
    ]
    try:
        yield running
    finally:
        for engine in running:
            if engine.poll() is None:
                engine.send_signal(signal.SIGTERM)
        for engine in running:
            try:
                engine.wait(timeout=30)
            except subprocess.TimeoutExpired:
                engine.kill()
            engine.communicate()


def rows(registry: Registry, query: str, *params: object) -> list[tuple[object, ...]]:
    """The rows of `query` (`?` placeholders) on the registry, SQLite file or PostgreSQL."""
    if isinstance(registry, Path):
        with contextlib.closing(sqlite3.connect(registry, timeout=30)) as db:
            return db.execute(query, params).fetchall()
    import psycopg

    from control_room.store.pg_conn import to_pyformat

    with psycopg.connect(registry, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(to_pyformat(query), params).fetchall()]  # type: ignore[arg-type]


def wait(check: Callable[[], bool], timeout: float = 120, what: str = "timed out") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def healthy(port: int) -> bool:
    with contextlib.suppress(httpx2.HTTPError):
        return httpx2.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
    return False


def statuses(registry: Registry) -> dict[str, str]:
    return {str(t): str(s) for t, s in rows(registry, "SELECT task_id, status FROM tasks")}
