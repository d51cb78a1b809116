"""The validation runner: checks run as commands (no shell) with a time limit; verdicts stick."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from typing import Any

from control_room.domain import Status
from control_room.engine import Coordinator
from control_room.engine.validation import ValidationRunner, run_check
from control_room.engine.workspaces import Workspaces

PY = shlex.quote(sys.executable)


async def test_checks_pass_fail_and_time_out(tmp_path: Path) -> None:
    passed, output = await run_check(f"{PY} -c 'print(42)'", tmp_path, 10)
    assert passed and output.endswith("42\n(exit 0)")
    passed, output = await run_check(
        f"{PY} -c 'import sys; print(\"bad\"); sys.exit(3)'", tmp_path, 10
    )
    assert not passed and "bad" in output and "(exit 3)" in output
    passed, output = await run_check(f"{PY} -c 'import time; time.sleep(30)'", tmp_path, 0.5)
    assert not passed and "timed out after 0.5 s" in output
    passed, output = await run_check("no-such-program-here --x", tmp_path, 10)
    assert not passed and "cannot run it" in output
    passed, output = await run_check("echo 'unterminated", tmp_path, 10)
    assert not passed and "cannot parse" in output


async def test_shell_syntax_in_a_check_is_not_interpreted(tmp_path: Path) -> None:
    passed, output = await run_check("echo $HOME; touch hacked && rm -rf x | cat", tmp_path, 10)
    assert passed and "$HOME; touch hacked && rm -rf x | cat" in output
    assert not (tmp_path / "hacked").exists()


async def test_verdicts_complete_or_return_the_task_with_feedback(
    coordinator: Coordinator, new_agent: Any, tmp_path: Path
) -> None:
    good = await coordinator.add_task({"title": "good", "checks": [f"{PY} -c 'print(1)'"]})
    bad = await coordinator.add_task(
        {
            "title": "bad",
            "checks": [f"{PY} -c 'print(1)'", f"{PY} -c 'raise SystemExit(\"E assert 1 == 2\")'"],
        }
    )
    runner = ValidationRunner(coordinator, Workspaces(coordinator, tmp_path).dirs_of, timeout=30)
    for task in (good, bad):
        agent = await new_agent(task.title)
        claim = await coordinator.claim(agent, task.id)
        await coordinator.complete(task.id, agent, claim.lease.epoch, "done")
    await runner.step()
    await asyncio.wait_for(asyncio.gather(*runner._running.values()), 30)
    assert (await coordinator.task(good.id)).status is Status.COMPLETED
    returned = await coordinator.task(bad.id)
    assert (returned.status, returned.attempts) == (Status.AVAILABLE, 1)
    assert "E assert 1 == 2" in returned.feedback and "(exit 1)" in returned.feedback
    await runner.stop()
