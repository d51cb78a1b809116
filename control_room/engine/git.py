"""Running git: an argv list (never a shell), no terminal prompts, a time limit, and none of the
caller's GIT_DIR-like variables (which would point git at another repository).

Every git command Control Room runs goes through `Git.run`. A command that fails, or runs past
its limit (it is killed), raises `GitError` whose message ends with git's own last line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from control_room.private import user_umask

LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")
TIMEOUT_SECONDS = 60.0


class GitError(Exception):
    """A git command failed; the message ends with git's own last line of complaint."""


def last_line(text: str, fallback: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else fallback


class Git:
    """git in `cwd` (a repository or one of its worktrees)."""

    def __init__(self, cwd: Path, timeout: float = TIMEOUT_SECONDS) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.env = {k: v for k, v in os.environ.items() if k not in LOCATION_VARIABLES}
        self.env["GIT_TERMINAL_PROMPT"] = "0"

    def at(self, cwd: Path) -> Git:
        """The same settings in another directory (a worktree of the same repository)."""
        other = Git(cwd, self.timeout)
        other.env = self.env
        return other

    async def run(
        self, *args: str, env: Mapping[str, str] | None = None, seconds: float | None = None
    ) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of `git -C cwd ARGS`."""
        limit = self.timeout if seconds is None else seconds
        try:
            process = await asyncio.create_subprocess_exec(
                "git", "-C", str(self.cwd), *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={**self.env, **(env or {})},
                start_new_session=True,
                **user_umask(),  # the project's files and objects keep the user's modes
            )  # fmt: skip
        except OSError as error:
            raise GitError(f"cannot run git: {error.strerror or error}") from error
        try:
            async with asyncio.timeout(limit):
                out, err = await process.communicate()
        except (TimeoutError, asyncio.CancelledError) as stopped:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # git and what it started (ssh, hooks)
            await asyncio.shield(process.wait())
            if isinstance(stopped, asyncio.CancelledError):
                raise
            raise GitError(f"git {' '.join(args)} took longer than {limit:g} s") from None
        assert process.returncode is not None
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")

    async def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """stdout of a git command that must succeed (stripped)."""
        code, out, err = await self.run(*args, env=env)
        if code != 0:
            last = last_line(err, f"exit status {code}")
            raise GitError(f"git {' '.join(args)} failed: {last}")
        return out.strip()
