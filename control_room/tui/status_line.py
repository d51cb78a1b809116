"""The two status lines on top: where the server listens, whether the engine's loops are well,
the key figures (tui/figures.py), the inbox and the count of tasks in each status (from the
registry, capped)."""

from __future__ import annotations

from rich.text import Text

from control_room.domain import Status
from control_room.tui.base import World
from control_room.tui.panes import INBOX


def status_line(
    world: World | None,
    counts: dict[Status, int],
    asking: int,
    cap: int,
    filtered: str = "",
    where: str = "",
    headline: str = "",
    waiting: int = 0,
    narrow: bool = False,
) -> Text:
    """`headline`: the key figures (Stats.headline()); `waiting`: inbox items that are neither
    tasks (approval, BLOCKED) nor permission requests (plans, stalls, the budget); `narrow`:
    a small terminal, where the name, "http://" and the word "loops" make room for the figures."""
    line = Text("" if narrow else "Control Room", style="bold")
    if world is not None:
        line.append(world.url.removeprefix("http://") if narrow else f" · {world.url}", style="dim")
        loops = world.coordinator.loops
        failing = [loop.name for loop in loops if loop.last_error]
        line.append("  " if narrow else "  loops ", style="dim")
        if failing:
            line.append(f"✗ {', '.join(failing)}", style="bold red")
        else:
            line.append("●" if narrow else f"● {len(loops)} ok", style="green")
    if headline:
        line.append(f"  {headline}" if narrow else f"  {headline} (s)", style="bold")
    if where:
        line.append(f"  {where}", style="dim")
    if filtered:
        line.append(f"  filter: {filtered}", style="bold magenta")
    inbox = sum(counts.get(s, 0) for s in INBOX) + asking + waiting
    line.append("\n")
    line.append(
        f"inbox {inbox} (b)" if inbox else "inbox 0",
        style="bold reverse yellow" if inbox else "dim",
    )
    if asking:
        line.append(f"  permission {asking} (p)", style="bold yellow")
    for status in Status:
        count = counts.get(status, 0)
        if count:
            shown = f"{count}+" if count >= cap else str(count)
            line.append(f"  {status.lower().replace('_', ' ')} {shown}")
    return line
