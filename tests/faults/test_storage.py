"""Issue 6: the registry's storage fails under Control Room: read-only, vanished, full.

Each case runs the real console script (`task add`, `task list`, `serve`) against a data
directory whose storage is broken for real, not simulated in-process:

* read-only: the data directory becomes a read-only bind mount of itself (root ignores chmod),
  else `chattr +i`, else chmod when not root; with a clean registry, and with the -wal/-shm a
  killed server left behind. `task add` is one line and exit 1, `serve` refuses in one line or
  answers writes 503 and reads 200; nothing in the directory changes; once writable again
  everything is there and `task add` works. And with serve running, its files made immutable
  (`chattr +i`, as when a disk goes bad under it): writes are a JSON 503, then work again.
* vanished: while `serve` runs, registry.db and its -wal/-shm are renamed away, or deleted.
  SQLite would go on writing to the open (unlinked) files, and what it acknowledged would vanish
  with the process; the writer notices the file is no longer at its path and refuses every
  write with a JSON 503 that says so. Every task acknowledged before is still served and ends
  up in the renamed file; serve exits 0 on SIGTERM without recreating an empty registry, and a
  fresh `task list` says there is none.
* full disk: the data directory lives on a small loop-mounted ext4 image (else a size-limited
  tmpfs) that a filler file fills up under a REST write load. Every failure is a JSON 503, the
  CLI refuses in one line, reads go on, every acknowledged task survives, integrity_check is ok,
  and once the filler is gone the same server accepts writes again.

Mounts and processes are always undone in `finally` blocks. A case is skipped only when this
machine forbids every way of breaking the storage it needs, and the skip says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.conftest import run_cli
from tests.serving import free_port

SCRIPT = Path(sys.executable).with_name("control-room")
SIDE_FILES = ("registry.db-wal", "registry.db-shm")
ERROR_PREFIX = "control-room: error: "


# -- helpers ----------------------------------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """A refusal as promised: exit 1, one line on stderr, no traceback; returns the line."""
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), result.stderr
    assert any(word in lines[0] for word in expected), (expected, lines[0])
    return lines[0]


def add(home: Path, title: str) -> str:
    added = run_cli("task", "add", "--title", title, data_dir=home)
    assert added.returncode == 0, added.stderr
    return added.stdout.strip()


def listed(home: Path) -> set[str]:
    result = run_cli("task", "list", "--all", "--json", data_dir=home)
    assert result.returncode == 0, result.stderr
    return {task["id"] for task in json.loads(result.stdout)}


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def fingerprint(directory: Path) -> dict[str, str]:
    """Every file under `directory` and a hash of its bytes."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def writable(directory: Path) -> bool:
    """Can this process still create a file in `directory` or write to its registry?"""
    probe = directory / ".write-probe"
    try:
        probe.write_text("x")
        probe.unlink()
        return True
    except OSError:
        pass
    try:
        with open(directory / "registry.db", "r+b"):
            return True
    except OSError:
        return False


