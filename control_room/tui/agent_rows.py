"""Which agents the agents pane shows, as people see them: the live ones first (running, or
joined and idle), then the ones that ended, saying how (completed, released, killed, failed to
start, failed) from their run's outcome; an ended one is hidden after ENDED_SECONDS unless the
operator asked to see every ended one (a key)."""

from __future__ import annotations

from rich.text import Text

from control_room.domain import Agent, Run, Status, Task
from control_room.domain.models import AgentStatus
from control_room.engine import Coordinator
from control_room.tui.panes import ago, plain

ENDED_SECONDS = 120.0
RECENT_RUNS = 200
LIVE_LIMIT = 1000  # live agents read at once (the pane's first page)
Row = tuple[str, tuple[Text, ...]]


def how_it_ended(run: Run, task: Task | None = None) -> str:
    """A run's outcome (supervisor.describe_exit, the reconciler) in one word or two; a clean
    exit is "completed" when the task it worked on completed with it, else "released"."""
    outcome = run.outcome.lower()
    if "never started" in outcome or "could not start" in outcome or "failed to start" in outcome:
        return "failed to start"
    if "stopped" in outcome or "killed" in outcome or "revoked" in outcome:
        return "killed"
    if outcome.startswith("exited with code"):
        return "failed"
    done = task is not None and task.status is Status.COMPLETED and task.agent_id == run.agent_id
    return "completed" if done else "released"


def live_cells(a: Agent, now: float) -> tuple[Text, ...]:
    cost = "" if a.cost_usd is None else f"${a.cost_usd:.2f}"
    turns = "" if a.turns is None else str(a.turns)
    state = "running" if a.pid else ("working" if a.task_id else "idle")
    return (
        plain(a.name, 30), Text(state, style="bold green"), plain(a.task_id or "", 64),
        Text(turns), Text(cost), Text(ago(a.last_seen, now)), plain(a.runtime, 20),
    )  # fmt: skip


def ended_cells(run: Run, now: float, task: Task | None) -> tuple[Text, ...]:
    cost = "" if run.cost_usd is None else f"${run.cost_usd:.2f}"
    turns = "" if run.turns is None else str(run.turns)
    how = how_it_ended(run, task)
    style = "red" if how in ("failed", "failed to start") else "dim"
    return (
        plain(run.agent_type, 30), Text(how, style=style), plain(run.task_id, 64),
        Text(turns, style="dim"), Text(cost, style="dim"), Text(ago(run.ended_at, now)),
        plain(run.runtime, 20),
    )  # fmt: skip


class AgentRows:
    """Reads the agents pane's rows: live ones, then the recently ended ones."""

    def __init__(self) -> None:
        self.all_ended = False  # the operator's key shows every recent ended one
        self.live: set[str] = set()

    async def read(self, c: Coordinator, now: float, tasks: dict[str, Task]) -> list[Row]:
        page = await c.agent_page(AgentStatus.ACTIVE, None, LIVE_LIMIT)
        live = page.items
        self.live = {a.id for a in live}
        shown: list[Row] = [(a.id, live_cells(a, now)) for a in live]
        runs = await c.runs(limit=RECENT_RUNS)
        for run in reversed(runs):  # the newest ended first
            if run.agent_id in self.live or run.ended_at is None:
                continue
            if self.all_ended or now - run.ended_at < ENDED_SECONDS:
                shown.append((run.agent_id, ended_cells(run, now, tasks.get(run.task_id))))
        return shown
