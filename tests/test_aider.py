"""The real aider, managed: `control-room run --headless` (a real process) spawns aider 0.86.2 on
a P1 task in a real git repository; aider, driven by a scripted OpenAI-compatible server on
127.0.0.1, edits the file and commits; Control Room hands in for it, the check passes, and the
task is COMPLETED. aider is installed once into a cached virtual environment (tests/aider_venv.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from control_room.config import load_settings
from tests.aider_venv import aider_python
from tests.conftest import run_cli
from tests.fake_openai import last_user_text, scripted_openai, whole_file
from tests.serving import free_port
from tests.test_worktrees import commit_file, git

SCRIPT = Path(sys.executable).with_name("control-room")
AIDER_FLAGS = [
    "--model", "openai/scripted", "--edit-format", "whole",
    "--message-file", "{prompt_file}",
    "--yes-always", "--no-check-update", "--no-analytics", "--no-show-model-warnings",
    "--no-gitignore", "--no-pretty", "--no-stream", "--map-tokens", "0",
    "--chat-history-file", "{run_dir}/aider.chat.md",
    "--input-history-file", "{run_dir}/aider.input.md",
    "--no-show-release-notes", "--no-fancy-input", "--no-detect-urls",
    "--no-suggest-shell-commands",
]  # fmt: skip


@pytest.fixture(scope="session")
def aider() -> Path:
    return aider_python()


def _reply(body: dict[str, Any]) -> str:
    system = " ".join(str(m.get("content")) for m in body["messages"] if m["role"] == "system")
    if "commit message" in system.lower():
        return "Say hello to the world"
    return whole_file("greeting.txt", "hello, world\n", "I changed the greeting.")


def _task(home: Path, task_id: str) -> dict[str, Any]:
    shown = run_cli("task", "show", task_id, "--json", data_dir=home)
    assert shown.returncode == 0, shown.stderr
    task: dict[str, Any] = json.loads(shown.stdout)
    return task


def _wait_for_status(home: Path, task_id: str, status: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        task = _task(home, task_id)
        if task["status"] == status:
            return task
        assert task["status"] not in ("FAILED", "BLOCKED"), task
        assert time.monotonic() < deadline, f"still {task['status']} after {within} s"
        time.sleep(0.25)


def _events(home: Path, task_id: str) -> list[dict[str, Any]]:
    listed = run_cli("events", "--task", task_id, "--json", data_dir=home).stdout
    return [json.loads(line) for line in listed.splitlines() if line]


def _wait_until_serving(port: int, engine: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert engine.poll() is None, "the engine exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5):
                return
        except OSError:
            assert time.monotonic() < deadline, "the engine never served"
            time.sleep(0.1)


def test_aider_managed_completes_a_task_end_to_end(tmp_path: Path, aider: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q")
    git(project, "config", "user.name", "Operator")
    git(project, "config", "user.email", "operator@example.com")
    commit_file(project, "greeting.txt", "hello\n")
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    command = [str(aider), "-m", "aider", *AIDER_FLAGS]
    (home / "control-room.toml").write_text(
        '[[agent_types]]\nname = "aider"\nruntime = "command"\nmanaged = true\n'
        f'prompt_via = "file"\ncommand = {json.dumps(command)}\n'
    )
    with scripted_openai(_reply) as model:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
        env |= {
            "OPENAI_API_BASE": model.url,
            "OPENAI_API_KEY": "dummy",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
        port = free_port()
        engine = subprocess.Popen(
            [str(SCRIPT), "--data-dir", str(home), "run", "--headless", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=project, env=env,
        )  # fmt: skip
        try:
            _wait_until_serving(port, engine)
            added = run_cli(
                "task", "add", "--title", "Greet the world", "--priority", "P1",
                "--description", "greeting.txt must say: hello, world",
                "--check", "grep -qx 'hello, world' greeting.txt",
                data_dir=home,
            )  # fmt: skip
            assert added.returncode == 0, added.stderr
            task_id = added.stdout.strip()
            done = _wait_for_status(home, task_id, "COMPLETED", within=300)
        finally:
            engine.terminate()
            _, err = engine.communicate(timeout=60)
    assert "Traceback" not in err, err[-3000:]
    assert done["attempts"] == 0 and done["files"] == ["greeting.txt"]
    assert "I changed the greeting." in done["summary"] or "greeting.txt" in done["summary"]
    events = _events(home, task_id)
    kinds = [e["kind"] for e in events]
    assert kinds.index("claimed") < kinds.index("agent_started") < kinds.index("handed_in")
    assert "checks_passed" in kinds and "abandoned" not in kinds and "released" not in kinds
    seconds = events[kinds.index("checks_passed")]["at"] - events[0]["at"]
    steps = ", ".join(f"{e['kind']} +{e['at'] - events[0]['at']:.1f}" for e in events)
    print(f"\naider: task added -> COMPLETED in {seconds:.1f} s ({steps})")
    # aider really ran against the scripted model, with Control Room's prompt as its message,
    assert model.requests, "aider never called the model"
    asked = last_user_text(model.requests[0])
    assert "Greet the world" in asked and "claimTask" not in asked
    # and committed its edit on the task's branch itself.
    branch = f"control-room/{task_id}"
    assert git(project, "show", f"{branch}:greeting.txt") == "hello, world"
    assert git(project, "log", "-1", "--format=%s", branch) == "Say hello to the world"
    assert (project / "greeting.txt").read_text() == "hello\n", "the operator's checkout untouched"
    # The operator merges the checked work into the checkout.
    merged = run_cli("task", "merge", task_id, data_dir=home)
    assert merged.returncode == 0, merged.stderr
    assert (project / "greeting.txt").read_text() == "hello, world\n"
    (merge,) = [e for e in _events(home, task_id) if e["kind"] == "merged"]
    print(f"aider: task added -> merged in {merge['at'] - events[0]['at']:.1f} s")


def _readme_block(starting: str) -> str:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index(f"```toml\n{starting}") + len("```toml\n")
    return readme[start : readme.index("```", start)]


def test_the_readme_agent_types_are_the_tested_ones(tmp_path: Path) -> None:
    config = tmp_path / "control-room.toml"
    config.write_text(_readme_block('[[agent_types]]\nname = "aider"'))
    (aider_type,) = load_settings(config).routing.agent_types
    assert aider_type.managed and aider_type.prompt_via == "file"
    assert aider_type.command == ("aider", "--model", "sonnet", *AIDER_FLAGS[2:])
    config.write_text(_readme_block('[[agent_types]]\nname = "codex"'))
    (codex,) = load_settings(config).routing.agent_types
    assert codex.managed and codex.command[:2] == ("codex", "exec") and codex.command[-1] == "-"
