"""The claim's SQL picks exactly what the domain rule says: among tasks the agent can take
(`Agent.can_take`: every required capability, `*` fits all), the highest priority, then oldest."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from control_room.domain import Agent, NothingToClaim
from tests.conftest import coordinator_at

SKILLS = ["backend", "frontend", "ui", "db"]
skills = st.lists(st.sampled_from(SKILLS), max_size=3, unique=True)
tasks = st.lists(st.tuples(st.sampled_from(["P0", "P1", "P2", "P3"]), skills), max_size=8)


@settings(max_examples=60, deadline=None)
@given(tasks=tasks, agent_skills=st.one_of(skills, st.just(["*"])))
def test_auto_claim_follows_the_domain_rule(
    tasks: list[tuple[str, list[str]]], agent_skills: list[str]
) -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as folder:
            async with coordinator_at(Path(folder) / "registry.db") as coordinator:
                added = await coordinator.add_tasks(
                    [{"title": "t", "priority": p, "capabilities": c} for p, c in tasks]
                )
                agent, _ = await coordinator.register_agent("a", agent_skills)
                rule = Agent(agent.id, "a", tuple(agent_skills))
                fitting = [t for t in added if rule.can_take(t.capabilities)]
                expected = min(fitting, key=lambda t: t.priority, default=None)  # stable: oldest
                try:
                    claimed = (await coordinator.claim(agent.id)).task.id
                except NothingToClaim:
                    claimed = None
                assert claimed == (expected.id if expected else None)

    asyncio.run(scenario())
