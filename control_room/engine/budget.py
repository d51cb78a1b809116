"""The daily budget: `[routing] daily_budget_usd` caps what the runs started each day may cost.

Once the recorded cost of the runs started since local midnight (runs.cost_usd: the stream-json
`result` figures, updated while they run) reaches the budget, routing holds every task that
would spawn (rule `daily-budget`) until the next day; agents already running go on. The first
time in a day, a `daily_budget` event is logged: the inbox shows it (kind `budget`) for the
rest of the day, and the notifier sends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from control_room.domain import ControlRoomError
from control_room.engine.service import Coordinator

EVENT = "daily_budget"


def local_midnight(now: float) -> float:
    """The unix time of the last local midnight at or before `now`."""
    day = datetime.fromtimestamp(now).astimezone()
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


class DailyBudget:
    def __init__(
        self,
        coordinator: Coordinator,
        limit_usd: float | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.coordinator = coordinator
        self.limit_usd = limit_usd
        self.clock = clock
        self._noted = ""  # the day the event was logged (or found logged)

    def why(self) -> str:
        """The routing hold's sentence (the same all day, so it is stored once per task)."""
        return (
            f"Today's runs have spent the daily budget of ${self.limit_usd:g} "
            "([routing] daily_budget_usd): nothing new starts until tomorrow."
        )

    async def over(self) -> str | None:
        """Why nothing may spawn now, or None while today's spending is under the budget."""
        if not self.limit_usd:
            return None
        now = self.clock()
        midnight = local_midnight(now)
        spent = await self.coordinator.registry.spent_since(midnight)
        if spent < self.limit_usd:
            return None
        day = datetime.fromtimestamp(now).astimezone().date().isoformat()
        if self._noted != day:
            registry = self.coordinator.registry
            try:
                if not await registry.noted_since(EVENT, midnight):
                    message = (
                        f"the runs started today cost ${spent:.2f}, past the daily budget of "
                        f"${self.limit_usd:g}: no agent starts until tomorrow"
                    )
                    await self.coordinator.note(
                        EVENT, "control-room", message, day=day,
                        spent_usd=round(spent, 4), limit_usd=self.limit_usd,
                    )  # fmt: skip
                self._noted = day
            except ControlRoomError:  # logged at the next pass
                pass
        return self.why()
