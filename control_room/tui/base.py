"""What the screen's parts share: the world it runs (put together above the screen, in
control_room/screen.py, so the screen never imports the server) and the app's panes, declared
once so the parts (tui/feed.py, tui/actions.py, tui/report_pane.py) can each be a small mixin."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from textual.app import App
from textual.widgets import RichLog, Static

from control_room.engine import Coordinator
from control_room.engine.engine import Engine
from control_room.tui import permissions
from control_room.tui.agent_rows import AgentRows
from control_room.tui.panes import AgentTable, DecisionTable, TaskTable


class World(Protocol):
    """What the screen runs: a coordinator, its engine, and a server at `url`."""

    coordinator: Coordinator
    engine: Engine
    url: str

    async def serve(self) -> None: ...
    def stop(self) -> None: ...


WorldOpener = Callable[[], contextlib.AbstractAsyncContextManager[World]]


class ScreenBase(App[None]):
    """The panes and the world; ControlRoomApp (tui/app.py) creates them."""

    world: World | None
    tasks: TaskTable
    agents: AgentTable
    decisions: DecisionTable
    report: RichLog
    status: Static
    pending: permissions.PendingPermissions
    agent_rows: AgentRows

    @property
    def coordinator(self) -> Coordinator | None:
        return self.world.coordinator if self.world else None

    def show_status(self) -> None:
        raise NotImplementedError

    async def refilter(self, needle: str) -> None:
        raise NotImplementedError

    async def show_agents(self) -> None:
        raise NotImplementedError
