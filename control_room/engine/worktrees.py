"""Git worktrees: one checkout per agent attempt, on a branch named after the task.

When the project directory is a git repository, each attempt at a task works in its own
`git worktree` under `<data dir>/worktrees`, on the branch `control-room/<slug of the task id>`.
The branch outlives the worktree, so a retry continues from the previous attempt's commits, and
validation checks run in the attempt's checkout. A worktree is removed only when it holds no
uncommitted changes (`git status --porcelain` is empty; ignored files do not count): one with
uncommitted work is kept, never forced away. Git runs through engine/git.py (argv, no prompts,
a time limit); its failures raise `WorktreeError` with git's last line.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import Collection
from pathlib import Path

from control_room.engine.git import Git, GitError, last_line

BRANCH_PREFIX = "control-room/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class WorktreeError(GitError):
    """A git command failed; the message ends with git's own last line of complaint."""


class Uncommitted(WorktreeError):
    """A worktree holds uncommitted changes: it is kept, not removed."""


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
        self.git = Git(self.project)

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

    async def start_point(self, task_id: str) -> tuple[str | None, str]:
        """(base branch, base commit) a task's branch starts from: the branch checked out in the
        project (None when its HEAD is detached) and its commit; for a branch that already
        exists, where it forked from that branch."""
        code, out, _ = await self._run("symbolic-ref", "--quiet", "--short", "HEAD")
        base = out.strip() if code == 0 and out.strip() else None
        head = await self._git("rev-parse", "--verify", "HEAD^{commit}")
        branch = self.branch_for(task_id)
        if await self.has_branch(task_id):
            code, out, _ = await self._run("merge-base", head, f"refs/heads/{branch}")
            if code == 0 and out.strip():
                return base, out.strip()
        return base, head

    async def has_branch(self, task_id: str) -> bool:
        ref = f"refs/heads/{self.branch_for(task_id)}"
        code, _, _ = await self._run("rev-parse", "--verify", "--quiet", ref)
        return code == 0

    async def create(self, task_id: str, attempt: int, start: str = "HEAD") -> Path:
        """Check out the task's branch at `path_for`: a new branch from `start`, or the existing
        one continued from its last commit. A crash's leftover at that path is cleared, or moved
        aside when it holds uncommitted changes."""
        path, branch = self.path_for(task_id, attempt), self.branch_for(task_id)
        await self._clear_leftover(path)
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        if not await self.has_branch(task_id):
            await self._git("worktree", "add", "-b", branch, "--", str(path), start)
            return path
        for other, held in await self._worktrees():
            if held == branch and other.parent == self.root:
                # An earlier attempt's worktree, kept or left by a crash: keep its files but
                # let go of the branch, which git allows in only one worktree at a time.
                await self._git("-C", str(other), "checkout", "--quiet", "--detach")
        await self._git("worktree", "add", "--", str(path), branch)
        return path

    async def remove(self, path: Path) -> None:
        """Remove an attempt's worktree (its branch stays); a path already gone is fine. One
        holding uncommitted changes is kept: `Uncommitted` says so."""
        await self._clear(self._inside_root(path))

    async def uncommitted(self, path: Path) -> list[str]:
        """`git status --porcelain` lines of a worktree: what a removal would lose."""
        code, out, err = await self.git.at(path).run("status", "--porcelain")
        if code != 0:
            raise WorktreeError(f"cannot tell whether {path} is committed: {last_line(err, '')}")
        return [line for line in out.splitlines() if line.strip()]

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
        """Remove every worktree or directory in root that is not in `keep` and holds nothing
        uncommitted; return those removed."""
        kept = {p.resolve() for p in keep}
        removed = []
        for path in await self.listed():
            if path in kept:
                continue
            try:
                await self._clear(path)
            except WorktreeError:
                continue  # uncommitted work, or git would not let go of it: kept
            removed.append(path)
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

    async def _registered(self, path: Path) -> bool:
        if not await asyncio.to_thread(path.is_dir):
            return False
        return any(p == path for p, _ in await self._worktrees())

    async def _clear(self, path: Path) -> None:
        """Remove a worktree only when it is committed (never --force: git itself refuses one
        with changes or untracked files); a directory git does not know as a worktree is
        deleted; a registration whose directory is gone is pruned."""
        if await asyncio.to_thread(path.is_dir):
            code, _, err = await self._run("worktree", "remove", "--", str(path))
            if code == 0:
                return
            if await self._registered(path):
                dirty = await self.uncommitted(path)
                if dirty:
                    raise Uncommitted(f"{path} has {len(dirty)} uncommitted change(s): kept")
                raise WorktreeError(f"cannot remove {path}: {last_line(err, f'exit {code}')}")
        await asyncio.to_thread(_delete, path)
        await self._git("worktree", "prune")

    async def _clear_leftover(self, path: Path) -> None:
        try:
            await self._clear(path)
        except Uncommitted:
            number = 1
            while (aside := path.with_name(f"{path.name}.kept-{number}")).exists():
                number += 1
            await self._git("worktree", "move", "--", str(path), str(aside))

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
        try:
            return await self.git(*args)
        except WorktreeError:
            raise
        except GitError as error:
            raise WorktreeError(str(error)) from None

    async def _run(self, *args: str) -> tuple[int, str, str]:
        try:
            return await self.git.run(*args)
        except GitError as error:
            raise WorktreeError(str(error)) from None
