"""The screen's themes: TOML files in the top-level `themes/` folder, read into Textual `Theme`s.

The folder ships inside the package as `control_room/themes` (a link to `../themes`, packaged by
the `package-data` entry in pyproject.toml). Each file holds one theme whose `name` matches the
file name; its keys are the arguments of `textual.theme.Theme`. The chosen theme is remembered
in control-room.toml as `[screen] theme`, rewriting only that line.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from control_room.domain import InvalidInput
from control_room.ui_names import themes_folder

DEFAULT_THEME = "control-room-dark"

COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "warning",
    "error",
    "success",
)
_REQUIRED = ("name", "dark", "primary")
_FRACTIONS = ("luminosity_spread", "text_alpha")

_SECTION = re.compile(r"^\s*\[\[?\s*([^\[\]]*?)\s*\]\]?\s*(#.*)?$")
_THEME_LINE = re.compile(r"^(\s*theme\s*=\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')?(.*)$")


def load_themes(folder: Path | None = None) -> dict[str, Theme]:
    """Every `*.toml` theme in `folder` (default: the packaged themes), by name, in file-name order.
    A bad file raises `InvalidInput` naming the file and the key."""
    folder = themes_folder() if folder is None else folder
    if not folder.is_dir():
        raise InvalidInput(str(folder), "no such themes folder")
    themes = [_load_theme(path) for path in sorted(folder.glob("*.toml"))]
    return {theme.name: theme for theme in themes}


def _load_theme(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(str(path), f"cannot read the theme: {error}") from None

    for key in _REQUIRED:
        if key not in data:
            raise InvalidInput(f"{path}: {key}", "missing")
    for key, value in data.items():
        problem = _problem(key, value, path.stem)
        if problem:
            raise InvalidInput(f"{path}: {problem[0]}", problem[1])
    arguments: dict[str, Any] = data
    return Theme(**arguments)


def _problem(key: str, value: object, stem: str) -> tuple[str, str] | None:
    """What is wrong with one key of a theme file, as (key, detail), or None."""
    if key == "name":
        return None if value == stem else (key, f"must match the file name, {stem!r}")
    if key in ("dark", "ansi"):
        return None if isinstance(value, bool) else (key, f"must be true or false, not {value!r}")
    if key in COLOURS:
        return None if _is_colour(value) else (key, f"is not a colour: {value!r}")
    if key in _FRACTIONS:
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
            return None
        return key, f"must be a number from 0 to 1, not {value!r}"
    if key == "variables":
        if not isinstance(value, dict):
            return key, "must be a [variables] table"
        for name, setting in value.items():
            if not isinstance(setting, str) or not setting.strip():
                return f"variables.{name}", f"must be a non-empty string, not {setting!r}"
        return None
    return key, "unknown key (the keys are the arguments of textual.theme.Theme)"


def _is_colour(value: object) -> bool:
    try:
        return isinstance(value, str) and Color.parse(value) is not None
    except ColorParseError:
        return False


def remember_theme(config_path: Path, name: str) -> None:
    """Set `[screen] theme = name` in the config file, changing nothing else (comments, other
    keys and their order stay); adds the key or the section when missing. Atomic."""
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(str(config_path), f"cannot read the config: {error}") from None
    value = json.dumps(name, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    section: str | None = None
    header: int | None = None
    for index, line in enumerate(lines):
        match = _SECTION.match(line)
        if match:
            section = match.group(1)
            header = index if section == "screen" else header
            continue
        found = _THEME_LINE.match(line) if section == "screen" else None
        if found:
            rest = found.group(3).rstrip("\r\n") if found.group(2) else ""
            lines[index] = f"{found.group(1)}{value}{rest}{newline}"
            break
    else:
        if header is not None:
            lines.insert(header + 1, f"theme = {value}{newline}")
        else:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += newline
            gap = newline if lines and lines[-1].strip() else ""
            lines.append(f"{gap}[screen]{newline}theme = {value}{newline}")
    updated = "".join(lines)
    expected = copy.deepcopy(before)
    screen = expected.setdefault("screen", {})
    if not isinstance(screen, dict):
        raise InvalidInput(f"{config_path}: screen", "expected a [screen] table")
    screen["theme"] = name
    try:
        understood = tomllib.loads(updated) == expected
    except tomllib.TOMLDecodeError:
        understood = False
    if not understood:
        raise InvalidInput(
            f"{config_path}: screen.theme", "cannot rewrite this file; set it by hand"
        )
    _write_atomically(config_path, updated)


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
