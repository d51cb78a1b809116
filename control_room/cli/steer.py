"""`control-room agent say ID TEXT`: the operator's message to a running claude-code agent (ID an
agent id, or the id of the task a live agent works on). The message is recorded in the registry
as a `said` event; the engine running the agent hands it over and shows it in the report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from control_room.engine import Coordinator


def add_parser(agents: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    say = command(agents, "say", "send a message to a running claude-code agent")
    say.add_argument("id", help="an agent id, or a task id of a running agent")
    say.add_argument("text", nargs="+", help="the message (words are joined with spaces)")


async def agent_say(coordinator: Coordinator, args: argparse.Namespace) -> int:
    run = await coordinator.say(args.id, " ".join(args.text))
    print(f"said to {run.agent_id} (task {run.task_id})")
    return 0
