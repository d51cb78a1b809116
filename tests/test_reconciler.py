"""The reconciler: runs left by a Control Room that ended are adopted or settled at start, and a
process whose run has ended is stopped. Real processes, a real registry, a real engine."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from control_room.engine import Coordinator, processes
from tests.engine_world import ended, engine_world, scripted, settings_with, status_is, wait_for
from tests.serving import running_server


def sleeper() -> subprocess.Popen[bytes]:
    """A stand-in agent process, leading its own process group like spawned agents do."""
    return subprocess.Popen(["sleep", "60"], start_new_session=True)


def finished_process() -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["true"])
    process.wait()
    return process


async def left_behind(c: Coordinator, folder: Path, pid: int | None) -> tuple[str, str]:
    """A claimed task and the live run of an agent whose Control Room is gone."""
    task = await c.add_task({"title": "left behind", "priority": "P2"})
    run, _ = await c.start_run(task.id, "scripted", "command", (), folder / "runs")
    if pid is not None:
        await c.run_process(run.agent_id, pid, processes.identity(pid), folder)
    await c.claim(run.agent_id, task.id)
    return task.id, run.agent_id


async def test_a_running_agent_is_adopted_and_settled_when_it_exits(tmp_path: Path) -> None:
    agent = sleeper()
    try:
        async with running_server(tmp_path / "before") as before:
            task_id, agent_id = await left_behind(before.coordinator, tmp_path, agent.pid)
            home = before.home
        async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
            c = world.coordinator
            kinds = [e.kind for e in await c.events(task_id=task_id)]
            assert kinds[-1] == "agent_adopted", kinds
            assert (await c.task(task_id)).status == "CLAIMED", "an adopted agent keeps its task"
            agent.kill()
            # Settled by the process watch, long before its lease (300 s) would expire.
            run = await wait_for(lambda: ended(c, agent_id), within=30, what="the release")
            assert "adopted" in run.outcome
            task = await c.task(task_id)
            assert (task.status, task.attempts) == ("AVAILABLE", 1)
    finally:
        agent.kill()
        agent.wait()


async def test_a_run_whose_process_is_gone_is_settled_at_start(tmp_path: Path) -> None:
    gone = finished_process()
    async with running_server(tmp_path / "before") as before:
        task_id, agent_id = await left_behind(before.coordinator, tmp_path, gone.pid)
        home = before.home
    started = time.monotonic()
    async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
        c = world.coordinator
        run = await c.registry.get_run(agent_id)
        assert not run.live and "was gone" in run.outcome
        task = await c.task(task_id)
        assert (task.status, task.attempts) == ("AVAILABLE", 1)
        assert time.monotonic() - started < 60, "at start, not at lease expiry (300 s)"


async def test_a_process_outliving_its_run_is_stopped(tmp_path: Path) -> None:
    orphan = sleeper()
    try:
        async with running_server(tmp_path / "before") as before:
            task_id, agent_id = await left_behind(before.coordinator, tmp_path, orphan.pid)
            await before.coordinator.end_run(agent_id, None, "exited", counts=False)
            home = before.home
        async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
            await wait_for(lambda: _poll(orphan), within=10, what="the orphan to stop")
            kinds = [e.kind for e in await world.coordinator.events(task_id=task_id)]
            assert "orphan_stopped" in kinds
    finally:
        orphan.kill()
        orphan.wait()


async def _poll(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


async def test_a_task_held_by_a_never_started_run_is_released(tmp_path: Path) -> None:
    async with running_server(tmp_path / "before") as before:
        task_id, agent_id = await left_behind(before.coordinator, tmp_path, None)
        home = before.home
    async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
        c = world.coordinator
        task = await status_is(c, task_id, "AVAILABLE")
        assert task is not None and task.attempts == 0, "no agent ran: no attempt counted"
        run = await c.registry.get_run(agent_id)
        assert not run.live and run.outcome.startswith("never started")


async def test_a_pid_without_a_known_identity_is_never_signalled(tmp_path: Path) -> None:
    stranger = sleeper()  # whoever has that pid now: not provably our agent
    try:
        async with running_server(tmp_path / "before") as before:
            c = before.coordinator
            task = await c.add_task({"title": "unknown process"})
            run, _ = await c.start_run(task.id, "scripted", "command", (), tmp_path / "runs")
            await c.run_process(run.agent_id, stranger.pid, None, tmp_path)
            home = before.home
        async with engine_world(tmp_path, settings_with(scripted("work")), home=home) as world:
            ended_run = await world.coordinator.registry.get_run(run.agent_id)
            assert "was gone" in ended_run.outcome
        assert stranger.poll() is None, "a process that may not be ours was left alone"
    finally:
        stranger.kill()
        stranger.wait()
