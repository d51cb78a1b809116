"""Planning from a spec: the planning task (pinned to a planner agent type, so routing spawns
it at once), the planner's proposal (validated like `task import`, stored as a plan that
waits in the inbox) and the operator's approval (every task created at once) or rejection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from control_room.domain import InvalidInput, Task, parse_task_spec
from control_room.domain import specs as check
from control_room.domain.plans import PLANNING_TYPE, Plan, parse_proposal
from control_room.store import Registry, plan_ops

if TYPE_CHECKING:
    from control_room.engine.service import Coordinator


class PlanDesk:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @property
    def _registry(self) -> Registry:
        return self.coordinator.registry

    async def add(self, spec: str, name: str, agent_type: str, actor: str = "operator") -> Task:
        """A planning task whose description is the spec (untrusted data, like any task's)."""
        if not spec.strip():
            raise InvalidInput("spec", "the spec is empty")
        title = check.one_line(f"Plan: {name}"[: check.TITLE_MAX], "title", check.TITLE_MAX)
        try:
            task = parse_task_spec(
                {"title": title, "description": spec, "type": PLANNING_TYPE, "priority": "P1",
                 "capabilities": ["planning"]}
            )  # fmt: skip
        except InvalidInput as error:
            raise InvalidInput("spec", error.detail) from None
        return await self._registry.write(plan_ops.add_planning_task, task, agent_type, actor)

    async def propose(self, task_id: str, agent_id: str, epoch: int, tasks: Any) -> Plan:
        task_id = check.reference(task_id, "taskId")
        epoch = check.integer(epoch, "epoch", 0, 2**62)
        proposal = parse_proposal(tasks)
        return await self._registry.write(plan_ops.propose, task_id, agent_id, epoch, proposal)

    async def get(self, plan_id: str) -> Plan:
        return await self._registry.get_plan(check.reference(plan_id, "plan_id"))

    async def approve(self, plan_id: str, actor: str = "operator") -> tuple[Plan, list[Task]]:
        plan_id = check.reference(plan_id, "plan_id")
        return await self._registry.write(plan_ops.approve, plan_id, actor)

    async def reject(self, plan_id: str, reason: str, actor: str = "operator") -> Plan:
        plan_id = check.reference(plan_id, "plan_id")
        return await self._registry.write(plan_ops.reject, plan_id, check.reason(reason), actor)
