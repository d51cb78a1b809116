"""The screen's side of steering a live agent: the `say` key asks for a message and sends it to
the selected agent (or the agent working on the selected task). What cannot take a message (a
command agent, an agent that ended, a task nobody works on) is refused before anything is typed.
The engine hands the message to the agent and writes it into the report the pane shows."""

from __future__ import annotations

from typing import Any

from textual.app import App

from control_room.domain import ControlRoomError
from control_room.engine import Coordinator
from control_room.engine.steering import target_run
from control_room.tui.dialogs import Ask


def _refused(app: App[Any], message: str) -> None:
    app.notify(" ".join(message.split()), title="Not sent", severity="error", markup=False)


async def say_to_agent(app: App[Any], coordinator: Coordinator, target: str | None) -> str | None:
    """Ask for a message for `target` (an agent id or a task id) and send it; the notice shown,
    or None when nothing was sent."""
    if target is None:
        app.notify("Select an agent or its task first.", severity="warning")
        return None
    try:
        run = await target_run(coordinator, target)
    except ControlRoomError as error:
        _refused(app, error.message)
        return None
    question = f"Message to agent {run.agent_id} (task {run.task_id}); empty: cancel"
    text = await app.push_screen_wait(Ask(question, required=False))
    if not text:
        return None
    try:
        await coordinator.say(run.agent_id, text)
    except ControlRoomError as error:  # it ended while the message was typed
        _refused(app, error.message)
        return None
    notice = f"Said to {run.agent_id}"
    app.notify(notice)
    return notice
