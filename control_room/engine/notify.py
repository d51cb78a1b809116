"""The notifier: tells the operator, through apprise, when a task needs a person.

`Notifier.on_events` is a registry listener: a task that starts AWAITING_APPROVAL, becomes
BLOCKED or FAILED is queued for every URL of `[notify] urls` (json://, ntfys://, mailto://,
slack://, ... any apprise URL). `loop` ("notifier") sends what is queued, several waiting notices
as one message per URL; a URL that fails keeps its notices for the next run, and the failure
shows as the loop's last error. Task and agent text is untrusted: control characters go and long
text is cut. URLs hold secrets: they are never logged, and errors show them masked.
An agent's permission request (`permission_requested`), an agent stopped as stuck (`stalled`)
and the daily budget spent (`daily_budget`) are notified the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from apprise import Apprise, NotifyType

from control_room.domain import Event, InvalidInput, Status
from control_room.engine.loops import Loop

log = logging.getLogger(__name__)
QUEUE_MAX = 100  # per URL; when full the oldest notice is dropped, counted and reported
TEXT_MAX = 500
SHOWN_MAX = 10  # notices written out in one message; the rest are named by task id
SEND_TIMEOUT = 30.0
WHAT = {  # what the title says, and the command that acts on it
    Status.AWAITING_APPROVAL: ("awaits approval", "approve: control-room task approve {id}"),
    Status.BLOCKED: ("is BLOCKED", "unblock: control-room task approve {id} (or task retry {id})"),
    Status.FAILED: ("FAILED", "retry: control-room task retry {id}"),
}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,19}")
_HOST = re.compile(r"(localhost|[\w-]{1,63}(\.[\w-]{1,63})+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?", re.A)


class NotificationFailed(Exception):
    """A URL could not be reached; its notices stay queued for the next run."""


def clean(text: str, limit: int = TEXT_MAX) -> str:
    """`text` as one line without control characters, at most `limit` characters."""
    text = " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mask(url: str) -> str:
    """`url` with anything that may be a secret (user, password, tokens, path, query) as ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        return "***"
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    _, at, host = netloc.rpartition("@")
    shown = host if _HOST.fullmatch(host) else "***"
    return f"{scheme}://{'***@' if at else ''}{shown}{'/***' if rest[len(netloc) :] else ''}"


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    """Apprise logs a URL it rejects whole, tokens included: not in our logs. Its first use
    loads its plugins, one of which imports the deprecated `imghdr`: not a warning of ours."""
    logger = logging.getLogger("apprise")
    was, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            yield
    finally:
        logger.disabled = was


@dataclass(frozen=True, slots=True)
class _Notice:
    task_id: str
    verb: str  # what the title says of the task
    text: str
    failed: bool = False
    title: str = ""  # the title when sent alone, instead of "task ID VERB"


@dataclass(slots=True)
class _Target:
    label: str  # the URL, masked
    sender: Apprise
    queue: deque[_Notice] = field(default_factory=deque)
    dropped: int = 0  # notices lost to a full queue and not yet reported


def _target(url: str) -> _Target:
    sender = Apprise()
    with _apprise_quiet():
        usable = isinstance(url, str) and sender.add(url)
    if not usable:
        bad = f"{mask(str(url))} is not a notification URL apprise understands"
        raise InvalidInput("notify.urls", bad)
    return _Target(mask(url), sender)


def _permission_notice(event: Event) -> _Notice:
    task_id = clean(event.task_id or "-", 64)
    request = clean(str(event.data.get("request", "?")), 20)
    lines = [
        f"Agent {clean(event.agent_id or '-', 64)} on task {task_id} asks for permission:",
        clean(event.message),
        f"allow: control-room permission allow {shlex.quote(request)} (--always for the task)",
        f"deny: control-room permission deny {shlex.quote(request)} --reason '...'",
    ]
    return _Notice(task_id, "asks for permission", "\n".join(lines))


def _stalled_notice(event: Event) -> _Notice:
    task_id = clean(event.task_id or "-", 64)
    lines = [
        f"Task {task_id}: {clean(event.message)}.",
        "Its task went back to the queue (an attempt counts).",
        f"details: control-room task show {shlex.quote(task_id)}",
    ]
    return _Notice(task_id, "stalled", "\n".join(lines))


def _budget_notice(event: Event) -> _Notice:
    text = f"The daily budget is spent: {clean(event.message)}."
    return _Notice("-", "budget", text, title="the daily budget is spent")


