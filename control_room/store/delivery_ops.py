"""The registry's write operations for delivery: a task's branch, the commits collected from its
worktree, and its merge. Each runs inside one transaction of the writer, like store/ops.py.

Events: `branch_created` (the branch and where it started), `committed` (a commit collected
from an attempt's worktree), `merged` (the merge commit on the base branch), `merge_conflict`
(nothing merged; with an epoch, the task goes back for another attempt with the conflict as
feedback, like failed checks).
"""

from __future__ import annotations

from typing import Any

from control_room.domain import Task, attempts
from control_room.store import sql
from control_room.store.run_ops import get_run
from control_room.store.tx import Tx


def set_branch(
    tx: Tx, task_id: str, repository: str, branch: str, base_branch: str | None, base_commit: str
) -> Task:
    """Record where the task's branch started; only the first time (later calls change nothing)."""
    values = (repository, branch, base_branch, base_commit, task_id)
    if tx.conn.execute(sql.SET_BRANCH, values).rowcount:
        since = f"{base_branch} at {base_commit[:12]}" if base_branch else base_commit[:12]
        tx.log(
            "branch_created", "delivery", task_id=task_id, message=f"{branch} from {since}",
            branch=branch, base_branch=base_branch, base_commit=base_commit,
        )  # fmt: skip
    return tx.task(task_id)


def record_commit(
    tx: Tx, task_id: str, agent_id: str | None, sha: str, files: int, on_task: bool, why: str
) -> Task:
    """The commit an attempt's work was collected in: on its run (when there is one) and, with
    `on_task`, as the task's commit. Logged when files were committed or the task's commit
    changes."""
    task = tx.task(task_id)
    if agent_id is not None:
        get_run(tx, agent_id)  # it exists
        tx.conn.execute(sql.SET_RUN_COMMIT, (sha, agent_id))
    if on_task:
        tx.conn.execute(sql.SET_TASK_COMMIT, (sha, task_id))
    if files or (on_task and task.commit_sha != sha):
        what = f"{files} changed file(s) committed" if files else "the agent's own commits"
        tx.log(
            "committed", "delivery", task_id=task_id, agent_id=agent_id,
            message=f"{sha[:12]} on {task.branch or 'its branch'} ({why}: {what})",
            commit=sha, files=files,
        )  # fmt: skip
    return tx.task(task_id)


def record_merge(tx: Tx, task_id: str, merged: str, commit: str, actor: str) -> Task:
    task = tx.task(task_id)
    tx.conn.execute(sql.SET_MERGED, (merged, task_id))
    tx.log(
        "merged", actor, task_id=task_id,
        message=f"{task.branch} merged into {task.base_branch}: {merged[:12]}",
        merged_commit=merged, commit=commit, branch=task.branch, base_branch=task.base_branch,
    )  # fmt: skip
    return tx.task(task_id)


def merge_conflict(
    tx: Tx, task_id: str, files: tuple[str, ...], actor: str, epoch: int | None, feedback: str
) -> Task:
    """Log a conflict. With `epoch` (a VALIDATING task whose checks passed, merged on checks),
    the task goes back for another attempt, the conflict as its feedback."""
    before = tx.task(task_id)
    message = f"{before.branch} conflicts with {before.base_branch} in {', '.join(files)}"
    data: dict[str, Any] = {"files": list(files), "base_branch": before.base_branch}
    if epoch is None:
        tx.log("merge_conflict", actor, task_id=task_id, message=message, **data)
        return before
    return tx.apply(before, attempts.merge_conflict(before, epoch, feedback, message, data), actor)
