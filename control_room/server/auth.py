"""Who is calling: the operator (token from operator.token), a registered agent (its own token),
or a newcomer holding the registration secret. Tokens come as `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from control_room.domain import Agent
from control_room.engine import Coordinator
from control_room.engine.tokens import token_hash

Role = Literal["operator", "agent", "registrant"]


@dataclass(frozen=True, slots=True)
class Caller:
    role: Role
    agent: Agent | None = None

    @property
    def name(self) -> str:
        return self.agent.id if self.agent else self.role


class Authenticator:
    def __init__(
        self, coordinator: Coordinator, operator_token: str, registration_secret: str | None
    ) -> None:
        self._coordinator = coordinator
        self._operator = token_hash(operator_token)
        self._registration = token_hash(registration_secret) if registration_secret else None

    async def caller(self, authorization: str | None) -> Caller | None:
        """The caller named by an Authorization header, or None when it names nobody."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ").strip()
        given = token_hash(token)
        if hmac.compare_digest(given, self._operator):
            return Caller("operator")
        if self._registration and hmac.compare_digest(given, self._registration):
            return Caller("registrant")
        agent = await self._coordinator.authenticate(token)
        return Caller("agent", agent) if agent else None