class Server:
    """`control-room serve` as a real process; stderr goes to a file (read with `errors()`)."""

    def __init__(self, home: Path, log: Path) -> None:
        self.home, self.log = home, log
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.operator = {"Authorization": f"Bearer {(home / 'operator.token').read_text().strip()}"}
        with open(log, "w") as err:
            self.process = subprocess.Popen(
                [str(SCRIPT), "--data-dir", str(home), "serve", "--port", str(port)],
                stdout=subprocess.DEVNULL, stderr=err, text=True,
            )  # fmt: skip

    def started(self, within: float = 20) -> bool:
        """True once /api/health answers; False if the process exited first."""
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            try:
                if httpx2.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return True
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve neither started nor exited"
            time.sleep(0.1)
        return False

    def errors(self) -> str:
        return self.log.read_text()

    def post_task(self, title: str, description: str = "") -> httpx2.Response:
        body = {"title": title, "description": description}
        return httpx2.post(f"{self.url}/api/tasks", json=body, headers=self.operator, timeout=30)

    def task_ids(self) -> set[str]:
        found: set[str] = set()
        params = {"limit": "1000"}
        while True:
            answer = httpx2.get(
                f"{self.url}/api/tasks", params=params, headers=self.operator, timeout=30
            )
            assert answer.status_code == 200, answer.text
            found |= {task["id"] for task in answer.json()["tasks"]}
            if answer.json()["next"] is None:
                return found
            params["cursor"] = answer.json()["next"]

    def terminate(self) -> int:
        """SIGTERM; the exit code (it must exit within 15 s); stderr has no traceback."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        assert "Traceback" not in self.errors(), self.errors()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def serve(home: Path, log: Path) -> Iterator[Server]:
    server = Server(home, log)
    try:
        yield server
    finally:
        server.kill()


def until_ticked(server: Server, name: str, within: float = 10) -> dict[str, object]:
    """The loop `name` as /api/loops shows it, once it has run at least once."""
    deadline = time.monotonic() + within
    while True:
        answer = httpx2.get(f"{server.url}/api/loops", headers=server.operator, timeout=10)
        assert answer.status_code == 200, answer.text
        loop: dict[str, object] = {x["name"]: x for x in answer.json()["loops"]}[name]
        if loop["runs"]:
            return loop
        assert time.monotonic() < deadline, f"{name} never ran"
        time.sleep(0.1)


def refused_as_unavailable(answer: httpx2.Response, *expected: str) -> None:
    """A write the registry could not take: a JSON 503 that says why, never a 500."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert "Traceback" not in answer.text
    error = answer.json()
    assert error["error"] == "store_unavailable", error
    assert any(word in error["message"] for word in expected), error


# -- read-only ----------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[str]:
    """Make `directory` (and everything in it) read-only, even for root; yields how."""
    files = [p for p in directory.iterdir() if p.is_file()]
    if sh("mount", "--bind", str(directory), str(directory)).returncode == 0:
        try:
            remounted = sh("mount", "-o", "remount,bind,ro", str(directory))
            if remounted.returncode == 0 and not writable(directory):
                yield "read-only bind mount"
                return
        finally:
            assert sh("umount", str(directory)).returncode == 0, "could not undo the bind mount"
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        targets = [str(p) for p in [*files, directory]]
        if chattr and sh(chattr, "+i", *targets).returncode == 0:
            try:
                if not writable(directory):
                    yield "chattr +i"
                    return
            finally:
                sh(chattr, "-i", *targets)
        pytest.skip(
            "running as root, where chmod does not stop writes, and neither a read-only bind "
            "mount nor chattr +i is permitted on this machine"
        )
    modes = {p: p.stat().st_mode for p in [*files, directory]}
    try:
        for path in files:
            path.chmod(0o444)
        directory.chmod(0o555)
        assert not writable(directory)
        yield "chmod"
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.mark.parametrize("leftover", ["clean", "wal-left-by-a-killed-server"])
def test_a_read_only_registry_refuses_writes_clearly_and_loses_nothing(
    tmp_path: Path, leftover: str
) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    acked = {add(home, f"before {i}") for i in range(3)}
    if leftover != "clean":
        with serve(home, tmp_path / "first.err") as server:
            assert server.started()
            for i in range(2):
                answer = server.post_task(f"over rest {i}")
                assert answer.status_code == 201, answer.text
                acked.add(answer.json()["id"])
            server.kill()  # SIGKILL: the -wal and -shm stay behind
        assert all((home / name).exists() for name in SIDE_FILES)
    before = fingerprint(home)

    with read_only(home) as how:
        print(f"\nread-only by {how}")
        one_line_error(run_cli("task", "add", "--title", "x", data_dir=home), "registry.db")
        reading = run_cli("task", "list", "--all", "--json", data_dir=home)
        if reading.returncode == 0:
            assert {t["id"] for t in json.loads(reading.stdout)} == acked
        else:
            one_line_error(reading, "registry.db")
        with serve(home, tmp_path / "serve.err") as server:
            if server.started():
                refused_as_unavailable(server.post_task("refused"), "read-only")
                agent = {"name": "refused", "capabilities": ["*"]}
                answer = httpx2.post(
                    f"{server.url}/api/agents", json=agent, headers=server.operator, timeout=30
                )
                refused_as_unavailable(answer, "read-only")
                assert server.task_ids() == acked
                reaper = until_ticked(server, "lease-reaper")  # a failing write is no crash
                print(f"lease reaper on a read-only registry: {reaper['last_error']!r}")
                assert "Traceback" not in str(reaper["last_error"])
                assert server.terminate() == 0
            else:
                lines = server.errors().splitlines()
                assert server.process.returncode == 1, server.errors()
                assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), lines
                assert "registry.db" in lines[0]
        assert fingerprint(home) == before, "a refused write changed the data directory"

    assert integrity(home / "registry.db") == "ok"
    assert listed(home) == acked
    acked.add(add(home, "writable again"))
    assert listed(home) == acked


