"""Engines with the same host name on different machines or in different containers (PID
namespaces): a pid is checked only where it means something, so a live engine elsewhere is
never found gone because its pid is unknown here (which settled its runs, made it rejoin, and
burnt its tasks' attempts every few seconds: a newcomer's trial with `unshare --pid`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from control_room.engine import Coordinator
from control_room.engine.peers import Peers, machine_identity
from control_room.store import Registry, engine_ops
from tests.conftest import FakeClock


async def stopped(registry: Registry, engine_id: str) -> bool:
    engine = await registry.get_engine(engine_id)
    assert engine is not None
    return engine.stopped_at is not None


def _peers(c: Coordinator, clock: FakeClock, machine: str) -> Peers:
    return Peers(
        c, Path("/data/b"), "http://b", gone_seconds=10.0, host="beta", machine=machine,
        clock=clock,
    )  # fmt: skip


async def test_a_dead_pid_counts_only_for_an_engine_on_this_machine_and_namespace(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    ended = await asyncio.create_subprocess_exec("true")
    await ended.wait()  # a pid that names no process here
    peers = _peers(coordinator, clock, "boot-1/pid:[1]")
    await peers.register()
    registry = coordinator.registry

    async def other(engine_id: str, machine: str) -> str:
        found = await registry.write(
            engine_ops.register_engine, engine_id, "beta", ended.pid, "/x", "", machine
        )
        return found.id

    elsewhere = await other("E-container", "boot-1/pid:[2]")  # same host name, other namespace
    here = await other("E-here", "boot-1/pid:[1]")
    unknown = await other("E-unknown", "")  # recorded before machines were: the host name decides
    await peers.step()
    gone = {e: await stopped(registry, e) for e in (elsewhere, here, unknown)}
    assert gone == {elsewhere: False, here: True, unknown: True}
    for _ in range(2):  # it heartbeats as a live engine does: never gone
        clock.advance(4)
        assert await registry.write(engine_ops.heartbeat, elsewhere)
        await peers.step()
    assert not await stopped(registry, elsewhere)
    assert [e.kind for e in await coordinator.events()].count("engine_gone") == 0
    clock.advance(11)  # silent past gone_seconds: gone, as on any other machine
    await peers.step()
    assert await stopped(registry, elsewhere)


async def test_the_machine_is_recorded_and_read_back(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    peers = _peers(coordinator, clock, machine_identity())
    mine = await peers.register()
    (engine,) = await coordinator.registry.engines()
    assert (engine.id, engine.machine) == (mine, peers.machine)
    assert peers.here(engine)


def test_another_pid_namespace_is_another_machine() -> None:
    here = machine_identity()
    if not here:
        pytest.skip("no /proc here to tell machines apart")
    code = "from control_room.engine.peers import machine_identity; print(machine_identity())"
    try:
        inside = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except FileNotFoundError:
        pytest.skip("no unshare here")
    if inside.returncode != 0:
        pytest.skip(f"cannot make a PID namespace here: {inside.stderr.strip()}")
    there = inside.stdout.strip()
    assert there and there != here
    assert there.split("/")[0] == here.split("/")[0], "the same boot of the same machine"
