"""The registry's one ordered change feed: every committed event, in id order, exactly once,
whoever wrote it (this process, or another process on the same registry).

A `Subscription` keeps a cursor (the last event id it handed out). This process's commits are
offered to it right after COMMIT (the writer's post-commit hook, `published`): when they follow
its cursor they wait in a bounded buffer, so nothing is read twice. Anything else, another
process's write (the backend's `outside_changes()`: the -wal file's notifications for SQLite,
LISTEN/NOTIFY for PostgreSQL), a gap, or a buffer that grew past its limit because the
subscriber is slow, makes it read from the events table from its cursor on, a page at a time:
bursts coalesce, and memory stays bounded whatever the subscriber's pace.

`watch(callback)` is a subscription whose events go to a plain function: at once, inside the
post-commit hook, while it is caught up (what the old listeners did); from a task of its own,
reading the log, after it fell behind or when other processes wrote.

The order of the log is the order of commits: backends must hand out event ids in commit order
(SQLite's single writer does; a PostgreSQL backend takes a lock around its event inserts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Protocol

from control_room.domain import ControlRoomError, Event

log = logging.getLogger(__name__)

PAGE = 1000  # events read from the log at a time
BUFFER = 10_000  # events a subscription holds before it reads from the log instead
RETRY_SECONDS = 1.0  # after a failed read, before the next


class FeedSource(Protocol):
    """What the feed needs of its registry: the log, and the backend's notifications."""

    async def events(
        self, after: int = 0, limit: int = 1000, task_id: str | None = None
    ) -> list[Event]: ...
    async def last_event_id(self) -> int: ...
    def outside_changes(self) -> AsyncIterator[None]: ...


class Subscription:
    """Events after `delivered`, in order, exactly once. Use as a (async) context manager, or
    `close()`; `batch()`/`batches()` give lists, `get()` and `async for` single events."""

    def __init__(self, feed: ChangeFeed, after: int, limit: int) -> None:
        self._feed = feed
        self.delivered = after  # the last event id handed out
        self._limit = limit
        self._buffer: list[Event] = []  # ids delivered+1.. (stale: contiguous candidates)
        self._stale = after != feed.head  # must read the log before trusting the buffer
        self._outside = 0  # outside changes seen (a read that overlapped one reads again)
        self._overflow = False  # candidates dropped during a read
        self._wake = asyncio.Event()
        self._ready: list[Event] = []  # for get(): the rest of the last batch
        self.reads = 0  # pages read from the log (behind, or other processes wrote)
        self.closed = False

    # -- the feed's side -------------------------------------------------------------------

    def _tail(self) -> int:
        return self._buffer[-1].id if self._buffer else self.delivered

    def _offer(self, events: Sequence[Event]) -> bool:
        """This process committed `events` (contiguous ids): buffer them, or fall back to the
        log. True when they were buffered in order."""
        if self.closed:
            return False
        if not self._stale and events[0].id == self._tail() + 1:
            if len(self._buffer) + len(events) <= self._limit:
                self._buffer.extend(events)
                self._wake.set()
                return True
            self._buffer.clear()  # a slow subscriber: it reads the log instead
            self._overflow = True
        elif not self._stale:
            self._buffer = list(events) if len(events) <= self._limit else []  # a gap
        else:  # reading the log: keep a run of what commits meanwhile, to go on from after it
            after_run = bool(self._buffer) and events[0].id == self._buffer[-1].id + 1
            if after_run and len(self._buffer) + len(events) <= self._limit:
                self._buffer.extend(events)
            elif len(events) <= self._limit:
                self._buffer = list(events)  # a gap before them is noticed after the read
            else:
                self._buffer.clear()
                self._overflow = True
        self._stale = True
        self._wake.set()
        return False

    def _outside_changed(self, latest: int) -> None:
        """The log's newest id is `latest`: read it if that is news."""
        if self.closed or latest <= (self.delivered if self._stale else self._tail()):
            return
        self._stale = True
        self._outside += 1
        self._wake.set()

    # -- the subscriber's side -------------------------------------------------------------

    async def batch(self) -> list[Event]:
        """The next events (at least one), oldest first; [] once closed."""
        if self._ready and not self.closed:  # what get() has not handed out yet
            found, self._ready = self._ready, []
            return found
        while not self.closed:
            if not self._stale and self._buffer:
                found, self._buffer = self._buffer, []
                self.delivered = found[-1].id
                return found
            if self._stale:
                found = await self._read()
                if found:
                    return found
                continue
            self._feed.watch_outside()
            self._wake.clear()
            await self._wake.wait()
        return []

    async def _read(self) -> list[Event]:
        outside, self._overflow = self._outside, False
        self.reads += 1
        page = await self._feed.read(self.delivered, PAGE)
        if self.closed:
            return []
        found = [e for e in page if e.id > self.delivered]
        if found:
            self.delivered = found[-1].id
        candidates = [e for e in self._buffer if e.id > self.delivered]
        contiguous = not candidates or candidates[0].id == self.delivered + 1
        self._buffer = candidates
        if len(page) < PAGE and outside == self._outside and not self._overflow and contiguous:
            self._stale = False  # caught up: this process's commits come from memory again
        return found

    async def batches(self) -> AsyncIterator[list[Event]]:
        while found := await self.batch():
            yield found

    async def get(self) -> Event:
        """The next event; raises EOFError once closed."""
        if not self._ready:
            self._ready = await self.batch()
            if not self._ready:
                raise EOFError("the subscription is closed")
        return self._ready.pop(0)

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for found in self.batches():
            for event in found:
                yield event

    def close(self) -> None:
        self.closed = True
        self._buffer = []
        self._feed._subscriptions.discard(self)
        self._wake.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Callback = Callable[[Sequence[Event]], None]


