"""Claude Code's permission settings: read from control-room.toml ([agents] defaults and per
agent type), refused with a clear line when wrong, passed to the real binary, and obeyed by it."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from control_room.config import Settings, load_settings
from control_room.domain.permissions import ClaudeSettings
from control_room.engine.runtimes import ClaudeCodeRuntime, claude_settings
from tests.conftest import run_cli
from tests.real_claude import CHECK_COMMAND, agent_script, real_claude_world

AGENT = '[[agent_types]]\nname = "coder"\nruntime = "claude-code"\n'
TIMEOUT = "agents.permission_timeout_seconds"
LIST = "list of non-empty"


@pytest.mark.parametrize(
    ("config", "where", "message"),
    [
        ('[agents]\npermission_mode = "yolo"\n', "agents.permission_mode", "one of acceptEdits"),
        ('[agents]\nallowed_tools = "Bash"\n', "agents.allowed_tools", "wrong type"),
        ("[agents]\ndisallowed_tools = [1]\n", "agents.disallowed_tools", "list of strings"),
        ('[agents]\nextra_args = [" "]\n', "agents.extra_args", "non-empty strings"),
        ("[agents]\npermission_timeout_seconds = 0\n", TIMEOUT, "positive"),
        ("[agents]\npermission_timeout_seconds = nan\n", TIMEOUT, "positive"),
        (AGENT + 'permission_mode = "ask"\n', "agent_types[1].permission_mode", "use one of"),
        (AGENT + 'allowed_tools = "Edit"\n', "agent_types[1].allowed_tools", LIST),
        (AGENT + "extra_args = ['--x', '']\n", "agent_types[1].extra_args", LIST),
        (AGENT + "disallowed_tools = [[]]\n", "agent_types[1].disallowed_tools", LIST),
    ],
)  # fmt: skip
def test_bad_permission_settings_are_named(
    tmp_path: Path, config: str, where: str, message: str
) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text(config)
    result = run_cli("inbox", data_dir=home)
    assert result.returncode == 1, result.stdout
    assert f"control-room.toml: {where}" in result.stderr and message in result.stderr
    assert result.stderr.count("\n") == 1, "one line, no traceback"


def test_agent_types_override_the_agents_defaults(tmp_path: Path) -> None:
    path = tmp_path / "control-room.toml"
    path.write_text(
        '[agents]\nallowed_tools = ["Bash(pytest:*)"]\npermission_mode = "acceptEdits"\n'
        "permission_timeout_seconds = 90\n\n"
        + AGENT + 'permission_mode = "plan"\ndisallowed_tools = ["WebFetch"]\n'
        'extra_args = ["--effort", "low"]\n\n'
        '[[agent_types]]\nname = "plain"\n\n[routing]\ndefault_agent = "plain"\n'
    )  # fmt: skip
    settings = load_settings(path)
    assert settings.permission_timeout_seconds == 90
    coder, plain = settings.routing.agent_types
    assert claude_settings(coder, settings.claude) == ClaudeSettings(
        ("Bash(pytest:*)",), ("WebFetch",), "plan", ("--effort", "low")
    )
    assert claude_settings(plain, settings.claude) == ClaudeSettings(("Bash(pytest:*)",))
    assert Settings().claude == ClaudeSettings((), (), "acceptEdits", ())


def test_the_runtime_passes_the_settings_as_the_binary_spells_them(tmp_path: Path) -> None:
    runtime = ClaudeCodeRuntime(
        "claude", 7, None, ClaudeSettings(("Bash(pytest:*)",), ("WebFetch",), "plan", ("-x",))
    )
    argv = runtime.arguments(tmp_path / "mcp.json")
    flags = dict(itertools.pairwise(argv))
    assert flags["--allowedTools"] == "mcp__control-room,Bash(pytest:*)"
    assert flags["--disallowedTools"] == "WebFetch"
    assert flags["--permission-mode"] == "plan"
    assert flags["--permission-prompt-tool"] == "mcp__control-room__requestPermission"
    default = ClaudeCodeRuntime("claude").arguments(tmp_path / "mcp.json")
    assert "--disallowedTools" not in default and "bypassPermissions" not in default
    assert default[default.index("--permission-mode") + 1] == "acceptEdits"
    assert default[default.index("--allowedTools") + 1] == "mcp__control-room"


def _kinds(world_events: str) -> list[str]:
    return [json.loads(line)["kind"] for line in world_events.splitlines()]


def test_an_allow_rule_in_the_config_lets_bash_run_without_asking(tmp_path: Path) -> None:
    rules = json.dumps(["Bash(python3:*)"])
    with real_claude_world(tmp_path, agent_script(), allowed_tools=rules) as world:
        task_id = world.ok(
            "task", "add", "--title", "Greet", "--priority", "P1", "--check", CHECK_COMMAND
        ).strip()
        done = world.status_is(task_id, "COMPLETED")
        assert "check passed" in world.tool_results()[2]
        assert done["summary"].startswith("Bash said: check passed")
        assert "permission_requested" not in [e["kind"] for e in done["events"]]


def test_a_deny_rule_refuses_without_asking_and_the_refusal_is_recorded(tmp_path: Path) -> None:
    rules = json.dumps(["Bash(python3:*)"])
    with real_claude_world(tmp_path, agent_script(), disallowed_tools=rules) as world:
        task_id = world.ok(
            "task", "add", "--title", "Greet", "--priority", "P1", "--check", CHECK_COMMAND
        ).strip()
        world.status_is(task_id, "COMPLETED")

        def denial() -> list[dict[str, object]]:
            lines = world.ok("events", "--task", task_id, "--json", "--limit", "500")
            return [e for e in map(json.loads, lines.splitlines()) if e["kind"] == "tool_denied"]

        (event,) = world.wait(denial, 60, "the tool_denied event")
        assert event["data"]["tool"] == "Bash"  # type: ignore[index]
        assert json.loads(event["data"]["input"])["command"] == CHECK_COMMAND  # type: ignore[index]
        assert "check passed" not in world.tool_results()[2]
        assert not world.inbox(), "a deny rule asks nobody"
