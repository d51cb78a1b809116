"""Plain-text and JSON renderings of tasks, agents and events for the terminal."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from typing import Any

from control_room.domain import Agent, Event, Task
from control_room.domain.counters import finished_at, tries
from control_room.domain.stats_text import duration as duration  # written once, there
from control_room.domain.text import json_text, printable

# Text from agents is untrusted: domain/text.py decides what reaches the terminal raw.


def as_json(data: Any) -> str:
    return json_text(data, indent=2)


def json_line(data: Any) -> str:
    return json_text(data)


def clock(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"


def ago(at: float | None, now: float) -> str:
    if not at:
        return "never"
    return f"{duration(now - at)} ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns; the last column is cut to the terminal width."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    width = shutil.get_terminal_size((120, 24)).columns
    room = max(20, width - sum(w + 2 for w in widths[:-1]))
    lines = []
    for cells in (headers, *rows):
        head = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False))
        last = cells[-1] if len(cells[-1]) <= room else cells[-1][: room - 1] + "…"
        lines.append(f"{head}  {last}".rstrip())
    return printable("\n".join(lines))


def done_cell(t: Task, now: float | None = None) -> str:
    """DONE: the progress of a task under way, when a finished one finished (the time of day
    if today, else the date)."""
    if t.status == "IN_PROGRESS":
        return f"{t.progress}%"
    at = finished_at(t)
    if at is None:
        return ""
    today = time.strftime("%Y%m%d", time.localtime(now)) == time.strftime(
        "%Y%m%d", time.localtime(at)
    )
    return time.strftime("%H:%M:%S" if today else "%Y-%m-%d", time.localtime(at))


def task_table(tasks: Sequence[Task]) -> str:
    rows = [
        (
            t.id,
            str(t.priority),
            t.type,
            str(t.status),
            done_cell(t),
            f"{tries(t)}/{t.max_attempts}",
            t.agent_id or "",
            t.title,
        )
        for t in tasks
    ]
    headers = ("ID", "PRI", "TYPE", "STATUS", "DONE", "TRIES", "AGENT", "TITLE")
    return table(headers, rows)


def task_details(task: Task, events: Sequence[Event], now: float, note: str = "") -> str:
    t = task
    lines = [f"{t.id}  {t.title}"]

    def field(name: str, value: str) -> None:
        if value:
            lines.append(f"  {name:<13}{value}")

    field("status", f"{t.status}" + (f": {t.reason}" if t.reason else ""))
    field("waiting", note)
    field("priority", t.priority.long_name)
    field("type", t.type + ("  (manual: waits for a human-started agent)" if t.manual else ""))
    field("project", t.project)
    field("attempts", f"{tries(t)} of {t.max_attempts} begun ({t.attempts} failed)")
    field("capabilities", ", ".join(t.capabilities))
    field("depends on", ", ".join(t.depends_on))
    if t.lease:
        left = t.lease.expires_at - now
        expiry = f"expires in {duration(left)}" if left > 0 else f"expired {duration(-left)} ago"
        field("lease", f"{t.lease.agent_id}, epoch {t.lease.epoch}, {expiry}")
    elif t.agent_id:
        field("agent", t.agent_id)
    if t.status in ("IN_PROGRESS", "CLAIMED"):
        field("progress", f"{t.progress}%" + (f"  {t.note}" if t.note else ""))
    field("summary", t.summary)
    field("files", ", ".join(t.files))
    field("hours", f"{t.hours:g}" if t.hours is not None else "")
    if t.branch:
        since = f"{t.base_branch} at " if t.base_branch else ""
        field("branch", f"{t.branch} (from {since}{(t.base_commit or '')[:12]})")
    field("commit", t.commit_sha or "")
    field("merged", f"{t.merged_commit} into {t.base_branch}" if t.merged_commit else "")
    field("created", f"{clock(t.created_at)} by {t.created_by}")
    for title, items in (("criteria", t.criteria), ("checks", t.checks)):
        if items:
            lines.append(f"  {title}:")
            lines.extend(f"    - {item}" for item in items)
    if t.description:
        lines.append("  description:")
        lines.extend(f"    {line}" for line in t.description.splitlines())
    if t.feedback:
        lines.append("  feedback from the last checks:")
        lines.extend(f"    {line}" for line in t.feedback.splitlines()[-20:])
    if events:
        lines.append("  history:")
        lines.extend(f"    {event_line(e, with_task=False)}" for e in events)
    return printable("\n".join(lines))


def event_line(e: Event, *, with_task: bool = True) -> str:
    move = f"{e.from_status or ''}→{e.to_status}" if e.to_status else ""
    parts = [f"{e.id:>6}", clock(e.at)]
    if with_task:
        parts.append(f"{e.task_id or '-':<10}")
    parts += [f"{e.kind:<16}", f"{move:<26}", f"by {e.actor}"]
    if e.message:
        parts.append(f"- {e.message.splitlines()[0][:120]}")
    return printable("  ".join(parts))


def agent_table(agents: Sequence[Agent], now: float) -> str:
    hosts = any(a.host for a in agents)  # control rooms sharing a registry: which one runs it
    rows = [
        (
            a.id,
            a.name,
            a.runtime,
            str(a.status),
            a.task_id or "",
            ago(a.last_seen, now),
            "" if a.turns is None else str(a.turns),
            "" if a.cost_usd is None else f"${a.cost_usd:.2f}",
            *((a.host or "",) if hosts else ()),
            ", ".join(a.capabilities),
        )
        for a in agents
    ]
    headers = (
        "ID", "NAME", "RUNTIME", "STATUS", "TASK", "LAST SEEN", "TURNS", "COST",
        *(("HOST",) if hosts else ()), "CAPABILITIES",
    )  # fmt: skip
    return table(headers, rows)
