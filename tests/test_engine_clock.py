"""Engines on hosts whose clocks disagree, on one PostgreSQL registry: heartbeats are stamped
with the database server's clock and silence is judged by it, so an engine whose clock runs an
hour ahead or behind is neither found gone at once nor kept alive forever by the others.
(On SQLite, one machine, the writer's clock is the registry's: tests/test_shared_registry.py.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from control_room.engine import Coordinator
from control_room.engine.peers import Peers
from control_room.store.postgres import PostgresRegistry
from tests.pg import pg_server, pg_url  # noqa: F401 - fixtures

GONE = 2.0  # seconds of silence before an engine counts as gone
HOUR = 3600.0


def _peers(registry: PostgresRegistry, host: str, clock: Callable[[], float]) -> Peers:
    return Peers(
        Coordinator(registry), Path(f"/data/{host}"), f"http://{host}", gone_seconds=GONE,
        host=host, clock=clock,
    )  # fmt: skip


@pytest.mark.parametrize("skew", [HOUR, -HOUR], ids=["an-hour-ahead", "an-hour-behind"])
async def test_a_skewed_engine_is_judged_by_the_database_servers_clock(
    pg_url: str,  # noqa: F811 - fixture
    skew: float,
) -> None:
    def skewed() -> float:
        return time.time() + skew

    first = await PostgresRegistry.open(pg_url, clock=skewed)  # the host with the wrong clock
    second = await PostgresRegistry.open(pg_url)
    try:
        a, b = _peers(first, "alpha", skewed), _peers(second, "beta", time.time)
        await a.register()
        await b.register()
        for _ in range(3):  # both beat and judge each other: nobody is gone
            await a.step()
            await b.step()
        engines = {e.id: e for e in await second.engines()}
        assert set(engines) == {a.engine_id, b.engine_id}, "each sees the other alive"
        assert all(abs(e.seen_at - time.time()) < 5 for e in engines.values()), (
            "heartbeats carry the server's time, not the skewed host's"
        )
        assert abs(a.now() - time.time()) < 5, "the skewed engine reads the registry's time"

        # a falls silent: b finds it gone after GONE seconds of the server's clock, not before
        assert a.engine_id is not None
        last_beat = engines[a.engine_id].seen_at
        deadline = time.monotonic() + 30
        while (found := await second.get_engine(a.engine_id)) and found.stopped_at is None:
            assert time.monotonic() < deadline, "the silent engine was never found gone"
            await b.step()
        assert found is not None and found.stopped_at is not None
        waited = found.stopped_at - last_beat
        assert waited > GONE, f"found gone after {waited:.2f} s of silence"
        print(f"\nclock {skew:+.0f} s: found gone after {waited:.2f} s of silence (gone {GONE} s)")
        # the server runs on this machine: its clock is time.time(), whoever asks
        assert abs(await first.registry_time() - time.time()) < 5
        mine = await second.get_engine(b.engine_id or "")
        assert mine is not None and mine.stopped_at is None
    finally:
        await first.close()
        await second.close()
