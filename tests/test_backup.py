"""`control-room backup FILE` while a real `serve` process takes writes: the operator adds tasks
and an agent claims and completes them over REST from threads, and the copy taken meanwhile
passes integrity_check and holds every write acknowledged before the backup started."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from pathlib import Path

import httpx2

from tests.conftest import run_cli
from tests.serve_process import serving


class Writers:
    """Two loops over REST: the operator adding tasks, an agent completing them."""

    def __init__(self, url: str, operator: dict[str, str], agent_token: str) -> None:
        self.url, self.operator = url, operator
        self.agent = {"Authorization": f"Bearer {agent_token}"}
        self.added: list[str] = []
        self.completed: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._add), threading.Thread(target=self._work)]

    def _add(self) -> None:
        with httpx2.Client(timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                n += 1
                answer = http.post(
                    f"{self.url}/api/tasks", json={"title": f"write {n}"}, headers=self.operator
                )
                if answer.status_code != 201:
                    self.errors.append(answer.text)
                    return
                self.added.append(answer.json()["id"])  # acknowledged

    def _work(self) -> None:
        with httpx2.Client(timeout=30) as http:
            while not self.stop.is_set():
                claim = http.post(f"{self.url}/api/tasks/claim", json={}, headers=self.agent)
                if claim.status_code in (404, 409):
                    continue  # nothing to claim yet, or taken
                task, epoch = claim.json()["task"]["id"], claim.json()["lease"]["epoch"]
                done = http.post(
                    f"{self.url}/api/tasks/{task}/complete",
                    json={"epoch": epoch, "summary": "ok"}, headers=self.agent,
                )  # fmt: skip
                if done.status_code != 200:
                    self.errors.append(done.text)
                    return
                self.completed.append(task)  # acknowledged

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)


def wait_until(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_backup_while_agents_write_is_consistent_and_holds_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    home = tmp_path / "data"
    copy = tmp_path / "copies" / "registry-copy.db"
    copy.parent.mkdir()
    with serving(home) as served, Writers(served.url, served.operator, served.join()) as w:
        wait_until(lambda: len(w.completed) >= 5 and len(w.added) >= 20)
        added_before, completed_before = list(w.added), list(w.completed)
        done = run_cli("backup", str(copy), data_dir=home)
        added_after = len(w.added)
        assert done.returncode == 0, done.stderr
        wait_until(lambda: len(w.added) > added_after)  # still writing after the copy
    assert not w.errors, w.errors
    assert added_after > len(added_before), "writes went on while the backup ran"
    assert done.stdout.startswith(f"backed up {home / 'registry.db'} to {copy}: ")
    assert "(integrity ok)" in done.stdout
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert [p.name for p in copy.parent.iterdir()] == [copy.name], "no partial file left"

    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        statuses = dict(db.execute("SELECT task_id, status FROM tasks").fetchall())
    missing = [t for t in added_before if t not in statuses]
    assert not missing, f"{len(missing)} acknowledged tasks missing from the copy"
    assert all(statuses[t] == "COMPLETED" for t in completed_before)
    assert set(statuses) <= set(w.added), "the copy holds only what was really written"

    refused = run_cli("backup", str(copy), data_dir=home)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"control-room: error: {copy} exists: add --force to overwrite it"
    )
    again = run_cli("backup", str(copy), "--force", data_dir=home)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(copy) as db:
        (count,) = db.execute("SELECT count(*) FROM tasks").fetchone()
    assert count == len(w.added) and stat.S_IMODE(copy.stat().st_mode) == 0o600
