"""What the front ends (screen, headless runner, CLI, server) read through the coordinator
instead of reaching past it into the registry: the change feed, the log's newest id, a run,
the finished tasks page, the check at open, and pruning."""

from __future__ import annotations

from pathlib import Path

from control_room.domain import Run, Task
from control_room.domain import specs as check
from control_room.engine.prune import PruneReport, prune
from control_room.store import Registry
from control_room.store.feed import ChangeFeed


class FrontDoor:
    registry: Registry

    @property
    def feed(self) -> ChangeFeed:
        """Every committed event, from any process, in order: `subscribe(after)`, `watch(fn)`."""
        return self.registry.feed

    async def last_event_id(self) -> int:
        return await self.registry.last_event_id()

    async def get_run(self, agent_id: str) -> Run:
        return await self.registry.get_run(check.reference(agent_id, "agent_id"))

    async def recent_finished(self, before_event: int, limit: int) -> list[tuple[int, Task]]:
        """Finished tasks, newest first, by the event that finished them (before that id)."""
        return await self.registry.recent_finished(before_event, limit)

    async def verified(self) -> None:
        """Once the registry's check at open is done; StoreError if it found it corrupt."""
        await self.registry.verified()

    async def prune(
        self, runs_root: Path, worktrees_root: Path, older_than: float, *, dry_run: bool = False
    ) -> PruneReport:
        return await prune(self.registry, runs_root, worktrees_root, older_than, dry_run=dry_run)
