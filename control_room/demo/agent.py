"""A scripted local agent for the demo: a real process that works a task through the real REST
API or the real MCP tools, exactly as an outside agent would, without any model.

It reads its identity from the environment Control Room gives every spawned agent
(CONTROL_ROOM_URL, CONTROL_ROOM_TOKEN, CONTROL_ROOM_TASK_ID), claims the task, reports progress,
appends a line to notes/<task>.md in its working directory, and hands the task in.

    python -m control_room.demo.agent [--via rest|mcp] [--pace SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

STEPS = (25, 50, 75)


class Rest:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self._post, path, body)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/api{path}", json.dumps(body).encode(), self.headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            data: dict[str, Any] = json.loads(answer.read())
            return data

    async def work(self, task_id: str, pace: float) -> str:
        claim = await self.call("/tasks/claim", {"task_id": task_id})
        epoch = claim["lease"]["epoch"]
        for percent in STEPS:
            await asyncio.sleep(pace)
            await self.call(f"/tasks/{task_id}/progress", {"epoch": epoch, "percent": percent})
        note = write_notes(task_id)
        await self.call(
            f"/tasks/{task_id}/complete",
            {"epoch": epoch, "summary": f"done via REST; {note}", "files": [note]},
        )
        return note


async def work_over_mcp(url: str, token: str, task_id: str, pace: float) -> str:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):

        async def call(tool: str, **arguments: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise RuntimeError(f"{tool}: {result.content}")
            return dict(result.structured_content or {})

        claim = await call("claimTask", taskId=task_id)
        epoch = claim["epoch"]
        for percent in STEPS:
            await asyncio.sleep(pace)
            await call("updateProgress", taskId=task_id, epoch=epoch, percent=percent)
        note = write_notes(task_id)
        await call(
                "completeTask", taskId=task_id, epoch=epoch,
                summary=f"done via MCP; {note}", files=[note],
            )  # fmt: skip
        return note


def write_notes(task_id: str) -> str:
    """One line per attempt in notes/<task>.md (the demo's flaky check counts them)."""
    notes = Path("notes") / f"{task_id}.md"
    notes.parent.mkdir(exist_ok=True)
    with notes.open("a") as handle:
        handle.write(f"- attempt at {time.strftime('%H:%M:%S')} by {os.getpid()}\n")
    return str(notes)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="control_room.demo.agent")
    parser.add_argument("--via", choices=("rest", "mcp"), default="rest")
    parser.add_argument("--pace", type=float, default=0.4)
    args = parser.parse_args(argv)
    sys.stdin.read()  # the prompt: this scripted agent knows its steps already
    url, token = os.environ["CONTROL_ROOM_URL"], os.environ["CONTROL_ROOM_TOKEN"]
    task_id = os.environ["CONTROL_ROOM_TASK_ID"]
    print(f"demo agent {os.getpid()} working on {task_id} via {args.via}", flush=True)
    if args.via == "mcp":
        note = await work_over_mcp(url, token, task_id, args.pace)
    else:
        note = await Rest(url, token).work(task_id, args.pace)
    print(f"handed in {task_id}; wrote {note}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
