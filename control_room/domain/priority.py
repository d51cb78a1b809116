"""Task priorities: P0 (critical) to P3 (low), parsed from short or long forms."""

from __future__ import annotations

from enum import StrEnum

from control_room.domain.errors import InvalidInput


class Priority(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"

    @property
    def long_name(self) -> str:
        return f"{self.value}-{_LONG[self]}"


_LONG = {
    Priority.P0: "CRITICAL",
    Priority.P1: "HIGH",
    Priority.P2: "MEDIUM",
    Priority.P3: "LOW",
}

_ACCEPTED = {p.value: p for p in Priority} | {p.long_name: p for p in Priority}


def parse_priority(text: str, field: str = "priority") -> Priority:
    """`P1`, `p1`, `P1-HIGH` -> Priority.P1; anything else is a clear InvalidInput."""
    found = _ACCEPTED.get(text.strip().upper()) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            field,
            f"unknown priority {text!r}: use P0, P1, P2, P3 "
            "(or P0-CRITICAL, P1-HIGH, P2-MEDIUM, P3-LOW)",
        )
    return found
