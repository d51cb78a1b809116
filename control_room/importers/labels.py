"""How labels (GitHub issues, Backlog.md) become a priority, a task type and capabilities.

- priority: `P0`..`P3`, `critical|urgent|high|medium|low`, or the same after `priority:`
  (also `priority/high`, `priority-high`, `priority: P1`); the most urgent wins; none gives P2.
- type: `bug` -> `bug`, `enhancement`/`feature` -> `implementation`, `documentation`/`docs` ->
  `documentation`, `test`/`tests`/`testing` -> `testing`, `architecture` -> `architecture`,
  `refactor`/`refactoring` -> `refactoring`; none gives `implementation`.
- ignored (triage, not skills): good first issue, help wanted, question, duplicate, invalid,
  wontfix, won't fix, triage, needs triage, stale.
- every other label is a required capability, lowercased, with an `area:`, `area/`,
  `component:`, `scope:` or `team:` prefix dropped, and any run of characters outside letters,
  digits, `_`, `.` and `-` turned into one `-` (`Needs Review!` -> `needs-review`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

PRIORITY_WORDS = {"critical": "P0", "urgent": "P0", "high": "P1", "medium": "P2", "low": "P3"}
_PRIORITY = re.compile(r"(?:priority\s*[:/_-]?\s*)?(p[0-3])|priority\s*[:/_-]?\s*(\w+)")
TYPES = {
    "bug": "bug",
    "enhancement": "implementation",
    "feature": "implementation",
    "documentation": "documentation",
    "docs": "documentation",
    "test": "testing",
    "tests": "testing",
    "testing": "testing",
    "architecture": "architecture",
    "refactor": "refactoring",
    "refactoring": "refactoring",
}
IGNORED = frozenset(
    {
        "good first issue", "help wanted", "question", "duplicate", "invalid", "wontfix",
        "won't fix", "triage", "needs triage", "needs-triage", "stale",
    }
)  # fmt: skip
PREFIXES = ("area:", "area/", "component:", "scope:", "team:")
_NOT_WORD = re.compile(r"[^a-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Mapped:
    priority: str | None
    type: str | None
    capabilities: tuple[str, ...]


def priority_word(value: str) -> str | None:
    """P0..P3 for a priority label or value (`high`, `P1`, `priority: high`), else None."""
    given = value.strip().lower()
    if given in PRIORITY_WORDS:
        return PRIORITY_WORDS[given]
    match = _PRIORITY.fullmatch(given)
    if match is None:
        return None
    if match.group(1):
        return match.group(1).upper()
    return PRIORITY_WORDS.get(match.group(2)) or priority_word(match.group(2))


def capability(label: str) -> str:
    """A label as a capability word ('' when nothing is left of it)."""
    name = label.strip().lower()
    for prefix in PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :].strip()
    return _NOT_WORD.sub("-", name).strip("-._")[:40].rstrip("-._")


def map_labels(labels: Iterable[str]) -> Mapped:
    """Sort labels into priority, type and capabilities (see the module docstring)."""
    priorities: list[str] = []
    task_type = None
    capabilities: list[str] = []
    for label in labels:
        name = label.strip().lower()
        if not name or name in IGNORED:
            continue
        found = priority_word(name)
        if found:
            priorities.append(found)
        elif name in TYPES:
            task_type = task_type or TYPES[name]
        elif (word := capability(name)) and word not in capabilities:
            capabilities.append(word)
    return Mapped(min(priorities) if priorities else None, task_type, tuple(capabilities))
