"""Plain data and rules, standard library only: tasks, agents, leases, events, statuses."""

from control_room.domain.errors import (
    Conflict,
    ControlRoomError,
    InactiveAgent,
    InvalidInput,
    NotFound,
    NothingToClaim,
    StoreError,
)
from control_room.domain.models import (
    Agent,
    AgentStatus,
    Claim,
    Decision,
    Event,
    Lease,
    RoutingDecision,
    Run,
    Task,
)
from control_room.domain.priority import Priority, parse_priority
from control_room.domain.specs import TaskSpec, parse_task_spec
from control_room.domain.status import Action, Status

__all__ = [
    "Action",
    "Agent",
    "AgentStatus",
    "Claim",
    "Conflict",
    "ControlRoomError",
    "Decision",
    "Event",
    "InactiveAgent",
    "InvalidInput",
    "Lease",
    "NotFound",
    "NothingToClaim",
    "Priority",
    "RoutingDecision",
    "Run",
    "Status",
    "StoreError",
    "Task",
    "TaskSpec",
    "parse_priority",
    "parse_task_spec",
]
