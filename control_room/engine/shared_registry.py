"""The coordinator's part for control rooms sharing one registry: the operator tokens registered
in it (of every data directory), the engines running on it, and its clock."""

from __future__ import annotations

from typing import Any

from control_room.domain import specs as check
from control_room.domain.engines import EngineInfo
from control_room.engine import tokens
from control_room.store import Registry, engine_ops


class SharedRegistry:
    registry: Registry

    async def operator_status(self, token: str) -> str | None:
        """ACTIVE or REVOKED for an operator token the registry holds (of any data directory
        sharing it), else None."""
        if not isinstance(token, str) or not token:
            return None
        return await self.registry.operator_status(tokens.token_hash(token))

    async def operators(self) -> list[dict[str, Any]]:
        """The operator tokens registered (name, status, times; never the token)."""
        return await self.registry.operators()

    async def revoke_operator(self, name: str, actor: str = "operator") -> int:
        return await self.registry.write(
            engine_ops.revoke_operator, check.text(name, "name", 1000), actor
        )

    async def engines(self) -> list[EngineInfo]:
        """The engines registered as running in the registry (control rooms sharing it)."""
        return await self.registry.engines()

    async def registry_time(self) -> float:
        """The clock engines' heartbeats are stamped with (the database server's on PostgreSQL)."""
        return await self.registry.registry_time()
