"""Who is calling: the operator (token from operator.token, or that of another data directory
sharing the registry: their hashes are in it), a registered agent (its own token), or a
newcomer holding the registration secret. Tokens come as `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from control_room.domain import Agent, Event
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
    """Recognises tokens. An agent found by its token is remembered for CACHE_SECONDS, and
    forgotten when any agent or operator token is revoked or an agent ends: at once when this
    process revokes it, within about a second when another process does (the registry's change
    feed, which the server follows from its start). CACHE_SECONDS only bounds the memory of a
    token whose revocation the feed could not deliver (its follower failing for that long); it
    is longer than the heartbeat agents are told to keep (5 s), so an agent's token is looked up
    about once a minute instead of at every call."""

    CACHE_SECONDS = 60.0

    def __init__(
        self, coordinator: Coordinator, operator_token: str, registration_secret: str | None
    ) -> None:
        self._coordinator = coordinator
        self._operator = token_hash(operator_token)
        self._registration = token_hash(registration_secret) if registration_secret else None
        self._agents: dict[str, tuple[Agent, float]] = {}
        self.watch = coordinator.feed.watch(self._forget_on_revoke)
        self._operators: dict[str, tuple[str | None, float]] = {}  # hash -> status, until

    def forget(self) -> None:
        """Look every token up again on its next use."""
        self._agents.clear()
        self._operators.clear()

    def _forget_on_revoke(self, events: Sequence[Event]) -> None:
        if any(e.kind in ("agent_revoked", "agent_ended", "operator_revoked") for e in events):
            self.forget()

    async def _operator_status(self, token: str, hashed: str) -> str | None:
        """ACTIVE or REVOKED when the registry holds this operator token, else None."""
        cached = self._operators.get(hashed)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        status = await self._coordinator.operator_status(token)
        if len(self._operators) > 1_000:
            self._operators.clear()
        self._operators[hashed] = (status, time.monotonic() + self.CACHE_SECONDS)
        return status

    async def _agent(self, token: str, hashed: str) -> Agent | None:
        cached = self._agents.get(hashed)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        agent = await self._coordinator.authenticate(token)
        if agent is not None:
            if len(self._agents) > 10_000:
                self._agents.clear()
            self._agents[hashed] = (agent, time.monotonic() + self.CACHE_SECONDS)
        return agent

    async def caller(self, authorization: str | None) -> Caller | None:
        """The caller named by an Authorization header, or None when it names nobody."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization.removeprefix("Bearer ").strip()
        given = token_hash(token)
        if hmac.compare_digest(given, self._operator):
            revoked = await self._operator_status(token, given) == "REVOKED"
            return None if revoked else Caller("operator")
        if self._registration and hmac.compare_digest(given, self._registration):
            return Caller("registrant")
        agent = await self._agent(token, given)
        if agent is not None:
            return Caller("agent", agent)
        if await self._operator_status(token, given) == "ACTIVE":
            return Caller("operator")  # another control room's, on the shared registry
        return None
