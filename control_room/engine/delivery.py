"""Delivery: an agent's work is committed on its task's branch, reviewed, merged and pushed.

- `collect`: at hand-in, and whenever an attempt ends, everything in the attempt's worktree is
  committed on the task's branch (`git add -A`, so .gitignore is respected) as the configured
  author, without hooks or signing, and the commit is recorded on the task and the run.
  What appears after a collected hand-in (files its checks left) is kept aside under
  refs/control-room/kept/, not on the branch.
- `diff`: the task's delivered commit against the commit its branch started from.
- `merge`: that commit into the base branch, never touching uncommitted work of the operator
  (engine/merging.py); recorded as the task's `merged_commit`, or a `merge_conflict`.
- `push`: the branch to the configured remote.

Every git call is an argv list with a time limit (engine/git.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from control_room.config import Settings
from control_room.domain import Conflict, ControlRoomError, Status, Task
from control_room.engine.git import Git, GitError
from control_room.engine.merging import NO_SIGNING, DirtyCheckout, merge_into
from control_room.engine.service import Coordinator
from control_room.store import delivery_ops

log = logging.getLogger(__name__)
ACTOR = "delivery"
MESSAGE_TEXT_MAX = 4_000
PUSH_SECONDS = 120.0
COLLECT_SECONDS = 300.0  # `git add --all` of a large worktree
HANDED_IN = (Status.VALIDATING, Status.COMPLETED)
BUSY = (Status.CLAIMED, Status.IN_PROGRESS, Status.VALIDATING)


class DeliveryError(Conflict):
    """A delivery step was refused or failed; nothing was changed."""

    code = "delivery"


class MergeConflict(DeliveryError):
    code = "merge_conflict"

    def __init__(self, message: str, files: tuple[str, ...]) -> None:
        super().__init__(message)
        self.files = files


@dataclass(frozen=True, slots=True)
class Merged:
    task: Task
    commit: str  # the merge commit now at the tip of the base branch
    already: bool = False  # the branch was merged before: nothing was done
    checkout: Path | None = None  # the checkout of the base branch that was updated


def identity(author: str) -> dict[str, str]:
    """GIT_AUTHOR_* and GIT_COMMITTER_* for 'Name <email>': no git identity of the user's is
    needed."""
    name, _, email = author.partition("<")
    name, email = name.strip(), email.rstrip(">").strip()
    return {
        "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email,
    }  # fmt: skip


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MESSAGE_TEXT_MAX else text[:MESSAGE_TEXT_MAX] + "\n[…]"


def commit_message(task: Task, why: str, summary: str = "") -> str:
    lines = [f"{task.id}: {_clip(task.title).splitlines()[0]}"]
    if summary.strip():
        lines += ["", _clip(summary)]
    lines += ["", f"Collected by Control Room ({why})."]
    return "\n".join(lines)


class Delivery:
    def __init__(
        self,
        coordinator: Coordinator,
        *,
        project: Path,
        worktrees_root: Path,
        author: str = "Control Room <control-room@localhost>",
        merge: str = "manual",
        remote: str = "origin",
    ) -> None:
        self.coordinator = coordinator
        self.project = project
        self.root = worktrees_root.resolve()
        self.env = identity(author)
        self.merge_mode = merge
        self.remote = remote
        self._merging = asyncio.Lock()  # one merge at a time: each starts from the last
        self._locks: dict[Path, asyncio.Lock] = {}  # one collection at a time per worktree

    @classmethod
    def from_settings(
        cls, coordinator: Coordinator, settings: Settings, project: Path, worktrees_root: Path
    ) -> Delivery:
        return cls(
            coordinator, project=project, worktrees_root=worktrees_root,
            author=settings.delivery_author, merge=settings.delivery_merge,
            remote=settings.delivery_remote,
        )  # fmt: skip

    # -- collecting the work -------------------------------------------------------------------

    def is_worktree(self, workdir: Path | str | None) -> bool:
        """Whether `workdir` is an attempt's worktree of Control Room's (not the project)."""
        if not workdir:
            return False
        path = Path(workdir)
        return path.parent.resolve() == self.root and path.is_dir()

    async def collect(
        self, workdir: Path, task_id: str, agent_id: str | None, ended: str | None = None
    ) -> Task:
        """Commit everything in `workdir` on its branch and record the commit. At hand-in
        (`ended` None, or the first collection of an attempt whose task it handed in) the
        commit becomes the task's and the run's; when an attempt ends without success
        (`ended`: how) its work is committed on the branch as the task's latest. After a
        collected hand-in, what appears in the worktree (files its checks left, writes after
        the hand-in) is kept aside instead (`_keep_aside`): the branch holds agents' work only."""
        lock = self._locks.setdefault(workdir, asyncio.Lock())
        async with lock:
            task = await self.coordinator.task(task_id)
            run = await self.coordinator.registry.get_run(agent_id) if agent_id else None
            handed_in = run is not None and task.status in HANDED_IN and task.agent_id == agent_id
            hand_in = ended is None or (handed_in and run is not None and run.commit_sha is None)
            why = "hand-in" if hand_in or run is None else f"attempt {run.attempt} {ended}"
            git = Git(workdir, COLLECT_SECONDS)
            files = len((await git("status", "--porcelain")).splitlines())
            if files and handed_in and not hand_in and run is not None:
                await self._keep_aside(git, task, run.agent_id, run.attempt, why)
                return await self.coordinator.task(task_id)
            if files:
                await git("add", "--all")
                message = commit_message(task, why, task.summary if hand_in else "")
                await git(*NO_SIGNING, "commit", "--quiet", "--no-verify", "-m", message,
                          env=self.env)  # fmt: skip
            sha = await git("rev-parse", "--verify", "HEAD^{commit}")
            on_task = hand_in or not handed_in
            if not files and sha in (task.commit_sha, task.base_commit):
                on_task = False  # nothing new: nothing to tell
            return await self.coordinator.registry.write(
                delivery_ops.record_commit, task.id, agent_id, sha, files, on_task, why
            )

    async def _keep_aside(
        self, git: Git, task: Task, agent_id: str, attempt: int, why: str
    ) -> None:
        """Save what the worktree holds beyond its commit as a commit under
        refs/control-room/kept/, then restore the worktree to its commit: nothing is lost, the
        branch stays as handed in, and the worktree can be removed."""
        await git("add", "--all")
        tree = await git("write-tree")
        head = await git("rev-parse", "--verify", "HEAD^{commit}")
        message = commit_message(task, f"{why}: not part of its hand-in")
        kept = await git(*NO_SIGNING, "commit-tree", tree, "-p", head, "-m", message, env=self.env)
        name = (task.branch or task.id).removeprefix("control-room/")
        ref = f"refs/control-room/kept/{name}-{attempt}"
        await git("update-ref", ref, kept)
        await git("reset", "--quiet", "--hard", head)
        await git("clean", "--quiet", "-d", "--force")  # not ignored files: those are not work
        await self.coordinator.note(
            "kept_aside", ACTOR,
            f"files that appeared after the hand-in ({why}) are kept as {ref} ({kept[:12]}), "
            f"not on {task.branch}",
            task_id=task.id, agent_id=agent_id, ref=ref, commit=kept,
        )  # fmt: skip

    async def collect_safely(
        self, workdir: Path, task_id: str, agent_id: str | None, ended: str | None = None
    ) -> None:
        """`collect`, for the engine's loops: a failure is logged as an event, the worktree is
        kept (it is never removed with uncommitted changes), and the loop goes on."""
        try:
            await self.collect(workdir, task_id, agent_id, ended)
        except (GitError, ControlRoomError) as error:
            log.warning("collecting %s failed: %s", workdir, error)
            text = getattr(error, "message", str(error))
            await self.coordinator.note(
                "commit_failed", ACTOR, f"the work in {workdir} was not committed: {text}",
                task_id=task_id, agent_id=agent_id,
            )  # fmt: skip

    # -- review ---------------------------------------------------------------------------------

    def _git(self, task: Task) -> Git:
        return Git(Path(task.repository) if task.repository else self.project)

    @staticmethod
    def branch_of(task: Task) -> tuple[str, str]:
        if not task.branch or not task.base_commit:
            raise DeliveryError(
                f"{task.id} has no branch: no agent of Control Room's has worked on it in a "
                "git worktree"
            )
        return task.branch, task.base_commit

    async def _tip(self, git: Git, ref: str, what: str) -> str:
        code, out, _ = await git.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if code != 0:
            raise DeliveryError(f"{what} does not exist in {git.cwd}")
        return out.strip()

    async def delivered(self, git: Git, task: Task) -> str:
        """The commit review and merge are about: the task's commit (collected at hand-in, the
        one its checks ran on; or the last attempt's), else the tip of its branch. What is
        committed on the branch after a hand-in (say, files its checks left) is kept there
        but not delivered."""
        branch, _ = self.branch_of(task)
        if task.commit_sha:
            found = await git.run(
                "rev-parse", "--verify", "--quiet", f"{task.commit_sha}^{{commit}}"
            )
            if found[0] == 0:
                return found[1].strip()
        return await self._tip(git, f"refs/heads/{branch}", f"the branch {branch}")

    async def diff(self, task: Task, *, stat: bool = False) -> str:
        """The task's delivered commit against the commit its branch started from, as
        `git diff` prints it (plain: the text is the agent's, so colour is added by whoever
        shows it, after its control characters are defused)."""
        _, base = self.branch_of(task)
        git = self._git(task)
        tip = await self.delivered(git, task)
        options = ["--no-color", "--no-ext-diff", "--no-textconv"]
        if stat:
            options += ["--stat", "--patch"]
        try:
            return await git("diff", *options, base, tip, "--")
        except GitError as error:
            raise DeliveryError(str(error)) from None

    # -- merging --------------------------------------------------------------------------------

    async def merge(
        self,
        task_id: str,
        actor: str = "operator",
        *,
        commit: str | None = None,
        epoch: int | None = None,
    ) -> Merged:
        """Merge the task's delivered commit (or `commit`) into its base branch. `epoch`: the merge
        on checks of a VALIDATING task, which a conflict sends back for another attempt."""
        task = await self.coordinator.task(task_id)
        branch, _ = self.branch_of(task)
        if epoch is None and task.status in BUSY:
            raise DeliveryError(f"{task.id} is {task.status}: merge it once its agent is done")
        if not task.base_branch:
            raise DeliveryError(
                f"{task.id} started from a detached HEAD ({(task.base_commit or '')[:12]}): "
                "there is no base branch to merge it into"
            )
        git = self._git(task)
        try:
            async with self._merging:
                return await self._merge(git, task, branch, task.base_branch, commit, actor, epoch)
        except GitError as error:
            raise DeliveryError(f"{task.id} was not merged: {error}") from None

    async def _merge(
        self,
        git: Git,
        task: Task,
        branch: str,
        base: str,
        commit: str | None,
        actor: str,
        epoch: int | None,
    ) -> Merged:
        commit = commit or await self.delivered(git, task)
        base_ref = f"refs/heads/{base}"
        base_tip = await self._tip(git, base_ref, f"the base branch {base}")
        code, _, _ = await git.run("merge-base", "--is-ancestor", commit, base_tip)
        if code == 0:
            if task.merged_commit is None:
                task = await self.coordinator.registry.write(
                    delivery_ops.record_merge, task.id, base_tip, commit, actor
                )
            return Merged(task, task.merged_commit or base_tip, already=True)
        message = f"Merge {branch} into {base}\n\n{commit_message(task, 'merge', task.summary)}"
        try:
            outcome = await merge_into(git, base, base_tip, commit, message, self.env)
        except DirtyCheckout as dirty:
            raise DeliveryError(
                f"{base} is checked out in {dirty.checkout} with uncommitted changes: commit or "
                f"stash them, then merge {task.id} again (nothing was changed)"
            ) from None
        if outcome.merged is None:
            await self._conflict(task, branch, base, outcome.conflicts, actor, epoch)
        task = await self.coordinator.registry.write(
            delivery_ops.record_merge, task.id, outcome.merged, commit, actor
        )
        return Merged(task, outcome.merged, checkout=outcome.checkout)

    async def _conflict(
        self,
        task: Task,
        branch: str,
        base: str,
        files: tuple[str, ...],
        actor: str,
        epoch: int | None,
    ) -> NoReturn:
        named = ", ".join(files)
        feedback = (
            f"Merging {branch} into {base} conflicts in: {named}. {base} changed since this "
            f"task's branch started; your worktree has the branch: merge {base} into it (or "
            "rework the change) so that it merges cleanly, then hand in again."
        )
        await self.coordinator.registry.write(
            delivery_ops.merge_conflict, task.id, files, actor, epoch, feedback
        )
        raise MergeConflict(
            f"{task.id}: {branch} conflicts with {base} in {named}; nothing was changed", files
        )

    async def merge_on_checks(self, task: Task) -> bool:
        """With merge = "on-checks": merge a VALIDATING task whose checks just passed, before
        its verdict. True when a conflict sent the task back (the verdict is settled); a merge
        refused for another reason is logged and the task completes unmerged."""
        if self.merge_mode != "on-checks" or not task.branch:
            return False
        current = await self.coordinator.task(task.id)
        if current.status is not Status.VALIDATING or current.epoch != task.epoch:
            return False
        run = None
        if current.agent_id:
            with contextlib.suppress(ControlRoomError):
                run = await self.coordinator.registry.get_run(current.agent_id)
        if run is None or not run.commit_sha or run.commit_sha != current.commit_sha:
            await self.coordinator.note(
                "merge_refused", ACTOR,
                f"{task.id} was not merged: its hand-in was not committed by Control Room",
                task_id=task.id,
            )  # fmt: skip
            return False
        try:
            await self.merge(task.id, ACTOR, commit=current.commit_sha, epoch=task.epoch)
        except MergeConflict:
            return True
        except ControlRoomError as error:
            await self.coordinator.note(
                "merge_refused", ACTOR, f"{task.id} was not merged: {error.message}",
                task_id=task.id,
            )  # fmt: skip
        return False

    # -- pushing --------------------------------------------------------------------------------

    async def push(self, task: Task, remote: str | None = None) -> str:
        """Push the task's branch to `remote` (default: the configured one); its name."""
        branch, _ = self.branch_of(task)
        remote = remote or self.remote
        git = self._git(task)
        await self._tip(git, f"refs/heads/{branch}", f"the branch {branch}")
        spec = f"refs/heads/{branch}:refs/heads/{branch}"
        code, _, err = await git.run("push", "--quiet", remote, spec, seconds=PUSH_SECONDS)
        if code != 0:
            lines = [line.strip() for line in err.splitlines() if line.strip()]
            raise DeliveryError(
                f"{task.id}: pushing {branch} to {remote} failed: "
                + (lines[-1] if lines else f"exit status {code}")
            )
        return remote
