"""Issue 10, items 1 and 2, end to end with real parts: `control-room run --headless` (a real
process) spawns the real Claude Code CLI on its default settings (only the binary's path set),
driven by the scripted model; the agent writes a file in its worktree without asking, and its
Bash call becomes a permission request that the operator answers from the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.real_claude import CHECK_COMMAND, RealWorld, agent_script, real_claude_world


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
