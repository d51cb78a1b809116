"""What the screen's keys do (the BINDINGS live in tui/app.py): approve, reject, retry, cancel,
new task, edit a task, stop an agent, permissions, filter, details, diff, merge, stats, theme,
help, quit."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.theme import Theme

from control_room.domain import ControlRoomError, Task
from control_room.domain.text import one_line
from control_room.engine import Coordinator
from control_room.tui import (
    delivery,
    dialogs,
    figures,
    inbox,
    permissions,
    steer,
    task_edit,
    task_form,
)
from control_room.tui.panes import plain
from control_room.tui.report_pane import ReportPane

# What help says a key does to the work, where the footer's word is not enough.
HELP_TEXT = {
    "kill-agent": "Stop the selected live agent: its task goes back to the queue (routing "
    "starts a new agent at once for a P0/P1 task); only c stops the work",
    "cancel-task": "Cancel the selected task: its agent is stopped and nobody works on it",
    "retry": "Retry a FAILED or BLOCKED task with a fresh set of attempts",
    "ended-agents": "Show or hide the agents that ended (hidden 2 minutes after they end)",
    "filter": "Search the tasks (id, title, description; any status); empty shows all",
    "clear-filter": "Clear the filter: show all tasks again",
    "inbox": "The inbox: approvals, BLOCKED tasks, permission requests, plans (as a tree); "
    "a key answers each",
    "go": "Start an agent now for the selected AVAILABLE task, whatever its priority "
    "(within max_running: it starts when a place frees)",
    "edit-task": "Edit the selected task (not while an agent holds it): the task form, filled in",
    "stats": "The figures of control-room stats: tasks, auto share, first tries, times, cost",
}


# Keys as a person writes them where Textual shows a symbol or a short form.
WRITTEN = {"enter": "enter", "escape": "escape", "tab": "tab", "space": "space"}


class Actions(ReportPane):
    """Mixed into ControlRoomApp."""

    _themes: dict[str, Theme]
    _remember_theme: Callable[[str], None] | None

    def _task_id(self) -> str | None:
        task_id = self.tasks.selected()
        if task_id is None:
            self.notify("Select a task first.", severity="warning")
        return task_id

    async def _do(self, what: str, action: Callable[[Coordinator], Any]) -> None:
        if self.coordinator is None:
            return
        try:
            done = await action(self.coordinator)
        except ControlRoomError as error:  # say what did not happen, not what was meant to
            verb, _, rest = what.partition(" ")
            title = f"Not {verb.lower()}: {rest}" if rest else f"Not done: {what}"
            self.notify(
                one_line(error.message), title=one_line(title), severity="error", markup=False
            )
            return
        if isinstance(done, Task):  # shown at once; the event log follows with the same
            self.tasks.show([done])
        self.notify(what)

    async def action_approve(self) -> None:
        if task_id := self._task_id():
            await self._do(f"Approved {task_id}", lambda c: c.approve(task_id))

    @work(group="dialog")
    async def action_reject(self) -> None:
        if task_id := self._task_id():
            reason = await self.push_screen_wait(dialogs.Ask(f"Why reject {task_id}?"))
            if reason:
                await self._do(f"Rejected {task_id}", lambda c: c.reject(task_id, reason))

    async def action_go(self) -> None:
        if task_id := self._task_id():
            await self._do(f"Starting an agent for {task_id}", lambda c: c.go(task_id))

    @work(group="dialog")
    async def action_inbox(self) -> None:
        if self.coordinator is not None:
            await inbox.open_inbox(self, self.coordinator)

    async def action_retry(self) -> None:
        if task_id := self._task_id():
            await self._do(f"Retrying {task_id}", lambda c: c.retry(task_id))

    @work(group="dialog")
    async def action_cancel_task(self) -> None:
        task_id = self._task_id()
        if task_id is None:
            return
        confirmed: bool = await self.push_screen_wait(dialogs.Confirm(f"Cancel {task_id}?"))
        if confirmed:
            await self._do(f"Cancelled {task_id}", lambda c: c.cancel(task_id))

    @work(group="dialog")
    async def action_new_task(self) -> None:
        raw = await self.push_screen_wait(task_form.NewTask(self.tasks.tasks))
        if raw is not None:
            await self._do(f"Added {raw['title']!r}", lambda c: c.add_task(raw))

    @work(group="dialog")
    async def action_edit_task(self) -> None:
        if (task_id := self._task_id()) and self.coordinator is not None:
            saved = await task_edit.edit(self, self.coordinator, task_id, self.tasks.tasks)
            if saved is not None:
                self.tasks.show([saved])
                self.notify(f"Edited {saved.id}", markup=False)

    def action_stats(self) -> None:
        if self.coordinator is not None:
            self.push_screen(figures.StatsView(self.coordinator.stats))

    @work(group="dialog")
    async def action_kill_agent(self) -> None:
        agent_id = self.agents.selected()
        if agent_id is None or self.world is None:
            self.notify("Select an agent first.", severity="warning")
            return
        if agent_id not in self.agent_rows.live:
            self.notify(f"{agent_id} has already ended.", severity="warning")
            return
        name = self.agents.get_cell(agent_id, "name").plain
        task_id = self.agents.get_cell(agent_id, "task").plain
        doing = f" working on {task_id}" if task_id else " (no task)"
        question = f"Stop agent {name} ({agent_id}){doing}?"
        if task_id:
            question += f"\n{task_id} goes back to the queue; c cancels the task itself."
        if not await self.push_screen_wait(dialogs.Confirm(question)):
            return
        if await self.world.engine.stop_agent(agent_id, "was stopped by the operator"):
            self.notify(f"Stopped {name} ({agent_id})")
        else:  # an agent that joined by itself: its token stops working, its task comes back
            await self._do(f"Revoked {name} ({agent_id})", lambda c: c.revoke_agent(agent_id))
        await self.show_agents()

    async def action_ended_agents(self) -> None:
        self.agent_rows.all_ended = not self.agent_rows.all_ended
        await self.show_agents()
        self.notify("Showing every ended agent" if self.agent_rows.all_ended else
                    "Ended agents hide after 2 minutes")  # fmt: skip

    @work(group="dialog")
    async def action_say(self) -> None:
        """A message to the selected agent, or to the agent of the selected task."""
        if self.coordinator is not None:
            agent = self.agents.selected() if self.agents.has_focus else None
            await steer.say_to_agent(self, self.coordinator, agent or self.tasks.selected())

    @work(group="dialog")
    async def action_permissions(self) -> None:
        """The pending permission requests; a key answers the selected one."""
        if self.coordinator is not None:
            said = await permissions.ask_operator(self, self.coordinator, self.pending)
            if said:
                self.notify(said)

    @work(group="dialog")
    async def action_filter(self) -> None:
        needle = await self.push_screen_wait(
            dialogs.Ask("Show tasks containing (empty: all)", self.tasks.filter, required=False)
        )
        if needle is not None:
            await self.refilter(needle.strip())

    async def action_clear_filter(self) -> None:
        if self.tasks.filter:
            await self.refilter("")
            self.notify("Filter cleared")

    async def action_details(self) -> None:
        task_id = self._task_id()
        if task_id is None or self.coordinator is None:
            return
        task = await self.coordinator.task(task_id)
        head = one_line(f"{task.id}  {task.status}  {task.priority.long_name}  {task.type}")
        lines = [Text(head, style="bold")]
        lines.append(plain(task.title, 200))
        for label, value in (("description", task.description), ("reason", task.reason),
                             ("feedback", task.feedback), ("summary", task.summary)):  # fmt: skip
            if value:
                lines.append(Text(f"\n{label}:", style="bold"))
                lines.extend(plain(line, 200) for line in value.splitlines()[:40])
        lines.append(Text("\nhistory:", style="bold"))
        for event in await self.coordinator.events(task_id=task_id, limit=200):
            at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at))
            lines.append(plain(f"{at}  {event.kind:<16} by {event.actor}  {event.message}", 220))
        self.push_screen(dialogs.Details(lines))

    async def action_diff(self) -> None:
        if (task_id := self._task_id()) and self.world is not None:
            await delivery.show_diff(self, self.world.engine.delivery, task_id)

    @work(group="dialog")
    async def action_merge(self) -> None:
        if (task_id := self._task_id()) and self.world is not None:
            await delivery.merge(self, self.world.engine.delivery, task_id)

    def action_next_theme(self) -> None:
        names = list(self._themes) or [self.theme]
        at = names.index(self.theme) if self.theme in names else -1
        following = names[(at + 1) % len(names)]
        self.theme = following
        if self._remember_theme is not None:
            self._remember_theme(following)
        self.notify(f"Theme: {following}")

    def action_help(self) -> None:
        keys = []
        for binding in self.active_key_bindings():
            what = HELP_TEXT.get(binding.id or "", binding.description)
            typed = WRITTEN.get(binding.key, self.get_key_display(binding))
            keys.append((typed, f"{what}  [{binding.id}]"))
        self.push_screen(dialogs.Help(keys))

    def active_key_bindings(self) -> list[Binding]:
        raise NotImplementedError

    async def action_quit(self) -> None:
        if self.world is None:
            self.exit()
        else:
            self.notify("Stopping the agents and the server…")
            self.world.stop()  # the world worker exits the app once everything has stopped
