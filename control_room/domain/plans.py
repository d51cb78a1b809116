"""Plans: the tasks a planner agent proposes from a spec, waiting for the operator's approval.

`parse_proposal` validates a proposal like `task import` validates a file (every task through
parse_task_spec), except that dependencies name another proposed task by its index in the list
(0-based) or an existing task by its id. Errors name the task's index and the field, so a
planner can fix its proposal and send it again. Pure: the store checks the existing ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from control_room.domain.errors import InvalidInput
from control_room.domain.specs import LIST_MAX, TASK_ID, TaskSpec, find_cycle, parse_task_spec

PENDING, APPROVED, REJECTED = "PENDING", "APPROVED", "REJECTED"
PLANNING_TYPE = "planning"
PLANNER = "planner"  # the built-in planner agent type (the anthropic runtime)
PROPOSED_FIELDS = (
    "title", "description", "priority", "type", "capabilities", "criteria", "checks",
    "dependencies",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    task_id: str  # the planning task
    agent_id: str | None
    status: str
    tasks: tuple[dict[str, Any], ...]  # as parse_proposal returns them
    reason: str = ""
    created: tuple[str, ...] = ()  # the ids of the tasks an approval created
    created_at: float = 0.0
    decided_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "task_id": self.task_id, "agent_id": self.agent_id,
            "status": self.status, "tasks": list(self.tasks), "reason": self.reason,
            "created": list(self.created), "created_at": self.created_at,
            "decided_at": self.decided_at,
        }  # fmt: skip


def parse_proposal(raw: Any) -> list[dict[str, Any]]:
    """Each task as a plain dict: the task fields plus `after` (indexes in the list) and
    `depends_on` (existing ids)."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence) or not raw:
        raise InvalidInput("tasks", "must be a non-empty list of tasks")
    if len(raw) > LIST_MAX:
        raise InvalidInput("tasks", f"has {len(raw)} tasks; the limit is {LIST_MAX}")
    parsed = [_one(index, item, len(raw)) for index, item in enumerate(raw)]
    cycle = find_cycle({str(i): [str(a) for a in t["after"]] for i, t in enumerate(parsed)})
    if cycle:
        path = " -> ".join(f"tasks[{i}]" for i in cycle)
        raise InvalidInput(f"tasks[{cycle[0]}].dependencies", f"dependency cycle: {path}")
    return parsed


def _one(index: int, item: Any, count: int) -> dict[str, Any]:
    where = f"tasks[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidInput(where, "must be an object with a title")
    unknown = sorted(set(item) - set(PROPOSED_FIELDS))
    if unknown:
        raise InvalidInput(
            f"{where}.{unknown[0]}", f"unknown field (known: {', '.join(PROPOSED_FIELDS)})"
        )
    fields = {k: v for k, v in item.items() if k != "dependencies" and v is not None}
    try:
        spec = parse_task_spec(fields)
    except InvalidInput as error:
        raise InvalidInput(f"{where}.{error.field}", error.detail) from None
    after, depends_on = _dependencies(where, index, item.get("dependencies") or [], count)
    return {**_fields(spec), "after": after, "depends_on": depends_on}


def _dependencies(where: str, index: int, deps: Any, count: int) -> tuple[list[int], list[str]]:
    field = f"{where}.dependencies"
    if isinstance(deps, str) or not isinstance(deps, Sequence):
        raise InvalidInput(field, "must be a list of task indexes (0-based) or existing task ids")
    after: list[int] = []
    ids: list[str] = []
    for dep in deps:
        if isinstance(dep, int) and not isinstance(dep, bool):
            if not 0 <= dep < count:
                raise InvalidInput(field, f"{dep} is not an index in the list (0 to {count - 1})")
            if dep == index:
                raise InvalidInput(field, "a task cannot depend on itself")
            if dep not in after:
                after.append(dep)
        elif isinstance(dep, str) and TASK_ID.fullmatch(dep):
            if dep not in ids:
                ids.append(dep)
        else:
            raise InvalidInput(field, f"{dep!r} is neither an index in the list nor a task id")
    return after, ids


def _fields(spec: TaskSpec) -> dict[str, Any]:
    return {
        "title": spec.title, "description": spec.description, "priority": str(spec.priority),
        "type": spec.type, "capabilities": list(spec.capabilities),
        "criteria": list(spec.criteria), "checks": list(spec.checks),
    }  # fmt: skip


def specs_with_ids(tasks: Sequence[Mapping[str, Any]], ids: Sequence[str]) -> list[TaskSpec]:
    """The proposed tasks as specs under the given new ids, dependencies resolved."""
    specs = []
    for task, task_id in zip(tasks, ids, strict=True):
        raw = {k: task[k] for k in PROPOSED_FIELDS if k != "dependencies"}
        deps = [ids[i] for i in task["after"]] + list(task["depends_on"])
        specs.append(parse_task_spec({**raw, "id": task_id, "depends_on": deps}))
    return specs


def tree(tasks: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """(depth, index) in display order: each task under the last proposed task it waits for."""
    children: dict[int | None, list[int]] = {}
    for index, task in enumerate(tasks):
        parent = max(task["after"]) if task["after"] else None
        children.setdefault(parent, []).append(index)
    shown: list[tuple[int, int]] = []
    stack = [(0, i) for i in reversed(children.get(None, []))]
    while stack:
        depth, index = stack.pop()
        shown.append((depth, index))
        stack.extend((depth + 1, c) for c in reversed(children.get(index, [])))
    return shown
