"""A real world for permission tests: a git project whose check wants a file changed, a data
directory with the default config (only the Claude Code binary's path and, where a test asks,
the permission timeout changed), the scripted model on 127.0.0.1, and a real
`control-room run --headless` process that spawns the real Claude Code CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.fake_anthropic import Block, Script, scripted_model, text, tool_results, tool_use
from tests.serving import free_port
from tests.test_claude_code import CLAUDE, TOOL

SCRIPT = Path(sys.executable).with_name("control-room")
CHECK = (
    "import pathlib, sys\n"
    "done = pathlib.Path('greeting.txt').read_text() == 'hello, world\\n'\n"
    "print('check passed' if done else 'greeting.txt still says hello')\n"
    "sys.exit(0 if done else 1)\n"
)
CHECK_COMMAND = "python3 check.py"
GIT_IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def working_directory(body: dict[str, Any]) -> str:
    """Where Claude Code runs, as its system prompt tells the model."""
    found = re.search(r"Primary working directory: ([^\s\\]+)", json.dumps(body))
    assert found, "the system prompt names the working directory"
    return found.group(1)


def agent_script(bash_command: str = CHECK_COMMAND) -> Script:
    """The model's side of a real agent's work: claim, write the file (allowed by the default
    permission mode), run a command with Bash (which asks the operator), hand in quoting what
    Bash said, stop."""

    def script(body: dict[str, Any]) -> list[Block]:
        results = tool_results(body)
        if not results:
            return [text("Claiming my task."), tool_use(TOOL + "claimTask", {}, 1)]
        try:
            claimed = json.loads(results[0])
            task_id, epoch = claimed["task"]["id"], claimed["epoch"]
        except (ValueError, KeyError):
            return [text(f"I could not claim: {results[0]}")]
        if len(results) == 1:
            path = f"{working_directory(body)}/greeting.txt"
            return [tool_use("Write", {"file_path": path, "content": "hello, world\n"}, 2)]
        if len(results) == 2:
            command = {"command": bash_command, "description": "Run the check"}
            return [text("Running the check."), tool_use("Bash", command, 3)]
        if len(results) == 3:
            done = {
                "taskId": task_id, "epoch": epoch, "summary": f"Bash said: {results[2][:300]}",
                "files": ["greeting.txt"],
            }  # fmt: skip
            return [tool_use(TOOL + "completeTask", done, 4)]
        return [text("All done.")]

    return script


@dataclass
class RealWorld:
    home: Path
    project: Path
    model: Any  # the scripted model server (requests recorded)
    engine: subprocess.Popen[str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, data_dir=self.home)

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def task(self, task_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = json.loads(self.ok("task", "show", task_id, "--json"))
        return shown

    def inbox(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(self.ok("inbox", "--json"))
        return items

    def wait(self, check: Callable[[], Any], within: float = 180, what: str = "") -> Any:
        """Poll `check` until it gives something truthy (bounded)."""
        deadline = time.monotonic() + within
        while True:
            found = check()
            if found:
                return found
            if self.engine.poll() is not None:
                raise AssertionError(f"the engine exited: {self.engine.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
            time.sleep(0.2)

    def permission(self, within: float = 180) -> dict[str, Any]:
        """The first permission request in the inbox, once it is there."""

        def pending() -> dict[str, Any] | None:
            return next((i for i in self.inbox() if i["kind"] == "permission"), None)

        found: dict[str, Any] = self.wait(pending, within, "a permission request in the inbox")
        return found

    def status_is(self, task_id: str, status: str, within: float = 180) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            task = self.task(task_id)
            return task if task["status"] == status else None

        found: dict[str, Any] = self.wait(check, within, f"{task_id} {status}")
        return found

    def tool_results(self) -> list[str]:
        """What the model was told by its tools, in the last request it received."""
        return tool_results(self.model.requests[-1]) if self.model.requests else []


def make_project(folder: Path) -> Path:
    """A git repository whose check (CHECK_COMMAND) wants greeting.txt changed."""
    project = folder / "project"
    project.mkdir()
    git("init", "-q", "-b", "main", cwd=project)
    (project / "greeting.txt").write_text("hello\n")
    (project / "check.py").write_text(CHECK)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "start", cwd=project)
    return project


def _configure(home: Path, settings: dict[str, str]) -> None:
    """The default config with `key = value` lines of [agents] replaced."""
    config = home / "control-room.toml"
    text = config.read_text()
    for key, value in settings.items():
        text, count = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        assert count == 1, f"{key} is in the default config"
    config.write_text(text)


@contextmanager
def real_claude_world(
    folder: Path, script: Script, config_tail: str = "", **agents: str
) -> Iterator[RealWorld]:
    """`agents`: [agents] settings to change beyond the binary's path (TOML values);
    `config_tail`: TOML appended to the config (e.g. [[agent_types]] tables)."""
    project = make_project(folder)
    home = folder / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    _configure(home, {"claude_binary": json.dumps(str(CLAUDE)), **agents})
    if config_tail:
        with (home / "control-room.toml").open("a") as config:
            config.write("\n" + config_tail)
    (folder / "home").mkdir()
    with scripted_model(script) as model:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
        env |= {
            "HOME": str(folder / "home"),
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{model.server_address[1]}",
            "ANTHROPIC_API_KEY": "test-key-not-real",
        }
        argv = [str(SCRIPT), "--data-dir", str(home), "run", "--headless"]
        engine = subprocess.Popen(
            [*argv, "--port", str(free_port())], cwd=project, env=env, text=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            yield RealWorld(home, project, model, engine)
        finally:
            engine.terminate()
            try:
                engine.wait(30)
            except subprocess.TimeoutExpired:
                engine.kill()
                engine.wait(10)
            finally:
                if engine.stderr is not None:
                    engine.stderr.close()
