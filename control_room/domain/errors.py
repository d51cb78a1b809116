"""Errors every front end understands: each carries a stable code and a sentence for a person.

The REST layer maps them to HTTP statuses, MCP tools to `is_error` results, the CLI to one line
on stderr and a non-zero exit.
"""

from __future__ import annotations

from typing import Any


class ControlRoomError(Exception):
    """Base of every expected failure. `code` is stable; `message` is for a person; `details`
    are fields a program may read (REST puts them beside error and message)."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(ControlRoomError):
    """A value a user or agent gave is not acceptable; `field` names which one."""

    code = "invalid"
    http_status = 422

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class NotFound(ControlRoomError):
    """The task or agent named does not exist."""

    code = "not_found"
    http_status = 404


class NothingToClaim(NotFound):
    """No available task fits the agent's capabilities."""

    code = "nothing_to_claim"


class Conflict(ControlRoomError):
    """The state changed under the caller: taken, stale epoch, not the holder, wrong status."""

    code = "conflict"
    http_status = 409


class InactiveAgent(NotFound):
    """The calling agent is not an active one (its token was revoked, or its run ended): over
    HTTP the same answer as an unknown token."""

    code = "unauthorized"
    http_status = 401


class StoreError(ControlRoomError):
    """The registry file cannot be used (unreadable, too new, disk full, locked too long)."""

    code = "store_unavailable"
    http_status = 503
