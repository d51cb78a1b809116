"""Git worktrees: one checkout per agent attempt, on a branch named after the task.

When the project directory is a git repository, each attempt at a task works in its own
`git worktree` under `<data dir>/worktrees`, on the branch `control-room/<slug of the task id>`.
The branch outlives the worktree, so a retry continues from the previous attempt's commits, and
validation checks run in the attempt's checkout. Worktrees are removed after the attempt; a
reconciler collects the ones no live attempt uses (`collect`). Git runs as an argv list, never a
shell, with no terminal prompts; its failures raise `WorktreeError` with git's last line.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Collection
from pathlib import Path

from control_room.private import user_umask

BRANCH_PREFIX = "control-room/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_GIT_LOCATION_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")


class WorktreeError(Exception):
    """A git command failed; the message ends with git's own last line of complaint."""


def slug(task_id: str) -> str:
    """A branch- and file-name-safe form of `task_id`; when it is not the id itself, 8 hex digits
    of the id's sha256 are appended, so ids that differ do not share a slug."""
    text = re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", task_id)).lstrip("-.")
    while text.endswith((".", ".lock")):
        text = text.removesuffix(".lock").rstrip(".")
    if text and text == task_id:
        return text
    digest = hashlib.sha256(task_id.encode(errors="surrogatepass")).hexdigest()[:8]
    return f"{text}-{digest}" if text else digest


def _delete(path: Path) -> None:
    try:
        if path.is_symlink():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
    except OSError as error:
        raise WorktreeError(f"cannot remove {path}: {error.strerror or error}") from error


class Worktrees:
    """The worktrees of `project`'s attempts, kept as directories directly inside `root`."""

    def __init__(self, project: Path, root: Path) -> None:
        self.project = project.resolve()
        self.root = root.resolve()
        self._enabled: bool | None = None
        self._env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
        self._env["GIT_TERMINAL_PROMPT"] = "0"

    async def enabled(self) -> bool:
        """Whether the project is inside a git work tree with at least one commit (cached)."""
        if self._enabled is None:
            try:
                inside = await self._git("rev-parse", "--is-inside-work-tree")
                await self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
                self._enabled = inside == "true"
            except WorktreeError:
                self._enabled = False
        return self._enabled

    def branch_for(self, task_id: str) -> str:
        return BRANCH_PREFIX + slug(task_id)

    def path_for(self, task_id: str, attempt: int) -> Path:
        return self.root / f"{slug(task_id)}-{attempt}"

    async def create(self, task_id: str, attempt: int) -> Path:
        """Check out the task's branch at `path_for`: a new branch from the project's HEAD, or
        the existing one continued from its last commit. Leftovers of a crash are cleared."""
        path, branch = self.path_for(task_id, attempt), self.branch_for(task_id)
        await self._clear(path)
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        code, _, _ = await self._run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
        if code != 0:
            await self._git("worktree", "add", "-b", branch, "--", str(path), "HEAD")
            return path
        for other, held in await self._worktrees():
            if held == branch and other.parent == self.root:
                # An earlier attempt's worktree, kept or left by a crash: keep its files but
                # let go of the branch, which git allows in only one worktree at a time.
                await self._git("-C", str(other), "checkout", "--quiet", "--detach")
        await self._git("worktree", "add", "--", str(path), branch)
        return path

    async def remove(self, path: Path) -> None:
        """Remove an attempt's worktree (its branch stays); a path already gone is fine."""
        await self._clear(self._inside_root(path))

    async def listed(self) -> list[Path]:
        """Worktrees git knows of under root, and plain directories in root; never the main
        work tree nor a directory holding the project."""
        known = await self._worktrees()
        found = {p for p, _ in known if p.parent == self.root}
        found.update(await asyncio.to_thread(self._directories))
        main = known[0][0] if known else self.project
        return sorted(
            p for p in found if not (main.is_relative_to(p) or self.project.is_relative_to(p))
        )

    async def collect(self, keep: Collection[Path]) -> list[Path]:
        """Remove every worktree or directory in root that is not in `keep`; return those."""
        kept = {p.resolve() for p in keep}
        removed = [p for p in await self.listed() if p not in kept]
        for path in removed:
            await self._clear(path)
        return removed

    def _directories(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()]

    def _inside_root(self, path: Path) -> Path:
        resolved = path.parent.resolve() / path.name
        if resolved.parent != self.root or path.name in ("", ".", ".."):
            raise WorktreeError(f"{path} is not an attempt's worktree inside {self.root}")
        return resolved

    async def _clear(self, path: Path) -> None:
        # Fails harmlessly when git does not know the path; what is left is deleted by hand.
        await self._run("worktree", "remove", "--force", "--", str(path))
        await asyncio.to_thread(_delete, path)
        await self._git("worktree", "prune")

    async def _worktrees(self) -> list[tuple[Path, str | None]]:
        """(path, branch or None) of every worktree git knows of, the main one included."""
        found: list[tuple[Path, str | None]] = []
        for line in (await self._git("worktree", "list", "--porcelain")).splitlines():
            if line.startswith("worktree "):
                found.append((Path(line.removeprefix("worktree ")), None))
            elif line.startswith("branch refs/heads/") and found:
                found[-1] = (found[-1][0], line.removeprefix("branch refs/heads/"))
        return found

    async def _git(self, *args: str) -> str:
        code, out, err = await self._run(*args)
        if code != 0:
            lines = [line for line in err.splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit status {code}"
            raise WorktreeError(f"git {' '.join(args)} failed: {last}")
        return out.strip()

    async def _run(self, *args: str) -> tuple[int, str, str]:
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                "-C",
                str(self.project),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                **user_umask(),  # a worktree keeps git's modes
            )
            out, err = await process.communicate()
        except OSError as error:
            raise WorktreeError(f"cannot run git: {error.strerror or error}") from error
        assert process.returncode is not None
        return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")
