"""Checks of a registry file at open: an existing empty file is never taken for a new registry
(only `control-room init` creates one), another program's SQLite database never gets the
registry's tables, and a corrupt file is refused before anything serves or writes on it.

The check is SQLite's `PRAGMA quick_check` (every page and b-tree, not index contents),
stopped after a time limit so that a very large registry still starts: measured on this
workplace's 2-core machine, 0.8 s for an 850 MB registry in the page cache, 14 s from a cold
disk. A check that ran out of time says so and lets the registry open.

The screen checks in the background (`check_alone`, on a connection of its own) so that it can
draw before a large registry is checked; the registry holds every write until the verdict, and
the screen serves nothing (no HTTP, no engine) before it (docs/guarantees.md).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from control_room.domain import StoreError

PROGRESS_STEPS = 20_000  # SQLite virtual-machine steps between looks at the clock


def refuse_empty(path: Path) -> None:
    """An existing registry file of zero bytes is not a new registry: something emptied it."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # none yet (SQLite creates it), or unreadable (opening says why)
    if size == 0:
        raise StoreError(
            f"the registry {path} is empty (0 bytes), so its tasks are gone or were never "
            "written; refusing to treat it as a new registry (restore it from a backup, or "
            "move it away and run `control-room init` to start afresh)"
        )


def refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """A SQLite database without Control Room's schema that holds tables is another program's:
    the registry's tables are never added to it."""
    if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
        return  # a registry (its schema version counts its migrations)
    (tables,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchone()
    if tables:
        raise StoreError(
            f"registry {path}: the file is not a Control Room registry (it holds another "
            "program's tables); nothing was changed"
        )


def check_alone(path: Path, seconds: float, cancelled: Callable[[], bool]) -> str:
    """`check_file` on a read-only connection of its own (for a check in a thread beside the
    registry's connections); `cancelled` stops it early (the registry closes)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return check_file(conn, path, seconds, cancelled)
    finally:
        conn.close()


def check_file(
    conn: sqlite3.Connection,
    path: Path,
    seconds: float,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """ "ok", or "not checked in full: ..." when time ran out; raises StoreError if corrupt."""
    deadline = time.monotonic() + seconds
    timed_out = False

    def stop_when_late() -> int:
        nonlocal timed_out
        timed_out = time.monotonic() > deadline or cancelled()
        return 1 if timed_out else 0

    conn.set_progress_handler(stop_when_late, PROGRESS_STEPS)
    try:
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.OperationalError:
        if not timed_out:
            raise
        size = path.stat().st_size >> 20
        return f"not checked in full: the check stopped after {seconds:g} s ({size} MB)"
    except sqlite3.DatabaseError as error:  # malformed, not a database
        found = [str(error)]
    finally:
        conn.set_progress_handler(None, 0)
    if found == ["ok"]:
        return "ok"
    detail = " ".join("; ".join(found).split())  # SQLite's report spans lines: one line
    raise StoreError(
        f"the registry {path} is corrupt ({detail[:300]}); refusing to use it "
        "(restore it from a backup; `sqlite3 registry.db .recover` may save what is left)"
    )
