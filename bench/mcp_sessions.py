"""Many MCP sessions opened by one agent and never closed, against a real `control-room serve`.

Opens N sessions (`initialize` without a session id, never DELETEd) with one agent token,
then prints the server's RSS before and after and how many of the sessions still answer.

    python bench/mcp_sessions.py [--sessions 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from header_flood import rss_mb  # noqa: E402
from http_claims import fresh_serve  # noqa: E402

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
PING = {"jsonrpc": "2.0", "id": 2, "method": "ping"}


async def open_sessions(url: str, token: str, count: int, parallel: int = 8) -> list[str]:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    ids: list[str] = []
    async with httpx2.AsyncClient(timeout=60, headers=headers) as http:

        async def one() -> None:
            answer = await http.post(f"{url}/mcp", json=INITIALIZE)
            assert answer.status_code == 200, answer.text
            ids.append(answer.headers["mcp-session-id"])

        for start in range(0, count, parallel):
            await asyncio.gather(*(one() for _ in range(min(parallel, count - start))))
    return ids


async def alive(url: str, token: str, ids: list[str]) -> int:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(timeout=60, headers=headers) as http:
        answers = [
            await http.post(f"{url}/mcp", json=PING, headers={"mcp-session-id": sid}) for sid in ids
        ]
    return sum(a.status_code == 200 for a in answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=3000)
    args = parser.parse_args()
    with fresh_serve() as (home, url, server):
        operator = (home / "operator.token").read_text().strip()
        joined = httpx2.post(
            f"{url}/api/agents", json={"name": "bench", "capabilities": ["*"]},
            headers={"Authorization": f"Bearer {operator}"},
        )  # fmt: skip
        token = joined.json()["token"]
        asyncio.run(open_sessions(url, token, 20))  # warm up imports and caches
        before = rss_mb(server.pid)
        started = time.monotonic()
        ids = asyncio.run(open_sessions(url, token, args.sessions))
        took = time.monotonic() - started
        after = rss_mb(server.pid)
        print(f"{args.sessions} initializes in {took:.1f} s")
        grown = after - before
        print(f"serve RSS: {before:.0f} MB before, {after:.0f} MB after (+{grown:.0f})")
        probe = ids[:50] + ids[-50:]
        print(f"alive: {asyncio.run(alive(url, token, probe))} of the first and last 50")


if __name__ == "__main__":
    main()
