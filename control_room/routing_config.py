"""Reading the routing rules and agent types of control-room.toml into domain RoutingRules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from control_room.domain import InvalidInput
from control_room.domain import specs as check
from control_room.domain.permissions import PERMISSION_MODES
from control_room.domain.priority import parse_priority
from control_room.domain.routing import DEFAULT_AGENT_TYPES, AgentType, RoutingRules

RUNTIMES = ("claude-code", "anthropic", "command")
ROUTING_KEYS = (
    "spawn_priorities", "approval_types", "max_running", "budget_usd", "daily_budget_usd",
    "default_agent",
)  # fmt: skip
AGENT_KEYS = (
    "name", "runtime", "capabilities", "command", "prompt_via", "model", "max_turns", "managed",
)  # fmt: skip
CLAUDE_KEYS = ("allowed_tools", "disallowed_tools", "permission_mode", "extra_args")


def routing_rules(path: Path, table: Any, agent_tables: Any) -> RoutingRules:
    def where(key: str) -> str:
        return f"{path}: {key}"

    if not isinstance(table, dict):
        raise InvalidInput(where("routing"), "expected a [routing] table")
    unknown = sorted(set(table) - set(ROUTING_KEYS))
    if unknown:
        raise InvalidInput(where(f"routing.{unknown[0]}"), "unknown setting")
    defaults = RoutingRules()
    agent_types = (
        _agent_types(where, agent_tables) if agent_tables is not None else DEFAULT_AGENT_TYPES
    )
    try:
        priorities = frozenset(
            parse_priority(p, "spawn_priorities")
            for p in check.texts(
                table.get("spawn_priorities", sorted(defaults.spawn_priorities)), "spawn_priorities"
            )
        )
        approval = frozenset(
            check.words(
                table.get("approval_types", sorted(defaults.approval_types)), "approval_types"
            )
        )
        max_running = check.integer(
            table.get("max_running", defaults.max_running), "max_running", 0, 1000
        )
        budget = check.number(table.get("budget_usd", defaults.budget_usd), "budget_usd", 0, 10_000)
        daily = check.number(table.get("daily_budget_usd", 0), "daily_budget_usd", 0, 1_000_000)
        # Without default_agent: development-lead among the built-in types, else the first of
        # the user's own [[agent_types]].
        default_name = check.word(
            table.get("default_agent", _default_name(agent_types, agent_tables is None)),
            "default_agent",
        )
    except InvalidInput as error:
        raise InvalidInput(where(f"routing.{error.field}"), error.detail) from None
    default = next((kind for kind in agent_types if kind.name == default_name), None)
    if default is None:
        defined = ", ".join(kind.name for kind in agent_types)
        raise InvalidInput(
            where("routing.default_agent"),
            f"no agent type named {default_name!r} (defined: {defined})",
        )
    return RoutingRules(
        spawn_priorities=priorities,
        approval_types=approval,
        max_running=max_running,
        budget_usd=budget or None,
        daily_budget_usd=daily or None,
        agent_types=agent_types,
        default_agent_type=default,
    )


def _default_name(agent_types: tuple[AgentType, ...], built_in: bool) -> str:
    if built_in or not agent_types:
        return RoutingRules().default_agent_type.name
    return agent_types[0].name


def _agent_types(where: Any, tables: Any) -> tuple[AgentType, ...]:
    if not isinstance(tables, list) or not tables:
        raise InvalidInput(where("agent_types"), "expected one or more [[agent_types]] tables")
    found: list[AgentType] = []
    for number, table in enumerate(tables, 1):
        label = f"agent_types[{number}]"
        if not isinstance(table, dict):
            raise InvalidInput(where(label), "expected a table")
        unknown = sorted(set(table) - set(AGENT_KEYS) - set(CLAUDE_KEYS))
        if unknown:
            raise InvalidInput(where(f"{label}.{unknown[0]}"), "unknown setting")
        try:
            name = check.word(table.get("name", ""), "name")
            runtime = check.word(table.get("runtime", "claude-code"), "runtime")
            capabilities = check.words(table.get("capabilities", []), "capabilities")
            command = check.texts(table.get("command", []), "command")
            prompt_via = check.word(table.get("prompt_via", "stdin"), "prompt_via")
            model = table.get("model")
            model = None if model is None else check.word(model, "model")
            turns = table.get("max_turns")
            turns = None if turns is None else check.integer(turns, "max_turns", 1, 10_000)
            managed = check.boolean(table.get("managed", False), "managed")
        except InvalidInput as error:
            raise InvalidInput(where(f"{label}.{error.field}"), error.detail) from None
        if runtime not in RUNTIMES:
            raise InvalidInput(where(f"{label}.runtime"), f"use one of {', '.join(RUNTIMES)}")
        if runtime == "command" and not command:
            raise InvalidInput(where(f"{label}.command"), "the command runtime needs a command")
        if prompt_via not in ("stdin", "file"):
            raise InvalidInput(where(f"{label}.prompt_via"), "use stdin or file")
        if managed and runtime != "command":
            raise InvalidInput(where(f"{label}.managed"), "only a command agent type is managed")
        if name in (kind.name for kind in found):
            raise InvalidInput(where(f"{label}.name"), f"{name!r} is defined twice")
        claude = claude_options(where, label, table)
        found.append(
            AgentType(
                name,
                runtime,
                capabilities,
                command,
                prompt_via,
                model,
                turns,
                managed=managed,
                **claude,
            )
        )
    return tuple(found)


def claude_options(where: Any, label: str, table: dict[str, Any]) -> dict[str, Any]:
    """The claude-code permission settings given in `table` (lists of strings, one mode)."""
    found: dict[str, Any] = {}
    for key in ("allowed_tools", "disallowed_tools", "extra_args"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(
                isinstance(item, str) and item.strip() for item in value
            ):
                raise InvalidInput(where(f"{label}.{key}"), "must be a list of non-empty strings")
            found[key] = tuple(value)
    if "permission_mode" in table:
        mode = table["permission_mode"]
        if mode not in PERMISSION_MODES:
            raise InvalidInput(
                where(f"{label}.permission_mode"), f"use one of {', '.join(PERMISSION_MODES)}"
            )
        found["permission_mode"] = mode
    return found
