"""`control-room backup FILE`: a consistent copy of the SQLite registry while it is in use.

SQLite's online backup API copies every page in one step under one read transaction, so the
copy is the registry as of one instant (every write committed before the copy began is in it),
while writers keep going beside it (WAL mode: a reader does not block them). The copy is written
to a private temporary file beside FILE (0600), switched to a single-file journal, checked with
`PRAGMA integrity_check`, and only then renamed to FILE: a failed backup leaves nothing behind.
An existing FILE is refused unless `force`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from control_room.domain import Conflict, StoreError


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int
    tasks: int
    events: int


def backup(source: Path, target: Path, *, force: bool = False, busy_ms: int = 10_000) -> Backup:
    """Copy the registry at `source` to `target` (blocking: run it in a thread)."""
    if not source.is_file():
        raise StoreError(f"no registry at {source}: run `control-room init` first")
    if target.exists() and not force:
        raise Conflict(f"{target} exists: add --force to overwrite it")
    if target.is_dir():
        raise Conflict(f"{target} is a directory")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        made = _copy(source, partial, busy_ms)
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return Backup(target, target.stat().st_size, *made)


def _copy(source: Path, partial: Path, busy_ms: int) -> tuple[int, int]:
    src = sqlite3.connect(source, timeout=busy_ms / 1000)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)  # pages=-1: all at once, one consistent snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise StoreError(f"the copy failed its integrity check: {verdict}")
            (tasks,) = dst.execute("SELECT count(*) FROM tasks").fetchone()
            (events,) = dst.execute("SELECT count(*) FROM events").fetchone()
            return int(tasks), int(events)
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise StoreError(f"cannot back up {source}: {error}") from error
    finally:
        src.close()
