"""Shared fixtures: real registry files in a temporary directory, a controllable clock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from control_room.store.postgres import PostgresRegistry
from tests.pg import pg_server, pg_url  # noqa: F401 - fixtures

START = 1_800_000_000.0


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> str:
    """Which registry `registry` is: SQLite, or $CONTROL_ROOM_TEST_BACKEND (`postgres` runs
    every test on the `registry` fixture on PostgreSQL); a module that always runs on both
    overrides this with `@pytest.fixture(params=BACKENDS)` (tests/pg.py)."""
    return os.environ.get("CONTROL_ROOM_TEST_BACKEND", "sqlite")


@pytest.fixture
async def registry(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[SqliteRegistry]:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        store: SqliteRegistry = await PostgresRegistry.open(url, clock=clock)
    else:
        store = await SqliteRegistry.open(tmp_path / "registry.db", clock=clock)
    yield store
    await store.close()


@pytest.fixture
def coordinator(registry: SqliteRegistry) -> Coordinator:
    return Coordinator(registry, lease_seconds=60)


@pytest.fixture
def new_agent(coordinator: Coordinator) -> Callable[..., Any]:
    async def make(name: str = "agent", capabilities: tuple[str, ...] = ("*",)) -> str:
        agent, _token = await coordinator.register_agent(name, capabilities)
        return agent.id

    return make


@asynccontextmanager
async def coordinator_at(path: Path) -> AsyncIterator[Coordinator]:
    """A coordinator on the registry file at `path` (created if new), closed on exit."""
    registry = await SqliteRegistry.open(path)
    try:
        yield Coordinator(registry)
    finally:
        await registry.close()


def run_cli(
    *args: str, data_dir: Path, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real console script, in a child process, against `data_dir`."""
    script = Path(sys.executable).with_name("control-room")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "control_room"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
    env["CONTROL_ROOM_HOME"] = str(data_dir)
    return subprocess.run(
        [*argv, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory made by `control-room init` (a real CLI process)."""
    data = tmp_path / "data"
    result = run_cli("init", data_dir=data)
    assert result.returncode == 0, result.stderr
    return data


from tests.hooks import hook  # noqa: E402, F401 (a fixture for every test module)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", default=False,
        help="fault-injection tests run their long mode (more rounds, more operations)",
    )  # fmt: skip


@pytest.fixture
def long_mode(request: pytest.FixtureRequest) -> bool:
    """True under `pytest --long`: fault tests run their long rounds."""
    return bool(request.config.getoption("--long"))
