"""Managed agents: a `command` agent type with `managed = true` does not speak MCP or REST, so
Control Room does the talking for it.

Before the process starts, Control Room claims the task as the run's agent (the lease and epoch
are that agent's); while the process lives a heartbeat renews the lease well inside its time;
when it exits 0 the task is handed in (summary: the last lines of its output without terminal
control sequences; files: what changed in its working directory against the task's base, from
git; hours: the run's duration), and any other exit releases it with the exit and the output
tail as the reason (an attempt counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from control_room.domain import ControlRoomError, Task
from control_room.engine.service import Coordinator

log = logging.getLogger(__name__)
TAIL_LINES = 20
TAIL_CHARS = 1_500
READ_BYTES = 64 * 1024
FILES_MAX = 100  # the registry's list limit
_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC ... BEL or ST (titles, hyperlinks)
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI (colours, cursor movement)
    r"|\x1b[PX^_][^\x1b]*\x1b\\"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]"  # other escapes (charset choices, keypad modes, ...)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def clean_output(text: str) -> list[str]:
    """`text` as a terminal would finally show it, line by line: escape sequences removed, a
    carriage return overwriting its line, other control characters dropped, blank lines gone."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    lines = []
    for raw in text.split("\n"):
        shown = next((part for part in reversed(raw.split("\r")) if part.strip()), "")
        line = "".join(c for c in shown if c == "\t" or c.isprintable()).rstrip()
        if line.strip():
            lines.append(line)
    return lines


_TRACEBACK_START = ("Traceback (most recent call last):", "Exception ignored in")
_TRACEBACK_LINE = re.compile(r"^(\s|During handling|The above exception|[A-Za-z_][\w.]*(:.*)?$)")


def without_trailing_traceback(lines: list[str]) -> list[str]:
    """`lines` without a Python traceback that ends them (a program that succeeded may print one
    while shutting down, e.g. from an event loop closed twice: noise, not its summary)."""
    starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK_START)]
    for start in reversed(starts):
        if all(not line or _TRACEBACK_LINE.match(line) for line in lines[start + 1 :]):
            lines = lines[:start]
        else:
            break
    return lines


def output_tail(
    report: Path, lines: int = TAIL_LINES, limit: int = TAIL_CHARS, *, succeeded: bool = False
) -> str:
    """The last `lines` lines of an agent's output (at most `limit` characters), cleaned; after
    a success, without a traceback printed at exit."""
    try:
        with report.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - READ_BYTES))
            data = handle.read()
    except OSError:
        return ""
    cleaned = clean_output(data.decode(errors="replace"))
    if succeeded:
        cleaned = without_trailing_traceback(cleaned)
    text = "\n".join(cleaned[-lines:])
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def preflight(argv: Sequence[str], cwd: Path) -> None:
    """Raise FileNotFoundError unless the command's program can be found: checked before the
    claim, so a missing program costs nothing."""
    program = argv[0] if argv else ""
    found = (
        (cwd / program if not os.path.isabs(program) else Path(program))
        if os.sep in program
        else shutil.which(program)
    )
    if not program or found is None or not os.access(found, os.X_OK) or Path(found).is_dir():
        raise FileNotFoundError(f"no such program: {program!r}")


async def _git(workdir: Path, *args: str) -> str | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        process = await asyncio.create_subprocess_exec(
            "git", "-C", str(workdir), *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=env | {"GIT_TERMINAL_PROMPT": "0"},
        )  # fmt: skip
        out, _ = await process.communicate()
    except OSError:
        return None
    return out.decode(errors="replace") if process.returncode == 0 else None


async def head(workdir: Path) -> str | None:
    """The commit checked out in `workdir`, or None outside git (or before the first commit)."""
    out = await _git(workdir, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return out.strip() if out else None


async def task_base(workdir: Path, project: Path, started_at: str | None) -> str | None:
    """The commit the task's work started from: where its branch left the project's checked
    out branch (a worktree), else the commit the attempt started on."""
    if workdir != project:
        main = await head(project)
        if main is not None:
            base = await _git(workdir, "merge-base", "HEAD", main)
            if base:
                return base.strip()
    return started_at


async def changed_files(workdir: Path, base: str | None) -> list[str]:
    """Every file changed in `workdir` since `base`: committed, staged, modified, deleted or
    new (untracked, not ignored). Empty outside git."""
    if base is None:
        return []
    changed = await _git(workdir, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = await _git(workdir, "ls-files", "--others", "--exclude-standard", "-z")
    names = [n for n in (changed or "").split("\0") + (untracked or "").split("\0") if n]
    return sorted(set(names))[:FILES_MAX]


@dataclass
class Managed:
    """What Control Room holds for one managed attempt: the lease it claimed, its heartbeat."""

    coordinator: Coordinator
    task_id: str
    agent_id: str
    epoch: int
    workdir: Path
    project: Path
    start_commit: str | None = None
    started: float = field(default_factory=time.monotonic)
    _beating: asyncio.Task[None] | None = None

    @classmethod
    async def claim(
        cls, coordinator: Coordinator, task: Task, agent_id: str, workdir: Path, project: Path
    ) -> Managed:
        """Claim `task` as the run's agent, before its process starts."""
        claim = await coordinator.claim(agent_id, task.id)
        return cls(
            coordinator, task.id, agent_id, claim.lease.epoch, workdir, project, await head(workdir)
        )

    def keep_alive(self, *, at_once: bool = False) -> None:
        """Renew the lease every quarter of its time while the process lives (`at_once`: first
        right now, for a lease that has been left alone a while)."""
        if self._beating is None:
            beat = self._beat(at_once)
            self._beating = asyncio.create_task(beat, name=f"lease-{self.agent_id}")

    async def _beat(self, at_once: bool) -> None:
        interval = max(0.05, self.coordinator.lease_seconds / 4)
        while True:
            if not at_once:
                await asyncio.sleep(interval)
            at_once = False
            try:
                await self.coordinator.heartbeat(self.task_id, self.agent_id, self.epoch)
            except ControlRoomError as error:  # cancelled, or the lease was lost: stop renewing
                log.info("lease of %s not renewed: %s", self.task_id, error.message)
                return
            except Exception:  # a busy registry: try again at the next beat
                log.exception("renewing the lease of %s", self.task_id)

    async def stop(self) -> None:
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating

    async def settle(self, code: int | None, outcome: str, report: Path) -> None:
        """The process ended: hand in on exit 0, release otherwise (with the reason). A task
        it no longer holds (cancelled, lease lost) is left alone."""
        await self.stop()
        tail = output_tail(report, succeeded=code == 0)
        try:
            if code == 0:
                base = await task_base(self.workdir, self.project, self.start_commit)
                files = await changed_files(self.workdir, base)
                hours = round((time.monotonic() - self.started) / 3600, 4)
                summary = tail or f"the agent {outcome} (no output)"
                await self.coordinator.complete(
                    self.task_id, self.agent_id, self.epoch, summary, files, hours
                )
            else:
                reason = f"the agent {outcome}" + (f"; its output ended:\n{tail}" if tail else "")
                await self.coordinator.release(self.task_id, self.agent_id, self.epoch, reason)
        except ControlRoomError as error:
            log.info("managed %s not settled: %s", self.task_id, error.message)
