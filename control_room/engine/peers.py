"""This engine among the others sharing its registry (several control rooms, one queue).

At start the engine registers in the registry (`engines`: host, pid, data directory) and from
then on heartbeats every few seconds (engine-heartbeat loop); a clean stop marks it stopped.
An engine that stopped, that has been silent for longer than `gone_seconds`, or whose process
is gone on this very host (the same machine and PID namespace: a host name alone may be
shared by several machines or containers), is gone: the heartbeat loop marks it so (event
`engine_gone`) and wakes the reconciler, which settles its runs as it settles its own dead
ones. The runs of a live other engine are never touched.

Silence is measured on the registry's clock (the database server's on PostgreSQL: the heartbeats
are stamped with it, store/engine_ops.py), so hosts whose clocks disagree do not see each other
as gone, or alive forever: each heartbeat answers the registry's time, and the engine judges by
its own clock corrected by the difference (`now`).

An engine that finds itself marked gone (it was frozen longer than `gone_seconds`, and another
settled its runs) stops the agents it still watches (their tokens are already revoked) and
registers again under a new id.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from control_room.domain import ControlRoomError, NotFound, Run, Task
from control_room.domain.engines import EngineInfo, heartbeat_seconds, silent
from control_room.engine import processes
from control_room.engine.loops import Loop
from control_room.engine.service import Coordinator
from control_room.store import engine_ops

log = logging.getLogger(__name__)


def new_engine_id() -> str:
    return "E-" + secrets.token_hex(4)


def machine_identity() -> str:
    """Where a pid names the same process: this boot of this machine and this PID namespace
    ("" where Linux's /proc does not say). Two machines or containers may share a host name."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot}/{namespace}"


class Peers:
    def __init__(
        self,
        coordinator: Coordinator,
        data_dir: Path,
        url: str,
        *,
        gone_seconds: float,
        host: str | None = None,
        machine: str | None = None,
        clock: Callable[[], float] = time.time,
        on_others_gone: Callable[[], None] = lambda: None,
        on_lost: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.data_dir = str(data_dir)
        self.url = url
        self.gone_seconds = gone_seconds
        self.host = host or socket.gethostname()
        self.machine = machine_identity() if machine is None else machine
        self.clock = clock
        self.on_others_gone = on_others_gone  # wakes the reconciler
        self.on_lost = on_lost  # this engine was found gone: stop what it still watches
        self.engine_id: str | None = None
        self.known: dict[str, EngineInfo] = {}  # the engines with live runs, as last read
        self.skew: float | None = None  # the registry's clock minus this one's, as last seen
        self.loop = Loop("engine-heartbeat", heartbeat_seconds(gone_seconds), self.step)

    async def register(self) -> str:
        engine = await self.coordinator.registry.write(
            engine_ops.register_engine,
            new_engine_id(),
            self.host,
            os.getpid(),
            self.data_dir,
            self.url,
            self.machine,
        )
        self.engine_id = self.coordinator.engine_id = engine.id
        self._seen(engine.started_at)
        return engine.id

    async def stopped(self) -> None:
        if self.engine_id is not None:
            await self.coordinator.registry.write(engine_ops.stopped, self.engine_id)

    def now(self) -> float:
        """The registry's time, by this clock and the difference last seen."""
        return self.clock() + (self.skew or 0.0)

    def _seen(self, registry_time: float) -> None:
        self.skew = registry_time - self.clock()

    async def _sync(self) -> None:
        """Learn the registry's clock, if no heartbeat told it yet (`serve`, which does not
        heartbeat, asks once)."""
        if self.skew is None:
            with contextlib.suppress(ControlRoomError):
                self._seen(await self.coordinator.registry.registry_time())

    def gone(self, engine: EngineInfo) -> str | None:
        """Why `engine` counts as gone, or None while it runs."""
        if engine.id == self.engine_id:
            return None
        if engine.stopped_at is not None:
            return "stopped"
        if silent(engine, self.now(), self.gone_seconds):
            return f"silent for more than {self.gone_seconds:g} s"
        if self.here(engine) and not processes.alive(engine.pid):
            return f"its process {engine.pid} on {engine.host} has ended"
        return None

    async def step(self) -> None:
        """Heartbeat; then mark the engines that are gone, waking the reconciler for them."""
        registry = self.coordinator.registry
        beat = None
        if self.engine_id is not None:
            beat = await registry.write(engine_ops.heartbeat, self.engine_id)
        if beat is not None:
            self._seen(beat)
        elif self.engine_id is not None:
            lost = self.engine_id
            log.warning("engine %s was found gone by another engine: registering again", lost)
            if self.on_lost is not None:
                await self.on_lost()
            await self.register()
            await self.coordinator.note(
                "engine_rejoined", "engine",
                f"engine {lost} had been found gone; it stopped its agents and runs on as "
                f"{self.engine_id}", engine_id=self.engine_id, was=lost,
            )  # fmt: skip
        woke = False
        for engine in await registry.engines():
            why = self.gone(engine)
            if why is None:
                continue
            # Marked only if it has not heartbeat since read (silent), or at all (process ended).
            quiet = silent(engine, self.now(), self.gone_seconds)
            before = engine.seen_at + 1e-6 if quiet else self.now() + 1
            woke = (
                await registry.write(engine_ops.found_gone, engine.id, before, why, self._name())
                or woke
            )
        if woke:  # the reconciler settles their runs (it finds none if they had none)
            self.on_others_gone()

    def _name(self) -> str:
        return f"engine {self.engine_id}" if self.engine_id else "engine"

    async def validates(self, task: Task) -> bool:
        """Whether this engine runs the checks of a handed-in task: the one whose agent handed
        it in (its working directory is there); when no live engine started that agent (an
        outside agent, or its engine is gone), the longest-running live engine."""
        registry = self.coordinator.registry
        await self._sync()
        run: Run | None = None
        if task.agent_id:
            with contextlib.suppress(NotFound):
                run = await registry.get_run(task.agent_id)
        if run is not None and run.engine_id is not None:
            if run.engine_id == self.engine_id:
                return True
            owner = await registry.get_engine(run.engine_id)
            if owner is not None and self.gone(owner) is None:
                return False
        live = [e for e in await registry.engines() if self.gone(e) is None]
        first = min(live, key=lambda e: (e.started_at, e.id), default=None)
        return first is None or first.id == self.engine_id

    async def refresh(self) -> None:
        """Read the engines that have live runs (the reconciler's step begins with it)."""
        try:
            found = await self.coordinator.registry.engines(running_runs=True)
        except ControlRoomError:
            return
        self.known = {e.id: e for e in found}

    def owner(self, run: Run) -> EngineInfo | None:
        return self.known.get(run.engine_id) if run.engine_id else None

    def watched_elsewhere(self, run: Run) -> bool | None:
        """Whether a live other engine watches `run`; None when the run names no engine
        this one knows (a run from before engines were recorded: the caller decides)."""
        if run.engine_id is None:
            return None
        if run.engine_id == self.engine_id:
            return False
        engine = self.known.get(run.engine_id)
        if engine is None:
            return None
        return self.gone(engine) is None

    def on_this_host(self, run: Run) -> bool:
        """Whether the run's process ran on this machine (so its pid means something here)."""
        engine = self.owner(run)
        return engine is None or self.here(engine)

    def same_home(self, run: Run) -> bool:
        """Whether the run was started from this engine's own data directory on this host (an
        earlier engine of this control room: its agents may be adopted, its worktree is here)."""
        engine = self.owner(run)
        return engine is None or (self.here(engine) and engine.data_dir == self.data_dir)

    def here(self, engine: EngineInfo) -> bool:
        """Whether `engine`'s pids name processes here: its host name is this one's, and so is
        its machine and PID namespace where both are known (an engine on another machine, or
        in another container, with the same host name is not here)."""
        if engine.host != self.host:
            return False
        return not (engine.machine and self.machine) or engine.machine == self.machine
