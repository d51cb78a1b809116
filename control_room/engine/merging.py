"""Merging one commit into a branch without touching anyone's uncommitted work (git >= 2.38).

The merge is computed without a working tree (`git merge-tree --write-tree`): a conflict
changes nothing and names the files. The merge commit (`git commit-tree`, two parents) then
becomes the branch's tip: by a fast-forward of the checkout where the branch is checked out
(refused beforehand when that checkout has uncommitted changes to tracked files; git itself
refuses, changing nothing, rather than overwrite an untracked file), else by `git update-ref`
against the expected old tip, so a concurrent move of the branch is never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from control_room.engine.git import Git, GitError

NO_SIGNING = ("-c", "commit.gpgsign=false")


class DirtyCheckout(GitError):
    """The branch is checked out with uncommitted changes: nothing was merged."""

    def __init__(self, branch: str, checkout: Path) -> None:
        super().__init__(f"{branch} is checked out in {checkout} with uncommitted changes")
        self.checkout = checkout


@dataclass(frozen=True, slots=True)
class Outcome:
    merged: str | None  # the merge commit, now the branch's tip; None on a conflict
    checkout: Path | None = None  # the checkout of the branch, moved with it
    conflicts: tuple[str, ...] = ()  # the files in conflict (nothing was changed)


async def checkout_of(git: Git, branch: str) -> Path | None:
    """The worktree (the main one or another) where `branch` is checked out, if any."""
    path: Path | None = None
    for line in (await git("worktree", "list", "--porcelain")).splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree "))
        elif line == f"branch refs/heads/{branch}" and path is not None:
            return path
    return None


async def merge_into(
    git: Git, branch: str, tip: str, commit: str, message: str, env: Mapping[str, str]
) -> Outcome:
    """Merge `commit` into `branch`, whose tip is `tip`, as a merge commit by `env`'s identity."""
    checkout = await checkout_of(git, branch)
    dirty = checkout and await git.at(checkout)("status", "--porcelain", "--untracked-files=no")
    if checkout is not None and dirty:
        raise DirtyCheckout(branch, checkout)
    code, out, err = await git.run(
        "merge-tree", "--write-tree", "--name-only", "--no-messages", tip, commit
    )
    if code == 1:
        files = tuple(dict.fromkeys(line for line in out.splitlines()[1:] if line.strip()))
        return Outcome(None, checkout, files or ("(unnamed files)",))
    if code != 0:
        raise GitError(f"git merge-tree failed: {err.strip() or out.strip()}")
    tree = out.splitlines()[0].strip()
    merged = await git(
        *NO_SIGNING, "commit-tree", tree, "-p", tip, "-p", commit, "-m", message, env=env
    )
    if checkout is not None:
        # A fast-forward of the clean checkout to the merge commit: files and branch move
        # together, and git refuses (changing nothing) if it would overwrite a file.
        await git.at(checkout)("merge", "--ff-only", "--quiet", merged, env=env)
    else:
        await git("update-ref", "-m", f"control-room: merge into {branch}", f"refs/heads/{branch}",
                  merged, tip, env=env)  # fmt: skip
    return Outcome(merged, checkout)
