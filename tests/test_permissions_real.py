"""Issue 10, items 1 and 2, end to end with real parts: `control-room run --headless` (a real
process) spawns the real Claude Code CLI on its default settings (only the binary's path set),
driven by the scripted model; the agent writes a file in its worktree without asking, and its
Bash call becomes a permission request that the operator answers from the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.real_claude import CHECK_COMMAND, RealWorld, agent_script, git, real_claude_world


def _add_task(world: RealWorld) -> str:
    return world.ok(
        "task", "add", "--title", "Greet the world", "--priority", "P1",
        "--check", CHECK_COMMAND,
    ).strip()  # fmt: skip


def _events(world: RealWorld, task_id: str, kind: str) -> list[dict[str, object]]:
    lines = world.ok("events", "--task", task_id, "--json", "--limit", "1000").splitlines()
    return [e for e in map(json.loads, lines) if e["kind"] == kind]


def test_a_real_agent_edits_its_worktree_and_asks_for_bash_which_the_cli_allows(
    tmp_path: Path,
) -> None:
    with real_claude_world(tmp_path, agent_script()) as world:
        started = time.monotonic()
        task_id = _add_task(world)
        item = world.permission()
        assert (item["task"], item["summary"]) == (task_id, f"Bash: {CHECK_COMMAND}")
        assert item["agent"] and item["since"] > 0 and item["id"].isdigit()
        listed = world.ok("inbox")
        assert "permission" in listed and f"Bash: {CHECK_COMMAND}" in listed
        shown = world.ok("task", "show", task_id)
        assert f"waiting for permission: request {item['id']}: Bash: {CHECK_COMMAND}" in shown
        # The file was written in the agent's worktree before Bash was asked for, unasked.
        written = world.tool_results()[1]
        assert "has been updated successfully" in written, written
        assert str(world.home / "worktrees") in written
        allowed = world.ok("permission", "allow", item["id"])
        assert f"permission {item['id']} (Bash: {CHECK_COMMAND}) for {task_id}: allowed once" in (
            allowed
        )
        done = world.status_is(task_id, "COMPLETED")
        elapsed = time.monotonic() - started
        print(f"\ntask added -> COMPLETED: {elapsed:.1f} s")
        results = world.tool_results()
        assert "check passed" in results[2], "the Bash result reached the model"
        assert done["summary"].startswith("Bash said: check passed")
        kinds = [e["kind"] for e in done["events"]]
        assert kinds.count("permission_requested") == 1, "only Bash was asked for"
        (asked,) = _events(world, task_id, "permission_requested")
        assert asked["data"]["tool"] == "Bash"
        assert json.loads(asked["data"]["input"])["command"] == CHECK_COMMAND
        (answer,) = _events(world, task_id, "permission_allowed")
        assert (answer["actor"], answer["data"]["always"]) == ("operator", False)
        assert "checks_passed" in kinds
        assert not [i for i in world.inbox() if i["kind"] == "permission"]
        (config,) = (world.home / "runs").glob("*/1/mcp.json")
        server = json.loads(config.read_text())["mcpServers"]["control-room"]
        assert server["timeout"] == (600 + 60) * 1000, "tool calls may outwait a request"
        # The work is kept: committed on the task's branch at hand-in, checked there, and
        # the operator's `task merge` puts it on the base branch.
        shown = json.loads(world.ok("task", "show", task_id, "--json"))
        branch, commit = shown["branch"], shown["commit_sha"]
        assert branch == f"control-room/{task_id}" and commit
        on_branch = git("show", f"{commit}:greeting.txt", cwd=world.project)
        assert on_branch == "hello, world", "the agent's edit is in the delivered commit"
        assert (world.project / "greeting.txt").read_text() == "hello\n", "not merged yet"
        merged = world.ok("task", "merge", task_id)
        print(f"task added -> merged: {time.monotonic() - started:.1f} s")
        assert task_id in merged
        assert (world.project / "greeting.txt").read_text() == "hello, world\n"
        assert json.loads(world.ok("task", "show", task_id, "--json"))["merged_commit"]
        assert _events(world, task_id, "merged")


def test_a_denial_reaches_the_model_with_its_reason(tmp_path: Path) -> None:
    with real_claude_world(tmp_path, agent_script()) as world:
        task_id = _add_task(world)
        item = world.permission()
        denied = world.ok("permission", "deny", item["id"], "--reason", "not on this machine")
        assert denied.rstrip().endswith("denied (not on this machine)")
        world.wait(lambda: len(world.tool_results()) >= 3, what="the Bash result")
        told = world.tool_results()[2]
        assert "The operator denied permission to use Bash: not on this machine" in told
        again = world.cli("permission", "allow", item["id"])
        assert again.returncode == 1 and "already answered (denied by operator)" in again.stderr
        assert again.stderr.count("\n") == 1, "one line, no traceback"
        world.status_is(task_id, "COMPLETED")
        (event,) = _events(world, task_id, "permission_denied")
        assert (event["actor"], event["data"]["reason"]) == ("operator", "not on this machine")


def test_an_unanswered_request_is_denied_after_the_configured_time(tmp_path: Path) -> None:
    with real_claude_world(tmp_path, agent_script(), permission_timeout_seconds="2") as world:
        task_id = _add_task(world)
        world.permission()
        started = time.monotonic()
        world.wait(lambda: _events(world, task_id, "permission_denied"), what="the timeout")
        assert time.monotonic() - started < 30
        world.wait(lambda: len(world.tool_results()) >= 3, what="the Bash result")
        told = world.tool_results()[2]
        assert "Permission to use Bash was denied" in told and "within 2 s (timed out)" in told
        (event,) = _events(world, task_id, "permission_denied")
        assert event["actor"] == "timeout"
        assert not [i for i in world.inbox() if i["kind"] == "permission"]
        world.status_is(task_id, "COMPLETED")