def test_a_registry_made_immutable_under_serve_refuses_then_recovers(tmp_path: Path) -> None:
    """The files turn unwritable while serve holds them open (as when a disk goes bad)."""
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed on this machine")
    with serve(home, tmp_path / "serve.err") as server:
        assert server.started()
        acked = set()
        for i in range(3):
            answer = server.post_task(f"before {i}")
            assert answer.status_code == 201, answer.text
            acked.add(answer.json()["id"])
        targets = [str(home / name) for name in ("registry.db", *SIDE_FILES[:1])] + [str(home)]
        try:
            made = sh(chattr, "+i", *targets)
            if made.returncode:
                pytest.skip(f"chattr +i is not permitted here ({made.stderr.strip()})")
            for i in range(3):
                answer = server.post_task(f"refused {i}")
                refused_as_unavailable(answer, "disk I/O error", "read-only")
            print(f"\nwriting to an immutable registry: {answer.json()['message']}")
            assert server.task_ids() == acked
        finally:
            sh(chattr, "-i", *targets)
        answer = server.post_task("writable again")
        assert answer.status_code == 201, answer.text
        acked.add(answer.json()["id"])
        assert server.terminate() == 0
    assert integrity(home / "registry.db") == "ok"
    assert listed(home) == acked


# -- vanished -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["renamed", "deleted"])
def test_a_registry_that_vanishes_under_serve(tmp_path: Path, how: str) -> None:
    home, moved = tmp_path / "data", tmp_path / "moved"
    assert run_cli("init", data_dir=home).returncode == 0
    moved.mkdir()
    with serve(home, tmp_path / "serve.err") as server:
        assert server.started()
        acked = set()
        for i in range(3):
            answer = server.post_task(f"before {i}")
            assert answer.status_code == 201, answer.text
            acked.add(answer.json()["id"])
        for name in ("registry.db", *SIDE_FILES):
            if how == "renamed":
                (home / name).rename(moved / name)
            else:
                (home / name).unlink()
        for i in range(3):
            answer = server.post_task(f"after {i}")
            refused_as_unavailable(answer, "removed or replaced")
        assert server.task_ids() == acked, "the process lost a task it acknowledged"

        fresh = run_cli("task", "list", data_dir=home)
        one_line_error(fresh, f"no registry at {home}")
        assert "control-room init" in fresh.stderr
        one_line_error(run_cli("task", "add", "--title", "x", data_dir=home), "no registry")

        assert server.terminate() == 0
    assert not (home / "registry.db").exists(), "serve created a new, empty registry"
    if how == "renamed":  # the open files were the renamed ones: all of it is there
        assert integrity(moved / "registry.db") == "ok"
        assert listed(moved) == acked