def _plan_notice(event: Event) -> _Notice:
    task_id = clean(event.task_id or "-", 64)
    plan = shlex.quote(clean(str(event.data.get("plan", "?")), 20))
    lines = [
        f"Planning task {task_id}: {clean(event.message)}.",
        f"see: control-room plan show {plan}",
        f"approve: control-room plan approve {plan}; reject: ... plan reject {plan} --reason '...'",
    ]
    return _Notice(task_id, "proposed a plan", "\n".join(lines))


def _notice(event: Event) -> _Notice | None:
    if event.kind == "permission_requested":
        return _permission_notice(event)
    if event.kind == "stalled":
        return _stalled_notice(event)
    if event.kind == "daily_budget":
        return _budget_notice(event)
    if event.kind == "plan_proposed":
        return _plan_notice(event)
    if event.to_status not in WHAT or event.to_status == event.from_status or not event.task_id:
        return None
    task_id = clean(event.task_id, 64)
    verb, act = WHAT[event.to_status]
    agent = f" (agent {clean(event.agent_id, 64)})" if event.agent_id else ""
    lines = [
        f"Task {task_id} {verb}{agent}.",
        f"Reason: {clean(event.message) or '(none given)'}",
        act.format(id=shlex.quote(task_id)),
        f"details: control-room task show {shlex.quote(task_id)}",
    ]
    failed = event.to_status is Status.FAILED
    return _Notice(task_id, verb, "\n".join(lines), failed)


class Notifier:
    """`on_events` queues, `loop` sends. `sent` and `failed` count messages (one per URL per
    run, however many notices it carries); `dropped`, notices lost to a full queue."""

    INTERVAL = 5.0

    def __init__(self, urls: Sequence[str], *, title_prefix: str = "Control Room") -> None:
        self.title_prefix = clean(title_prefix, 80)
        self.sent = self.failed = self.dropped = 0
        self.loop = Loop("notifier", self.INTERVAL, self.step)
        self._targets = [_target(url) for url in urls]

    def on_events(self, events: Sequence[Event]) -> None:
        """Registry listener: queue a notice per task that needs a person; cheap, never blocks."""
        notices = [n for e in events if (n := _notice(e)) is not None] if self._targets else []
        for target in self._targets:
            for notice in notices:
                target.queue.append(notice)
            self._trim(target)
        if notices:
            self.loop.poke()

    async def step(self) -> None:
        """Send what is queued, one message per URL; raise when a URL failed."""
        busy = [t for t in self._targets if t.queue]
        outcomes = await asyncio.gather(*(self._send(t) for t in busy), return_exceptions=True)
        errors = [
            str(o) if isinstance(o, NotificationFailed) else f"{t.label}: {type(o).__name__}"
            for t, o in zip(busy, outcomes, strict=True)
            if o is not None
        ]
        if errors:
            raise NotificationFailed("; ".join(errors))

    async def _send(self, target: _Target) -> None:
        batch, dropped, target.dropped = list(target.queue), target.dropped, 0
        target.queue.clear()
        delivered = False
        try:
            title, body, kind = self._message(batch, dropped)
            result = await target.sender.async_notify(
                body=body, title=title, notify_type=kind, timeout=SEND_TIMEOUT
            )
            delivered = bool(result)
        finally:
            if not delivered:  # failed, raised or cancelled: back to the front of the queue
                target.queue.extendleft(reversed(batch))
                target.dropped += dropped
                self._trim(target)
                self.failed += 1
        if not delivered:
            raise NotificationFailed(f"could not notify {target.label}; {len(batch)} kept")
        self.sent += 1
        log.info("notified %s of %d task(s)", target.label, len(batch))

    def _trim(self, target: _Target) -> None:
        while len(target.queue) > QUEUE_MAX:
            target.queue.popleft()
            target.dropped += 1
            self.dropped += 1

    def _message(self, batch: list[_Notice], dropped: int) -> tuple[str, str, NotifyType]:
        if len(batch) == 1 and batch[0].title:
            title = f"{self.title_prefix}: {batch[0].title}"
        elif len(batch) == 1:
            title = f"{self.title_prefix}: task {batch[0].task_id} {batch[0].verb}"
        else:
            title = f"{self.title_prefix}: {len(batch)} tasks need you"
        parts = [n.text for n in batch[:SHOWN_MAX]]
        if rest := batch[SHOWN_MAX:]:
            ids = ", ".join(dict.fromkeys(n.task_id for n in rest))
            parts.append(f"And {len(rest)} more: {ids} (control-room task list)")
        if dropped:
            parts.append(f"{dropped} more not sent (too many at once; see control-room events).")
        failed = any(n.failed for n in batch)
        kind = NotifyType.FAILURE if failed else NotifyType.WARNING
        return title, "\n\n".join(parts), kind
