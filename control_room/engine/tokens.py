"""Secrets: 256-bit random tokens, stored only as SHA-256 hashes (looked up by hash)."""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str = "cr") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_agent_id() -> str:
    return "A-" + secrets.token_hex(4)
