"""The data directory is private: the directory 0700 and every file Control Room writes in it
0600 (task text, agent reports, prompts, tokens, the registry), whatever the user's umask.

Control Room's own process runs with umask 077, so everything it creates (SQLite's -wal and
-shm take the registry's mode) is private. The processes that work on the project (agents,
git, checks) get the user's own umask back: a worktree is the project's files and keeps git's
modes. What an earlier version (or a copy) left readable is made private at start, with a
warning.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

_user_umask: int | None = None


def private_umask() -> None:
    """From now on this process creates files 0600 and folders 0700 (idempotent)."""
    global _user_umask
    if _user_umask is None:
        _user_umask = os.umask(0o077)


def project_umask() -> int:
    """The umask for processes that work on the project: the user's own."""
    if _user_umask is not None:
        return _user_umask
    current = os.umask(0o077)
    os.umask(current)
    return current


def user_umask() -> dict[str, Any]:
    """Options for `asyncio.create_subprocess_exec` giving the child the user's umask: `umask=`
    (which keeps CPython's fast vfork spawn) on the standard event loop, a `preexec_fn` that
    only sets the umask on uvloop, which has no `umask=`."""
    mask = project_umask()
    if type(asyncio.get_running_loop()).__module__.startswith("asyncio"):
        return {"umask": mask}
    return {"preexec_fn": lambda: os.umask(mask)}


def make_private(root: Path, *, deep: bool = True) -> int:
    """Take the group's and others' rights away from `root` and what Control Room keeps in
    it (not worktrees/, not through symlinks); `deep`: every run folder too, else the top
    level only. How many paths changed."""
    if not root.is_dir():
        return 0
    changed = _tighten(root)
    for path in _inside(root, deep):
        changed += _tighten(path)
    return changed


def _inside(root: Path, deep: bool) -> list[Path]:
    found = []
    for top in root.iterdir():
        if top.name == "worktrees" or top.is_symlink():
            continue
        found.append(top)
        if deep and top.is_dir():
            for folder, dirs, files in os.walk(top):
                found += [Path(folder, name) for name in (*dirs, *files)]
    return found


def _tighten(path: Path) -> int:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return 0
        path.chmod(stat.S_IMODE(mode) & 0o700)
    except OSError:
        return 0  # not ours, or gone: nothing we can or need to do
    return 1
