"""The registry's change feed (store/feed.py): every committed event, in id order, exactly once,
whichever process wrote it; closing a subscription stops it; a slow subscriber stays bounded and
still gets everything, in order."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from control_room.domain import Event
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry
from tests.conftest import coordinator_at

# Another process on the same registry file: it follows the feed from START while it adds
# COUNT tasks of its own, and prints the ids it received once it saw the parent's "done" note.
CHILD = """
import asyncio, json, sys
from pathlib import Path
from control_room.engine import Coordinator
from control_room.store import SqliteRegistry

async def main(path: str, start: int, count: int) -> None:
    registry = await SqliteRegistry.open(Path(path))
    coordinator = Coordinator(registry)
    seen: list[int] = []
    done = asyncio.Event()

    async def follow() -> None:
        with coordinator.feed.subscribe(start) as subscription:
            async for event in subscription:
                seen.append(event.id)
                if event.kind == "parent_done":
                    done.set()

    following = asyncio.create_task(follow())
    for number in range(count):
        await coordinator.add_task({"title": f"child {number}"}, actor="child")
    await asyncio.wait_for(done.wait(), 60)
    following.cancel()
    await registry.close()
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


async def until(condition: Callable[[], object], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_two_processes_each_get_every_event_once_in_commit_order(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path) as coordinator:
        start = await coordinator.last_event_id()
        received: list[Event] = []

        async def follow() -> None:
            with coordinator.feed.subscribe(start) as subscription:
                async for event in subscription:
                    received.append(event)

        following = asyncio.create_task(follow())
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(path), str(start), "150",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for number in range(150):  # written while the child writes
            await coordinator.add_task({"title": f"parent {number}"}, actor="parent")
        await until(lambda: sum(e.actor == "child" for e in received) == 150)
        await coordinator.note("parent_done", "parent", "done")
        out, _ = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0
        logged = await coordinator.events(after=start, limit=10_000)
        await until(lambda: len(received) == len(logged))
        following.cancel()

    assert [e.id for e in logged] == list(range(start + 1, start + 302)), "one log, no gaps"
    assert received == logged, "this process: every event of both writers, in order, once"
    assert json.loads(out) == [e.id for e in logged], "the other process: the same, in order"
    assert {e.actor for e in received} >= {"parent", "child"}


async def test_closing_a_subscription_or_a_watch_stops_delivery(coordinator: Coordinator) -> None:
    feed = coordinator.feed
    heard: list[Sequence[Event]] = []
    watch = feed.watch(heard.append)
    subscription = feed.subscribe()
    ended = asyncio.Event()

    async def follow() -> None:
        async for _ in subscription:
            pass
        ended.set()

    following = asyncio.create_task(follow())
    await coordinator.add_task({"title": "seen"})
    assert [e.kind for batch in heard for e in batch] == ["created"], "called before the answer"
    await until(lambda: subscription.delivered == heard[-1][-1].id)
    assert subscription.reads == 0, "caught up: this process's commits come from memory"

    watch.close()
    subscription.close()
    await asyncio.wait_for(ended.wait(), 5)  # an iteration in progress ends
    await coordinator.add_task({"title": "not seen"})
    assert len(heard) == 1
    assert await subscription.batch() == []
    assert subscription not in feed._subscriptions and watch not in feed._subscriptions
    assert not subscription._buffer, "nothing is kept for a closed subscription"
    await following


async def test_a_slow_subscriber_gets_everything_in_order_with_bounded_memory(
    tmp_path: Path,
) -> None:
    registry = await SqliteRegistry.open(tmp_path / "registry.db")
    coordinator = Coordinator(registry)
    try:
        start = await coordinator.last_event_id()
        slow = coordinator.feed.subscribe(limit=20)
        held = 0
        got: list[Event] = []
        for round_ in range(10):  # bursts of concurrent writers (group commits) between reads
            await asyncio.gather(
                *(coordinator.add_task({"title": f"r{round_} t{i}"}) for i in range(60))
            )
            held = max(held, len(slow._buffer))
            got.append(await slow.get())  # one event per burst: far behind
        async with asyncio.timeout(30):
            while len(got) < 600:
                got += await slow.batch()
        logged = await coordinator.events(after=start, limit=10_000)
        assert held <= 20, "what waits for a slow subscriber is bounded"
        assert slow.reads > 0, "it fell behind, and read the log"
        assert got == logged, "every event, once, in order, read back from the log"
        slow.close()
    finally:
        await registry.close()


async def test_a_watch_hears_other_processes_once_the_registry_follows_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path) as coordinator:
        heard: list[Event] = []
        coordinator.feed.watch(heard.extend)
        coordinator.feed.watch_outside()
        async with coordinator_at(path) as other:  # another registry: its own connections
            await other.add_task({"title": "from elsewhere"}, actor="elsewhere")
        await until(lambda: [e.actor for e in heard] == ["elsewhere"])
        await coordinator.add_task({"title": "here"})
        assert [e.actor for e in heard] == ["elsewhere", "operator"]


async def test_subscribers_at_any_pace_get_the_log_while_two_registries_interleave(
    tmp_path: Path,
) -> None:
    """Gaps (the other registry's events between ours), overflows and reads overlapping
    commits, all at once: each subscriber still gets exactly the log."""
    path = tmp_path / "registry.db"
    async with coordinator_at(path) as here, coordinator_at(path) as there:
        start = await here.last_event_id()
        here.feed.watch_outside()
        paces = [(2, 0.0), (5, 0.003), (50, 0.001), (10_000, 0.0), (10_000, 0.01)]
        subscriptions = [here.feed.subscribe(limit=limit) for limit, _ in paces]
        watched: list[Event] = []
        here.feed.watch(watched.extend)
        got: list[list[Event]] = [[] for _ in paces]

        async def read(index: int, pause: float) -> None:
            while not got[index] or got[index][-1].kind != "the_end":
                got[index] += await subscriptions[index].batch()
                await asyncio.sleep(pause)

        async def write(coordinator: Coordinator, actor: str) -> None:
            for round_ in range(15):
                await asyncio.gather(
                    *(coordinator.add_task({"title": f"{actor} {round_}.{i}"}, actor=actor)
                      for i in range(1 + round_ % 7))
                )  # fmt: skip

        readers = [asyncio.create_task(read(i, pause)) for i, (_, pause) in enumerate(paces)]
        await asyncio.gather(write(here, "here"), write(there, "there"))
        await there.note("the_end", "there", "the last event")
        async with asyncio.timeout(30):
            await asyncio.gather(*readers)
        logged = await here.events(after=start, limit=10_000)
        await until(lambda: len(watched) == len(logged))
    assert len(logged) == 2 * sum(1 + r % 7 for r in range(15)) + 1
    for index, received in enumerate(got):
        assert received == logged, f"subscriber {index} (limit, pause {paces[index]})"
    assert watched == logged


async def test_a_subscriber_from_far_back_reads_the_log_page_by_page(
    coordinator: Coordinator,
) -> None:
    await coordinator.add_tasks([{"title": f"t{i}"} for i in range(2500)])
    logged = await coordinator.events(after=0, limit=10_000)
    with coordinator.feed.subscribe(after=0) as subscription:
        got: list[Event] = []
        async with asyncio.timeout(30):
            while len(got) < len(logged):
                got += await subscription.batch()
        assert got == logged
        assert subscription.reads >= 3, "1000 events a page"
        await coordinator.cancel(logged[0].task_id or "")
        assert (await subscription.get()).kind == "cancelled"
