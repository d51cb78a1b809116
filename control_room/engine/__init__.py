"""The coordinator and its loops; never imports a user interface or a web framework."""

from control_room.engine.bus import EventBus, Lagged
from control_room.engine.service import Coordinator
from control_room.engine.setup import init_home, open_coordinator

__all__ = ["Coordinator", "EventBus", "Lagged", "init_home", "open_coordinator"]
