"""`GET /metrics`: the engine's figures in Prometheus text format (prometheus-client).

Who may read it: a scraper on this machine (a loopback peer address) without a token, anyone
else with the operator token (`Authorization: Bearer <token>`). The figures are counts, times
and costs, never task text. A reverse proxy on the same machine makes every request loopback:
block /metrics there, or let the proxy add nothing and scrape from a loopback address."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from control_room.domain import Status
from control_room.domain.stats import Spread, Stats
from control_room.engine import Coordinator
from control_room.engine.metrics import MetricsSource, Snapshot
from control_room.server import rest
from control_room.server.auth import Authenticator

P = "control_room_"


def loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _gauge(name: str, doc: str, value: float | None) -> Iterable[Metric]:
    if value is not None:
        yield GaugeMetricFamily(P + name, doc, value=value)


def _labelled(name: str, doc: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(P + name, doc, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def _spread(name: str, doc: str, s: Spread) -> GaugeMetricFamily:
    quantiles = {"0.5": s.median, "0.9": s.p90}
    return _labelled(name, doc, "quantile", {k: v for k, v in quantiles.items() if v is not None})


def _stats(s: Stats) -> Iterable[Metric]:
    if s.since is not None:
        yield from _gauge(
            "stats_window_seconds",
            "The stats figures cover tasks added in this window",
            s.now - s.since,
        )
    yield _labelled(
        "tasks_started", "Tasks claimed at least once, by who made the first claim", "how",
        {"auto": s.started_auto, "by_hand": s.started_by_hand},
    )  # fmt: skip
    yield from _gauge(
        "auto_start_ratio", "Share of started tasks first claimed by a spawned agent", s.auto_share
    )
    yield from _gauge(
        "first_attempt_success_ratio",
        "Finished tasks completed on their first attempt",
        s.first_attempt_rate,
    )
    yield _spread("time_to_completed_seconds", "Time from added to completed", s.to_completed)
    yield _spread("time_to_merged_seconds", "Time from added to merged", s.to_merged)
    yield from _gauge("cost_usd", "Cost of every run of a spawned agent", s.cost_usd)
    yield from _gauge("agent_hours", "Run time of spawned agents, hours", s.agent_hours)
    yield from _gauge("cost_per_completed_usd", "Cost per completed task", s.cost_per_completed)
    yield from _gauge(
        "agent_hours_per_completed", "Agent hours per completed task", s.agent_hours_per_completed
    )
    yield from _gauge("stalls", "Agents stopped as stalled (events)", s.stalls)
    yield from _gauge(
        "permission_requests", "Permission requests of spawned agents", s.permission_requests
    )
    yield _spread("permission_wait_seconds", "Wait for the operator's answer", s.permission_wait)


class Families(Collector):
    """One scrape's figures as metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterable[Metric]:
        live = self.snap.live
        tasks = {str(s): 0 for s in Status} | live["tasks"]
        yield _labelled("tasks", "Tasks by status", "status", tasks)
        yield from _gauge("agents_live", "Registered agents not revoked", live["agents_live"])
        yield from _gauge("runs_live", "Spawned agents running", live["runs_live"])
        yield _labelled(
            "inbox_items", "What waits for the operator, by kind", "kind", live["inbox"]
        )
        events = CounterMetricFamily(P + "events", "Events logged, by kind", labels=["kind"])
        for kind, n in self.snap.events.items():
            events.add_metric([kind], n)
        yield events
        ages = {h.name: h.last_run_age for h in self.snap.loops if h.last_run_age is not None}
        yield _labelled("loop_last_run_age_seconds", "Since the loop's last step", "loop", ages)
        failing = {h.name: float(h.failing) for h in self.snap.loops}
        yield _labelled("loop_failing", "1 when the loop's last step failed", "loop", failing)
        runs = CounterMetricFamily(P + "loop_runs", "Steps the loop ran", labels=["loop"])
        for h in self.snap.loops:
            runs.add_metric([h.name], h.runs)
        yield runs
        if self.snap.stats is not None:
            yield from _stats(self.snap.stats)


def endpoint(
    coordinator: Coordinator, auth: Authenticator
) -> Callable[[Request], Awaitable[Response]]:
    source = MetricsSource(coordinator)

    async def metrics(request: Request) -> Response:
        if not loopback(request.client.host if request.client else None):
            caller = await auth.caller(request.headers.get("authorization"))
            if caller is None:
                hint = "send the operator token (Bearer <token>), or scrape from this machine"
                return rest.error(401, "unauthorized", hint)
            if caller.role != "operator":
                return rest.error(403, "forbidden", "/metrics needs the operator token")
        body = generate_latest(Families(await source.snapshot()))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return metrics