class Watch(Subscription):
    """A subscription whose events go to `callback`: in the post-commit hook while caught up
    (before the writers are answered), else from a task that reads the log."""

    def __init__(self, feed: ChangeFeed, after: int, limit: int, callback: Callback) -> None:
        super().__init__(feed, after, limit)
        self._callback = callback
        self._pump: asyncio.Task[None] | None = None

    def _offer(self, events: Sequence[Event]) -> bool:
        caught_up = not self.closed and not self._stale and not self._buffer
        if caught_up and events[0].id == self.delivered + 1:
            self.delivered = events[-1].id
            self._call(events)
            return True
        buffered = super()._offer(events)
        self._start()
        return buffered

    def _outside_changed(self, latest: int) -> None:
        super()._outside_changed(latest)
        if self._stale:
            self._start()

    def _call(self, events: Sequence[Event]) -> None:
        try:
            self._callback(events)
        except Exception:
            log.exception("an event watcher failed")

    def _start(self) -> None:
        if self._pump is None or self._pump.done():
            with contextlib.suppress(RuntimeError):  # no loop running: nothing to run it on
                self._pump = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self.closed and (self._stale or self._buffer):
            if not self._stale:
                found, self._buffer = self._buffer, []
                self.delivered = found[-1].id
                self._call(found)
                continue
            try:
                found = await self._read()
            except ControlRoomError as error:
                log.warning("reading the event log: %s", error.message)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if found:
                self._call(found)

    def close(self) -> None:
        super().close()
        if self._pump is not None:
            self._pump.cancel()


class ChangeFeed:
    """The one feed of a registry. `published` is its writer's post-commit hook."""

    def __init__(self, source: FeedSource, head: int = 0) -> None:
        self._source = source
        self.head = head  # the newest event id known to be committed
        self._subscriptions: set[Subscription] = set()
        self._outside: asyncio.Task[None] | None = None
        self._watches: list[Watch] = []  # at close: their tasks to wait for
        self.closed = False

    def subscribe(self, after: int | None = None, *, limit: int = BUFFER) -> Subscription:
        """Every event after `after` (default: from now on)."""
        subscription = Subscription(self, self.head if after is None else after, limit)
        self._add(subscription)
        return subscription

    def watch(self, callback: Callback, *, after: int | None = None) -> Watch:
        """Call `callback` with every event from now on (or after `after`), in order."""
        watch = Watch(self, self.head if after is None else after, BUFFER, callback)
        self._add(watch)
        if watch._stale:
            watch._start()
        return watch

    def _add(self, subscription: Subscription) -> None:
        if self.closed:
            subscription.close()
        else:
            self._subscriptions.add(subscription)

    async def read(self, after: int, limit: int) -> list[Event]:
        found = await self._source.events(after=after, limit=limit)
        if found and found[-1].id > self.head:
            self.head = found[-1].id
        return found

    def published(self, events: Sequence[Event]) -> None:
        """This process committed `events` (in id order): offer them to every subscriber."""
        if not events:
            return
        self.head = max(self.head, events[-1].id)
        for subscription in tuple(self._subscriptions):
            subscription._offer(events)

    def watch_outside(self) -> None:
        """Follow other processes' writes from now until closed (needs a running loop)."""
        if self._outside is None and not self.closed:
            self._outside = asyncio.get_running_loop().create_task(
                self._follow_outside(), name="registry-changes"
            )

    async def _follow_outside(self) -> None:
        while True:
            try:
                async for _ in self._source.outside_changes():
                    latest = await self._source.last_event_id()
                    self.head = max(self.head, latest)
                    for subscription in tuple(self._subscriptions):
                        subscription._outside_changed(latest)
            except Exception as error:  # a read failed, or the notifications stopped
                text = error.message if isinstance(error, ControlRoomError) else repr(error)
                log.warning("following other processes' writes: %s", text)
            await asyncio.sleep(RETRY_SECONDS)

    async def close(self) -> None:
        """End every subscription (their iterations end) and stop following."""
        self.closed = True
        self._watches = [s for s in self._subscriptions if isinstance(s, Watch)]
        for subscription in tuple(self._subscriptions):
            subscription.close()
        jobs = [self._outside] if self._outside is not None else []
        jobs += [s._pump for s in self._watches if s._pump is not None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
