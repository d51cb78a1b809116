"""Processes outside our control: is a pid still the process we started, stop a process group,
and a handle that watches a process this Control Room did not start itself (adopted after a
restart). A pid alone can be reused by an unrelated process, so a process is known by its pid
and its start time (from /proc on Linux)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

POLL_SECONDS = 0.5


def identity(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def alive(pid: int, known_identity: str | None = None) -> bool:
    """Whether `pid` runs and, when its identity was recorded, is still that same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return known_identity is None  # someone else's process: not ours if we knew ours
    if _zombie(pid):
        return False
    return known_identity is None or identity(pid) in (None, known_identity)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def group_alive(pgid: int) -> bool:
    """Whether any process is left in the process group `pgid` (a zombie leader counts). While
    one is, the kernel gives no new process that number, so the group is still ours."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours
    return True


async def stop_group(pgid: int, grace_seconds: float, known_identity: str | None = None) -> None:
    """SIGTERM to the process group `pgid` (an agent and its children); once its leader is gone
    or the grace is over, SIGKILL to whatever is left. With `known_identity`, nothing is sent
    unless the leader is still that process (its pid may belong to someone else by now)."""
    if known_identity is not None and not alive(pgid, known_identity):
        return
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(pgid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)
        deadline = asyncio.get_running_loop().time() + grace_seconds
        # Not (only) our children: nothing to wait on but the leader's pid.
        while alive(pgid) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


class Adopted:
    """A `Handle` on a process another Control Room started: watched by polling, since only a
    parent can wait for a child. Its exit code is unknown."""

    def __init__(self, pid: int, known_identity: str | None) -> None:
        self._pid = pid
        self._identity = known_identity
        self.timed_out = False

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def identity(self) -> str | None:
        return self._identity

    async def wait(self) -> int:
        while alive(self._pid, self._identity):  # noqa: ASYNC110 (no child to wait for)
            await asyncio.sleep(POLL_SECONDS)
        return -1

    async def stop(self, grace_seconds: float = 5.0) -> None:
        await stop_group(self._pid, grace_seconds, self._identity)
