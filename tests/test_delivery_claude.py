"""The real Claude Code CLI, spawned by the engine in a worktree with the default agent settings,
writes a file there (its model scripted by tests/fake_anthropic.py, which reads the worktree's
path from the prompt); the work is committed on the task's branch at hand-in, checked on that
commit, and merged on checks."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from control_room.domain.routing import AgentType
from tests.conftest import run_cli
from tests.delivery_repo import git, make_project, no_git_identity
from tests.engine_world import engine_world, settings_with, status_is, wait_for
from tests.fake_anthropic import Block, scripted_model, text, tool_results, tool_use
from tests.test_claude_code import CLAUDE, TOOL

PLACE = re.compile(r"Your working directory is (/[^\n]+?): a git worktree")
GREETING = "hello from Claude Code\n"


def _said(body: dict[str, Any]) -> str:
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        for block in content if isinstance(content, list) else []:
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def writing_script(body: dict[str, Any]) -> list[Block]:
    """Claim, write greeting.txt in the worktree the prompt names, hand in."""
    results = tool_results(body)
    if not results:
        return [text("Claiming my task."), tool_use(TOOL + "claimTask", {}, 1)]
    claimed = json.loads(results[0])
    task_id, epoch = claimed["task"]["id"], claimed["epoch"]
    if len(results) == 1:
        found = PLACE.search(_said(body))
        assert found, "the prompt names the worktree"
        path = f"{found.group(1)}/greeting.txt"
        return [tool_use("Write", {"file_path": path, "content": GREETING}, 2)]
    if len(results) == 2:
        done = {"taskId": task_id, "epoch": epoch, "summary": "Wrote the greeting",
                "files": ["greeting.txt"]}  # fmt: skip
        return [tool_use(TOOL + "completeTask", done, 3)]
    return [text("Done.")]


async def test_claude_codes_file_is_committed_checked_and_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    project = make_project(tmp_path)
    start = git(project, "rev-parse", "main")
    settings = replace(
        settings_with(AgentType("coder", "claude-code")),
        claude_binary=str(CLAUDE), worktrees=True,
        delivery_merge="on-checks",
    )  # fmt: skip
    check = "git cat-file -e HEAD:greeting.txt"
    with scripted_model(writing_script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with engine_world(tmp_path, settings, project=project) as world:
            c = world.coordinator
            added = time.monotonic()
            task = await c.add_task({"title": "Greet", "priority": "P1", "checks": [check]})
            done = await wait_for(
                lambda: status_is(c, task.id, "COMPLETED", "FAILED"), within=180, what="the end"
            )
            took = time.monotonic() - added
            events = await c.events(task_id=task.id)
    kinds = [e.kind for e in events]
    assert done.status == "COMPLETED", [(e.kind, e.message) for e in events]
    logged = events[kinds.index("merged")].at - events[0].at
    print(f"\ntask added -> merged (real Claude Code, on-checks): {took:.1f} s ({logged:.1f} s)")
    assert git(project, "show", f"{done.commit_sha}:greeting.txt") + "\n" == GREETING
    assert git(project, "rev-parse", f"control-room/{task.id}") == done.commit_sha
    assert done.merged_commit == git(project, "rev-parse", "main") != start
    assert (project / "greeting.txt").read_text() == GREETING, "merged into the checkout"
    assert kinds.index("committed") < kinds.index("merged") < kinds.index("checks_passed")


async def test_claude_codes_work_waits_for_the_operators_task_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-real")
    project = make_project(tmp_path)
    start = git(project, "rev-parse", "main")
    settings = replace(
        settings_with(AgentType("coder", "claude-code")), claude_binary=str(CLAUDE),
        worktrees=True,
    )  # fmt: skip
    with scripted_model(writing_script) as model:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{model.server_address[1]}")
        async with engine_world(tmp_path, settings, project=project) as world:
            c = world.coordinator
            added = time.monotonic()
            task = await c.add_task(
                {
                    "title": "Greet",
                    "priority": "P1",
                    "checks": ["git cat-file -e HEAD:greeting.txt"],
                }
            )
            done = await wait_for(
                lambda: status_is(c, task.id, "COMPLETED", "FAILED"), within=180, what="the end"
            )
            assert done.status == "COMPLETED" and done.merged_commit is None
            assert git(project, "rev-parse", "main") == start, "manual: nothing merged yet"
            home = world.server.home
            shown = await asyncio.to_thread(run_cli, "task", "diff", task.id, data_dir=home.root)
            assert "+hello from Claude Code" in shown.stdout, shown.stderr
            merged = await asyncio.to_thread(run_cli, "task", "merge", task.id, data_dir=home.root)
            took = time.monotonic() - added
    assert merged.returncode == 0, merged.stderr
    print(f"\ntask added -> merged (real Claude Code, task merge): {took:.1f} s")
    assert (project / "greeting.txt").read_text() == GREETING
    assert git(project, "rev-parse", "main^2") == done.commit_sha
