"""Who runs the checks of handed-in tasks on a data directory, told through lock files.

Every engine (`run`, `serve`, the screen) holds a shared lock on `validation.lock` while its
validation loop runs. `control-room mcp` may run alone (a client launched it, no engine up): then
one mcp process at a time holds `validation-mcp.lock` and runs the validation loop itself, but
only while no engine does (an engine's checks win; the same task is not checked twice at once).
Anyone can ask whether checks have a runner: a lock that can be taken has no holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from control_room.config import Home
from control_room.engine.validation import ValidationRunner

log = logging.getLogger(__name__)
ENGINES = "validation.lock"
MCP = "validation-mcp.lock"
NO_RUNNER = "checks will run when a Control Room engine, `serve` or `mcp` is running"


def _held(path: Path) -> bool:
    """Whether another open file holds a lock on `path`."""
    try:
        with path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def engine_validating(home: Home) -> bool:
    return _held(home.root / ENGINES)


def checks_have_a_runner(home: Home) -> bool:
    """Whether some process on `home` runs the checks of handed-in tasks."""
    return engine_validating(home) or _held(home.root / MCP)


@contextlib.contextmanager
def engine_validates(home: Home) -> Iterator[None]:
    """Held by an engine while its validation loop runs (shared: many engines may run)."""
    try:
        handle = (home.root / ENGINES).open("a")
    except OSError:  # a data directory we cannot write to: nobody can be told, run anyway
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class StandIn:
    """The validation step of `control-room mcp`: it runs `runner`'s step while this process
    holds the mcp lock and no engine validates. `close()` lets the lock go."""

    def __init__(self, home: Home, runner: ValidationRunner) -> None:
        self.home = home
        self.runner = runner
        self._lock: IO[str] | None = None

    def _take(self) -> bool:
        if self._lock is not None:
            return True
        try:
            handle = (self.home.root / MCP).open("a")
        except OSError:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another mcp process stands in
            handle.close()
            return False
        self._lock = handle
        return True

    async def step(self) -> None:
        if self._take() and not engine_validating(self.home):
            await self.runner.step()

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
