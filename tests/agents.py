"""A scripted agent process for the robustness tests: `python -m tests.agents MODE DB N`
(DB: a SQLite file or a PostgreSQL URL).

MODE `work`: N concurrent agents claim and complete tasks until none is left, printing
"<task> <epoch>" after each acknowledged completion (flushed, so a parent that kills this
process knows exactly what was acknowledged). At the end it prints "errors: <count>".
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from control_room.domain import ControlRoomError, NothingToClaim
from control_room.engine import Coordinator
from control_room.store import open_registry


async def agent_loop(coordinator: Coordinator, name: str, errors: list[str]) -> None:
    agent, _token = await coordinator.register_agent(name, ["*"])
    while True:
        try:
            claim = await coordinator.claim(agent.id)
            await coordinator.progress(claim.task.id, agent.id, claim.lease.epoch, 50, "working")
            await coordinator.complete(claim.task.id, agent.id, claim.lease.epoch, "done")
        except NothingToClaim:
            return
        except ControlRoomError as error:
            errors.append(error.message)
            print(f"error {error.message}", file=sys.stderr, flush=True)
            continue
        print(f"{claim.task.id} {claim.lease.epoch}", flush=True)


async def work(path: Path | str, agents: int) -> None:
    registry = await open_registry(path)
    errors: list[str] = []
    try:
        coordinator = Coordinator(registry)
        await asyncio.gather(*(agent_loop(coordinator, f"w{i}", errors) for i in range(agents)))
    finally:
        await registry.close()
    print(f"errors: {len(errors)}", flush=True)


if __name__ == "__main__":
    mode, db, count = sys.argv[1:4]
    assert mode == "work", mode
    asyncio.run(work(db if "://" in db else Path(db), int(count)))
