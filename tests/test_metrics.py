"""`GET /metrics` through a real uvicorn server, parsed by prometheus-client's own parser: the
figures, counters kept across scrapes, loop health, and who may read it (loopback, or the
operator token from anywhere else)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from control_room.config import Home, Settings
from control_room.domain import ControlRoomError
from control_room.engine import Coordinator, init_home, open_coordinator
from control_room.engine.loops import Loop
from control_room.server.app import create_app
from tests.serving import Running, running_server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def until(condition: Callable[[], object], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def scrape(
    http: httpx2.AsyncClient, **headers: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return samples(answer.text)


async def test_metrics_from_loopback(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        c = server.coordinator
        await c.add_task({"id": "DONE", "title": "done"})
        await c.add_task({"id": "WAIT", "title": "strategy", "type": "strategic"})
        await c.await_approval("WAIT", "strategic work waits", "router")
        agent, _ = await c.register_agent("outside", ["*"])
        claim = await c.claim(agent.id, "DONE")
        await c.complete("DONE", agent.id, claim.lease.epoch, "ok")

        async def broken() -> None:
            raise ControlRoomError("the registry is gone")

        loop = Loop("test-loop", 60, broken)
        c.loops.append(loop)
        running = asyncio.create_task(loop.run())
        try:
            await until(lambda: loop.runs >= 1)
        finally:
            running.cancel()
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
            m = await scrape(http)  # no token: the scraper is on this machine
            assert m[("control_room_tasks", (("status", "COMPLETED"),))] == 1
            assert m[("control_room_tasks", (("status", "AWAITING_APPROVAL"),))] == 1
            assert m[("control_room_tasks", (("status", "FAILED"),))] == 0
            assert m[("control_room_agents_live", ())] == 1
            assert m[("control_room_runs_live", ())] == 0
            assert m[("control_room_inbox_items", (("kind", "approval"),))] == 1
            assert m[("control_room_events_total", (("kind", "created"),))] == 2
            assert m[("control_room_events_total", (("kind", "claimed"),))] == 1
            assert m[("control_room_loop_failing", (("loop", "test-loop"),))] == 1
            assert m[("control_room_loop_runs_total", (("loop", "test-loop"),))] == 1
            assert 0 <= m[("control_room_loop_last_run_age_seconds", (("loop", "test-loop"),))] < 60
            assert m[("control_room_tasks_started", (("how", "by_hand"),))] == 1
            assert m[("control_room_auto_start_ratio", ())] == 0
            assert m[("control_room_first_attempt_success_ratio", ())] == 1
            assert ("control_room_time_to_completed_seconds", (("quantile", "0.5"),)) in m
            assert ("control_room_time_to_merged_seconds", (("quantile", "0.5"),)) not in m
            assert m[("control_room_stats_window_seconds", ())] == pytest.approx(86400)

            # counters grow with the log, counted from where the last scrape stopped
            await c.add_task({"id": "MORE", "title": "more"})
            again = await scrape(http)
            assert again[("control_room_events_total", (("kind", "created"),))] == 3
            assert again[("control_room_events_total", (("kind", "claimed"),))] == 1
            assert again[("control_room_tasks", (("status", "AVAILABLE"),))] == 1


def outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one we can listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only picks the route
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


@asynccontextmanager
async def served_on(folder: Path, host: str) -> AsyncIterator[Running]:
    home = Home(folder / "data")
    await init_home(home)
    token = home.operator_token.read_text().strip()
    async with open_coordinator(home, Settings()) as coordinator:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        app = create_app(coordinator, operator_token=token, host=host, port=port)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        try:
            await until(lambda: server.started or serving.done())
            assert not serving.done(), "the server did not start"
            yield Running(f"http://{host}:{port}", port, home, token, coordinator)
        finally:
            server.should_exit = True
            await serving


async def test_from_elsewhere_metrics_need_the_operator_token(tmp_path: Path) -> None:
    host = outside_address()
    if host is None:
        pytest.skip("this machine has no non-loopback address")
    async with served_on(tmp_path, host) as server:
        c: Coordinator = server.coordinator
        _, agent_token = await c.register_agent("outside", ["*"])
        async with httpx2.AsyncClient(base_url=server.url, timeout=10) as http:
            nobody = await http.get("/metrics")
            assert nobody.status_code == 401
            assert nobody.json()["error"] == "unauthorized"
            agent = await http.get("/metrics", headers={"Authorization": f"Bearer {agent_token}"})
            assert agent.status_code == 403 and agent.json()["error"] == "forbidden"
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            m = await scrape(http, Authorization=f"Bearer {server.operator_token}")
            assert m[("control_room_agents_live", ())] == 1
