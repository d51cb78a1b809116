"""Each runtime started by the engine itself: claude-code (the real CLI), anthropic (the real
SDK), both against the scripted Messages API; and the command runtime in a git worktree."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from control_room.domain.routing import AgentType
from tests import test_anthropic_runtime, test_claude_code
from tests.engine_world import ended, engine_world, scripted, settings_with, status_is, wait_for
from tests.fake_anthropic import scripted_model


@pytest.fixture
def model_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")


@pytest.mark.usefixtures("model_env")
async def test_the_engine_runs_claude_code_to_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = AgentType("coder", "claude-code")
    settings = replace(settings_with(kind), claude_binary=str(test_claude_code.CLAUDE))
    with scripted_model(test_claude_code.work_script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with engine_world(tmp_path, settings) as world:
            c = world.coordinator
            task = await c.add_task({"title": "Spawned by the engine", "priority": "P0"})
            done = await wait_for(
                lambda: status_is(c, task.id, "COMPLETED"), within=120, what="COMPLETED"
            )
            (run,) = await c.runs()
            run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
    assert done.summary == "Built it"
    assert (run.runtime, run.exit_code) == ("claude-code", 0)
    assert run.turns == 4 and run.cost_usd is not None, "turns and cost from the result event"
    assert any("Spawned by the engine" in json.dumps(r) for r in model.requests)


@pytest.mark.usefixtures("model_env")
async def test_the_engine_runs_the_anthropic_runtime_to_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = AgentType("planner", "anthropic", ("architecture",), model="claude-sonnet-5-5")
    with scripted_model(test_anthropic_runtime.work_script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with engine_world(tmp_path, settings_with(kind)) as world:
            c = world.coordinator
            task = await c.add_task(
                {"title": "Plan it", "type": "architecture", "capabilities": ["architecture"]}
            )
            await wait_for(lambda: status_is(c, task.id, "AWAITING_APPROVAL"))
            await c.approve(task.id)
            done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
            (run,) = await c.runs()
            run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
    assert done.summary == "Designed it"
    assert (run.runtime, run.pid, run.exit_code, run.turns) == ("anthropic", None, 0, 4)
    assert run.cost_usd == pytest.approx(4 * test_anthropic_runtime.TURN_COST)


def git(*args: str, cwd: Path) -> str:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


async def test_each_attempt_works_in_its_own_worktree_where_its_checks_run(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git("init", "-q", cwd=project)
    (project / "README.md").write_text("hello\n")
    git("add", ".", cwd=project)
    git("commit", "-qm", "start", cwd=project)
    settings = replace(settings_with(scripted("echo")), worktrees=True)
    check = f"{sys.executable} -c \"import pathlib; assert pathlib.Path('work.txt').exists()\""
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task({"title": "In a worktree", "priority": "P0", "checks": [check]})
        await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        (run,) = await c.runs()
        run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
        received = json.loads((world.run_dir(task.id, 1) / "received.json").read_text())
        worktree = world.server.home.worktrees.resolve() / f"{task.id}-1"
        assert received["cwd"] == str(worktree) == run.workdir
        assert not (project / "work.txt").exists(), "the agent did not write in the project"
        await wait_for(lambda: _gone(worktree), what="cleanup after completion")
    assert git("branch", "--list", f"control-room/{task.id}", cwd=project)
    assert git("status", "--porcelain", cwd=project) == "", "the project itself is untouched"


async def _gone(path: Path) -> bool:
    return not await asyncio.to_thread(path.exists)
