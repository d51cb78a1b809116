"""`task list` and `agent list`: the default views (open tasks, live agents), read page by page.

Nothing holds the whole listing: rows are fetched a page at a time through the registry's
cursor and written as they come. `--json` is still one JSON document, a list, written one
element per line, so memory stays flat however many tasks the registry holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TextIO, TypeVar

from control_room.cli import render
from control_room.domain import Agent, Task
from control_room.domain.listing import MAX_LIMIT, OPEN, Page, TaskFilter
from control_room.domain.models import AgentStatus
from control_room.engine import Coordinator

TABLE_ROWS = 1000  # rows per text table chunk (column widths are measured per chunk)
T = TypeVar("T")
Fetch = Callable[[str | None, int], Awaitable[Page[T]]]


async def walk(fetch: Fetch[T], limit: int | None, more: list[bool]) -> AsyncIterator[T]:
    """Every row `fetch(cursor, size)` pages through, up to `limit`; `more` is set to [True]
    when rows were left out because of the limit."""
    cursor: str | None = None
    left = limit
    while True:
        size = MAX_LIMIT if left is None else min(MAX_LIMIT, left)
        page = await fetch(cursor, size)
        for item in page.items:
            yield item
        if left is not None:
            left -= len(page.items)
        if page.next is None:
            return
        if left == 0:
            more[:] = [True]
            return
        cursor = page.next


async def write_json(rows: AsyncIterator[Task] | AsyncIterator[Agent], out: TextIO) -> int:
    """One JSON list, one element per line, written as the rows come; returns the count."""
    count = 0
    async for row in rows:
        out.write(("[\n" if count == 0 else ",\n") + render.json_line(row.to_dict()))
        count += 1
    out.write("\n]\n" if count else "[]\n")
    out.flush()
    return count


async def write_tables(rows: AsyncIterator[T], table: Callable[[list[T]], str], out: TextIO) -> int:
    """Text tables of TABLE_ROWS rows each, the header printed once; returns the count."""
    count, chunk = 0, []

    def flush(rows: list[T]) -> None:
        lines = table(rows).split("\n")
        out.write("\n".join(lines if count <= TABLE_ROWS else lines[1:]) + "\n")  # one header

    async for row in rows:
        chunk.append(row)
        count += 1
        if len(chunk) == TABLE_ROWS:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    return count


def task_filter(args: argparse.Namespace) -> TaskFilter:
    if args.status is not None:
        return TaskFilter(statuses=(args.status,))
    return TaskFilter() if args.all else TaskFilter(statuses=OPEN)


async def task_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    where = task_filter(args)
    more: list[bool] = []

    async def fetch(cursor: str | None, size: int) -> Page[Task]:
        return await coordinator.task_page(where, cursor, size)

    rows = walk(fetch, args.limit, more)
    if args.json:
        await write_json(rows, sys.stdout)
        return 0
    if await write_tables(rows, render.task_table, sys.stdout):
        if more:
            print(f"(more tasks than --limit {args.limit}: raise it to see them)", file=sys.stderr)
    elif args.status:
        print(f"no {args.status} tasks")
    elif not args.all and (await coordinator.task_page(TaskFilter(), None, 1)).items:
        print("no open tasks (`control-room task list --all` shows finished ones too)")
    else:
        print("no tasks yet: add one with `control-room task add --title '...'`")
    return 0


async def agent_list(coordinator: Coordinator, args: argparse.Namespace) -> int:
    status = None if args.all else AgentStatus.ACTIVE
    now = time.time()

    async def fetch(cursor: str | None, size: int) -> Page[Agent]:
        return await coordinator.agent_page(status, cursor, size)

    rows = walk(fetch, None, [])
    if args.json:
        await write_json(rows, sys.stdout)
    elif not await write_tables(rows, lambda chunk: render.agent_table(chunk, now), sys.stdout):
        if not args.all and (await coordinator.agent_page(None, None, 1)).items:
            print("no live agents (`control-room agent list --all` shows revoked ones too)")
        else:
            print("no agents have registered yet")
    return 0
