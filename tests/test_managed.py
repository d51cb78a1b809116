"""Managed command agents: Control Room claims for them before they start, keeps their lease while
they run, hands in on exit 0 and releases with the reason otherwise. Real processes (the agent
in tests/managed_agent.py knows nothing of Control Room), a real server, real git worktrees."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from control_room.domain import Status
from control_room.domain.routing import AgentType
from control_room.engine import Coordinator, processes
from control_room.engine.managed import clean_output, output_tail
from control_room.engine.prompt import BEGIN, build_prompt
from tests.engine_world import ended, engine_world, settings_with, status_is, wait_for
from tests.serving import running_server
from tests.test_reconciler import sleeper
from tests.test_routing import task
from tests.test_worktrees import commit_file, git

AGENT = Path(__file__).with_name("managed_agent.py")


def managed(mode: str, seconds: float = 0.0) -> AgentType:
    argv = (sys.executable, str(AGENT), mode, "{prompt_file}", str(seconds))
    return AgentType("managed", "command", (), argv, prompt_via="file", managed=True)


def _repo(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    commit_file(project, "README.md", "hello\n")
    return project


def test_output_is_cleaned_of_terminal_control_sequences(tmp_path: Path) -> None:
    raw = (
        "\x1b[1mbold\x1b[0m line\r\n"
        "progress 10%\rprogress 99%\n\n   \n"
        "\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\ \x1b]0;title\x07and\x07 bell\n"
        "\x1b[2K\x1b[1Gcleared\x1b(B\ttab\x00\n"
    )
    assert clean_output(raw) == ["bold line", "progress 99%", "link and bell", "cleared\ttab"]
    report = tmp_path / "report.log"
    report.write_text("".join(f"line {n}\n" for n in range(100)))
    assert output_tail(report, lines=3) == "line 97\nline 98\nline 99"
    assert output_tail(report, lines=100, limit=20).startswith("…")
    assert len(output_tail(report, lines=100, limit=20)) == 20
    assert output_tail(tmp_path / "missing.log") == ""


def test_the_managed_prompt_describes_the_task_without_tool_calls() -> None:
    text = build_prompt(task(title="Fix the greeting"), managed=True)
    assert "claimTask" not in text and "completeTask" not in text and "MCP" not in text
    assert "when you exit, your work is collected" in text
    assert BEGIN in text and '"title": "Fix the greeting"' in text
    assert "claimTask" in build_prompt(task(title="Fix the greeting"))


async def test_a_managed_agent_that_exits_1_releases_with_its_exit_and_output(
    tmp_path: Path,
) -> None:
    settings = settings_with(managed("fail"))
    async with engine_world(tmp_path, settings) as world:
        c = world.coordinator
        task = await c.add_task({"title": "Will fail", "priority": "P1", "max_attempts": 1})
        failed = await wait_for(lambda: status_is(c, task.id, "FAILED"), what="FAILED")
        assert failed.attempts == 1, "the failed attempt counted"
        events = await c.events(task_id=task.id)
        claimed = next(e for e in events if e.kind == "claimed")
        started = next(e for e in events if e.kind == "agent_started")
        assert claimed.id < started.id, "claimed for the agent before its process started"
        release = next(e for e in events if e.kind == "released")
        assert release.actor == claimed.agent_id, "released as the agent that held it"
        assert release.message.startswith("the agent exited with code 1; its output ended:\n")
        assert "starting\nprogress 99%\nError: the model refused done" in release.message
        assert "\x1b" not in release.message and "progress 10%" not in release.message
        assert "\x1b" not in failed.reason and "exited with code 1" in failed.reason
        (run,) = await c.runs()
        run = await wait_for(lambda: ended(c, run.agent_id), what="the run's end")
        assert run.exit_code == 1
        prompt = (world.run_dir(task.id, 1) / "seen-prompt.md").read_text()
        assert "claimTask" not in prompt and "Will fail" in prompt


async def test_a_managed_agent_keeps_its_lease_while_it_runs_and_hands_in_on_exit_0(
    tmp_path: Path,
) -> None:
    lease = 1.0
    kind = managed("work", seconds=4 * lease)
    settings = settings_with(kind, lease_seconds=lease, worktrees=True)
    project = _repo(tmp_path)
    async with engine_world(tmp_path, settings, project=project) as world:
        c = world.coordinator
        task = await c.add_task(
            {"title": "Outlives its lease", "priority": "P0", "checks": ["test -f work.txt"]}
        )
        held = await wait_for(lambda: status_is(c, task.id, "CLAIMED"), what="the claim")
        expiries = {held.lease_expires_at}
        started = time.monotonic()
        while (now := await c.task(task.id)).status is Status.CLAIMED:
            expiries.add(now.lease_expires_at)
            assert time.monotonic() - started < 30, "the agent never ended"
            await wait_for(lambda: _later(c, task.id, max(e or 0 for e in expiries)), within=30)
        done = await wait_for(lambda: status_is(c, task.id, "COMPLETED"), what="COMPLETED")
        assert len(expiries) >= 4, f"the lease was renewed {len(expiries) - 1} times"
        assert time.monotonic() - started >= 3 * lease, "it outlived its lease several times"
        events = await c.events(task_id=task.id)
        assert not [e for e in events if e.kind == "expired"], "the lease never ran out"
        assert (done.attempts, done.epoch) == (0, held.epoch)
        assert done.summary == "wrote work.txt\nall done"
        assert set(done.files) == {"work.txt", "notes.txt"}, "committed and uncommitted changes"
        assert done.hours is not None and done.hours * 3600 >= 3 * lease
        handed = next(e for e in events if e.kind == "handed_in")
        assert handed.actor == held.agent_id
        assert [e.kind for e in events].count("checks_passed") == 1


async def _later(c: Coordinator, task_id: str, than: float) -> bool:
    now = await c.task(task_id)
    return now.status is not Status.CLAIMED or (now.lease_expires_at or 0) > than


async def test_an_adopted_managed_agent_keeps_its_lease_and_is_released_when_it_ends(
    tmp_path: Path,
) -> None:
    lease = 1.0
    agent = sleeper()
    try:
        async with running_server(tmp_path / "before", 2 * lease) as before:  # ended since
            c = before.coordinator
            task = await c.add_task({"title": "left running", "priority": "P2"})
            run, _ = await c.start_run(task.id, "managed", "command", (), tmp_path / "runs")
            await c.run_process(run.agent_id, agent.pid, processes.identity(agent.pid), tmp_path)
            await c.claim(run.agent_id, task.id)
            home = before.home
        settings = settings_with(managed("work"), lease_seconds=lease)
        async with engine_world(tmp_path, settings, home=home) as world:
            c = world.coordinator
            assert [e.kind for e in await c.events(task_id=task.id)][-1] == "agent_adopted"
            mark = time.time()
            await wait_for(lambda: _later(c, task.id, mark + lease), what="a renewal")
            await wait_for(lambda: _later(c, task.id, mark + 3 * lease), what="more renewals")
            assert (await c.task(task.id)).status is Status.CLAIMED, "renewed, not expired"
            agent.kill()
            await wait_for(lambda: ended(c, run.agent_id), what="the release")
            released = await wait_for(lambda: status_is(c, task.id, "AVAILABLE"), what="release")
            assert released.attempts == 1 and "exit code unknown" in released.reason
            kinds = [e.kind for e in await c.events(task_id=task.id)]
            assert "expired" not in kinds
    finally:
        agent.kill()
        agent.wait()


def test_a_traceback_printed_at_exit_after_success_is_not_the_summary(tmp_path: Path) -> None:
    """aider, succeeding, sometimes prints an event loop's error while it shuts down: the
    summary is what it said before (seen in CI: the summary was the traceback's tail)."""
    report = tmp_path / "report.log"
    noise = (
        "Exception ignored in: <function BaseEventLoop.__del__ at 0x7f>\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/asyncio/selector_events.py", line 91, in close\n'
        "    self._close_self_pipe()\n"
        "ValueError: Invalid file descriptor: -1\n"
    )
    report.write_text("Applied edit to greeting.txt\nI changed the greeting.\n" + noise)
    assert output_tail(report, succeeded=True).endswith("I changed the greeting.")
    assert output_tail(report).endswith("Invalid file descriptor: -1")  # a failure keeps it
    midway = "Traceback (most recent call last):\n  File x\nKeyError: 1\nRecovered; all done.\n"
    report.write_text(midway)
    assert output_tail(report, succeeded=True).endswith("Recovered; all done.")
