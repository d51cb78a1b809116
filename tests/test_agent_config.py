"""Agent types in control-room.toml: the default agent must be a defined type, a user's own
[[agent_types]] bring their own default, `managed` is for command types, and the start backoff
settings are checked. Errors name the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from control_room.config import load_settings
from control_room.default_config import DEFAULT_CONFIG
from control_room.domain import InvalidInput
from tests.conftest import run_cli
from tests.serving import free_port

AIDER = (
    "[[agent_types]]\nname = 'aider'\nruntime = 'command'\nmanaged = true\n"
    "command = ['aider', '--message-file', '{prompt_file}']\nprompt_via = 'file'\n\n"
    "[[agent_types]]\nname = 'planner'\nruntime = 'anthropic'\ncapabilities = ['architecture']\n"
)


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "control-room.toml"
    path.write_text(text)
    return load_settings(path)


def test_the_built_in_types_keep_development_lead_as_the_default(tmp_path: Path) -> None:
    settings = _load(tmp_path, DEFAULT_CONFIG)
    assert settings.routing.default_agent_type.name == "development-lead"  # type: ignore[attr-defined]


def test_own_agent_types_without_a_default_use_the_first_of_them(tmp_path: Path) -> None:
    settings = _load(tmp_path, AIDER)
    rules = settings.routing  # type: ignore[attr-defined]
    assert rules.default_agent_type.name == "aider" and rules.default_agent_type.managed
    assert [kind.managed for kind in rules.agent_types] == [True, False]
    # Appended to the file `init` writes (default_agent is a comment there), the same.
    settings = _load(tmp_path, DEFAULT_CONFIG + "\n" + AIDER)
    assert settings.routing.default_agent_type.name == "aider"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "where", "detail"),
    [
        (
            "[routing]\ndefault_agent = 'nope'\n",
            "routing.default_agent",
            "no agent type named 'nope' (defined: decision-architect, backend-specialist",
        ),
        (
            "[routing]\ndefault_agent = 'development-lead'\n\n" + AIDER,
            "routing.default_agent",
            "no agent type named 'development-lead' (defined: aider, planner)",
        ),
        (
            "[[agent_types]]\nname = 'x'\nmanaged = true\n",
            "agent_types[1].managed",
            "only a command agent type is managed",
        ),
        (
            "[[agent_types]]\nname = 'x'\nruntime = 'command'\ncommand = ['x']\nmanaged = 'yes'\n",
            "agent_types[1].managed",
            "must be true or false",
        ),
        ("[[agent_types]]\nname = 'x'\n\n[[agent_types]]\nname = 'x'\n", "agent_types[2].name", ""),
        ("agent_types = []\n", "agent_types", "expected one or more"),
        ("[agents]\nstart_backoff_seconds = 0\n", "agents.start_backoff_seconds", ""),
        ("[agents]\nstart_backoff_seconds = 'soon'\n", "agents.start_backoff_seconds", "type"),
        ("[agents]\nmax_start_failures = 0\n", "agents.max_start_failures", "from 1 to 1000"),
    ],
)
def test_bad_agent_settings_name_file_and_key(
    tmp_path: Path, text: str, where: str, detail: str
) -> None:
    path = tmp_path / "control-room.toml"
    with pytest.raises(InvalidInput, match=re.escape(f"{path}: {where}")) as raised:
        _load(tmp_path, text)
    assert detail in str(raised.value)


def test_the_cli_refuses_an_undefined_default_agent_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    config = home / "control-room.toml"
    config.write_text(config.read_text().replace("[routing]", "[routing]\ndefault_agent = 'nope'"))
    for args in (("task", "list"), ("run", "--headless", "--port", str(free_port()))):
        done = run_cli(*args, data_dir=home)
        assert done.returncode == 1, done
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
        assert f"{config}: routing.default_agent" in done.stderr
        assert "no agent type named 'nope'" in done.stderr