# -- full disk ----------------------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, image: Path, size_mb: int = 4) -> Iterator[str]:
    """A small real filesystem at `mountpoint`: loop-mounted ext4, else tmpfs; yields which."""
    mountpoint.mkdir()
    tried = []
    kind = ""
    mkfs = shutil.which("mkfs.ext4") or shutil.which("mkfs.ext4", path="/sbin:/usr/sbin")
    if mkfs:
        image.write_bytes(b"")
        os.truncate(image, size_mb << 20)
        done = sh(mkfs, "-q", "-F", "-m", "0", str(image))
        if done.returncode == 0:
            done = sh("mount", "-o", "loop", str(image), str(mountpoint))
        if done.returncode == 0:
            kind = "loop-mounted ext4"
        else:
            tried.append(f"loop ext4: {done.stderr.strip()}")
    if not kind:
        done = sh("mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mountpoint))
        if done.returncode:
            tried.append(f"tmpfs: {done.stderr.strip()}")
            pytest.skip(f"no small filesystem can be mounted here ({'; '.join(tried)})")
        kind = "tmpfs"
    try:
        yield kind
    finally:
        for _attempt in range(20):
            if sh("umount", str(mountpoint)).returncode == 0:
                break
            time.sleep(0.25)
        else:
            sh("umount", "-l", str(mountpoint))
            raise AssertionError(f"{mountpoint} stayed busy; unmounted lazily")


def fill(path: Path, leave: int) -> None:
    """Grow `path` until its filesystem has at most `leave` bytes left (0: until ENOSPC)."""
    with open(path, "ab") as filler:
        while True:
            stat = os.statvfs(path)
            free = stat.f_bavail * stat.f_frsize
            if free <= leave:
                return
            try:
                filler.write(b"\xff" * min(free - leave, 1 << 20))
                filler.flush()
                os.fsync(filler.fileno())
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
                return


async def write_load(
    server: Server, workers: int = 4, need_failures: int = 12
) -> tuple[set[str], list[httpx2.Response]]:
    """Tasks with 6 KB descriptions from concurrent clients until enough writes failed."""
    acked: set[str] = set()
    failed: list[httpx2.Response] = []

    async def worker(n: int) -> None:
        async with httpx2.AsyncClient(
            base_url=server.url, headers=server.operator, timeout=30
        ) as http:
            for i in range(300):
                if len(failed) >= need_failures:
                    return
                body = {"title": f"load {n}.{i}", "description": f"{n}.{i} " + "x" * 6000}
                answer = await http.post("/api/tasks", json=body)
                if answer.status_code == 201:
                    acked.add(answer.json()["id"])
                else:
                    failed.append(answer)

    await asyncio.gather(*(worker(n) for n in range(workers)))
    return acked, failed


def test_a_full_disk_is_a_clear_error_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_filesystem(disk, tmp_path / "disk.img") as kind:
        print(f"\nfull disk on {kind}")
        home = disk / "data"
        assert run_cli("init", data_dir=home).returncode == 0
        acked = {add(home, f"before {i}") for i in range(5)}
        with serve(home, tmp_path / "serve.err") as server:
            assert server.started()
            fill(disk / "filler", leave=256 << 10)
            loaded, failures = asyncio.run(write_load(server))
            assert loaded, "some writes fit before the disk filled up"
            assert len(failures) >= 12, "the disk never filled up"
            acked |= loaded
            print(f"{len(loaded)} writes acknowledged, then: {failures[0].json()['message']}")
            for answer in failures:
                refused_as_unavailable(answer, "disk is full", "disk I/O error")
            fill(disk / "top-up", leave=0)  # whatever room the failed batches left, take it

            # The WAL may still hold room its failed batches allocated: a write that fits
            # there is acknowledged (and must survive); the next one that does not is refused.
            for i in range(50):
                answer = server.post_task(f"still full {i}", "x" * 6000)
                if answer.status_code != 201:
                    break
                acked.add(answer.json()["id"])
            refused_as_unavailable(answer, "disk is full", "disk I/O error")
            for i in range(20):
                added = run_cli(
                    "task", "add", "--title", f"cli {i}", "--description", "x" * 6000,
                    data_dir=home,
                )  # fmt: skip
                if added.returncode != 0:
                    break
                acked.add(added.stdout.strip())
            one_line_error(added, "disk is full", "disk I/O error")
            print(f"after topping up: {i} CLI writes still fit, then {added.stderr.strip()!r}")
            assert server.task_ids() == acked, "a read lost an acknowledged task"
            assert listed(home) == acked

            (disk / "filler").unlink()
            (disk / "top-up").unlink()
            answer = server.post_task("room again")
            assert answer.status_code == 201, answer.text
            acked.add(answer.json()["id"])
            assert server.terminate() == 0
            print(f"serve's stderr: {server.errors()!r}")

        assert integrity(home / "registry.db") == "ok"
        assert listed(home) == acked
        acked.add(add(home, "after a restart"))
        assert listed(home) == acked
