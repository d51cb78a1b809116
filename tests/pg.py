"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, listening on
127.0.0.1 on a free port (its unix socket in that directory too), stopped at the end.

PostgreSQL refuses to run as root: when the tests run as root, the server runs as the
`postgres` user (Debian's package makes it) through `runuser`. Password authentication
(scram-sha-256) is on, so a wrong password is refused as it would be on a real server.
Each test gets a fresh, empty database (`fresh_database`). Where no server can be started the
PostgreSQL tests skip, except under CI=true, where that is a failure.

Run `python -m tests.pg` to start one by hand: it prints its URL and runs until interrupted.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "control"
PASSWORD = "test-password"  # a throwaway server on loopback, gone at the end of the run
BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]
_names = itertools.count(1)


class NoServer(Exception):
    """No PostgreSQL server could be started here (the sentence says why)."""


@dataclass
class PgServer:
    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def fresh_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"t{os.getpid()}_{next(_names)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop(self, url: str) -> None:
        """Remove a database `fresh_database` made (its files would fill the disk)."""
        name = url.rsplit("/", 1)[1]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        _run(
            self,
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ],
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(
    server: PgServer, argv: list[str], *, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if server.run_as is not None:
        argv = ["runuser", "-u", server.run_as, "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise NoServer(f"{Path(argv[-1]).name}: {(done.stderr or done.stdout).strip()[-400:]}")
    return done


def start() -> PgServer:
    """Start a server; raises NoServer (with the reason) when that is impossible here."""
    bin_dir = next((d for d in BIN_DIRS if (d / "initdb").exists()), None)
    if bin_dir is None:
        raise NoServer("PostgreSQL is not installed (no initdb in /usr/lib/postgresql/*/bin)")
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise NoServer("running as root and there is no `postgres` user to run as") from None
        if shutil.which("runuser") is None:
            raise NoServer("running as root and there is no runuser")
        run_as = "postgres"
    root = Path(tempfile.mkdtemp(prefix="cr-pg-"))
    server = PgServer(root, _free_port(), bin_dir, run_as)
    try:
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if run_as is not None:
            entry = pwd.getpwnam(run_as)
            os.chmod(root, 0o700)
            os.chown(root, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        _run(
            server,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                "--pwfile",
                str(pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ],
            timeout=180,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={server.port} "
            f"-c unix_socket_directories={root} -c max_connections=300 "
            "-c shared_buffers=32MB -c max_locks_per_transaction=128"
        )
        _run(
            server,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "120",
                "start",
            ],
            timeout=180,
        )
    except (NoServer, OSError, subprocess.TimeoutExpired) as error:
        log = root / "log"
        tail = log.read_text()[-400:] if log.exists() else ""
        server.stop()
        raise NoServer(f"{error} {tail}".strip()) from None
    return server


def wait_for(server: PgServer, seconds: float = 60) -> None:
    """Return once the server answers (bounded)."""
    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=5):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


BACKENDS = ["sqlite", "postgres"]


def start_or_skip() -> PgServer:
    """A started server; else the test skips, or fails under CI=true."""
    try:
        return start()
    except NoServer as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs a PostgreSQL server and none could start: {error}")
        pytest.skip(f"no PostgreSQL server here: {error}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One server for the whole run; skipped where none can start, failed under CI=true."""
    server = start_or_skip()
    try:
        wait_for(server)
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = pg_server.fresh_database()
    yield url
    pg_server.drop(url)


def serve_forever() -> Iterator[PgServer]:  # pragma: no cover - by hand only
    server = start()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the server on TERM too
    for found in serve_forever():
        wait_for(found)
        print(found.url(), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
