"""The coordinator and its loops; never imports a user interface or a web framework."""

from control_room.engine.service import Coordinator
from control_room.engine.setup import init_home, open_coordinator

__all__ = ["Coordinator", "init_home", "open_coordinator"]
