"""Reading task lists from JSON or TOML files for `control-room task import`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from control_room.domain import InvalidInput

MAX_BYTES = 10 * 1024 * 1024


def read_task_file(path: Path) -> list[Any]:
    """The raw tasks in `path`: a JSON list (or {"tasks": [...]}), or TOML [[tasks]]."""
    name = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InvalidInput(name, f"is larger than {MAX_BYTES // 1024 // 1024} MB")
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(name, "no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(name, f"cannot read it: {error}") from None
    data = _parse_toml(name, content) if path.suffix.lower() == ".toml" else None
    if data is None:
        data = _parse_json(name, content, fallback_to_toml=path.suffix.lower() != ".json")
    return _task_list(name, data)


def _task_list(name: str, data: Any) -> list[Any]:
    if isinstance(data, dict):
        if set(data) != {"tasks"}:
            raise InvalidInput(name, "expected a list of tasks, or one `tasks` list")
        data = data["tasks"]
    if not isinstance(data, list):
        raise InvalidInput(name, "expected a list of tasks")
    if not data:
        raise InvalidInput(name, "holds no tasks")
    return data


def _parse_json(name: str, content: str, *, fallback_to_toml: bool) -> Any:
    try:
        return json.loads(content)
    except RecursionError:
        raise InvalidInput(name, "is nested too deeply to be a task list") from None
    except json.JSONDecodeError as error:
        if fallback_to_toml:
            try:
                return tomllib.loads(content)
            except tomllib.TOMLDecodeError:
                pass
        where = f"line {error.lineno} column {error.colno}"
        raise InvalidInput(name, f"is not valid JSON ({where}: {error.msg})") from None


def _parse_toml(name: str, content: str) -> Any:
    try:
        return tomllib.loads(content)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(name, f"is not valid TOML ({error})") from None
