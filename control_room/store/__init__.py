"""Persistence behind one small async interface; embedded SQLite is the default."""

from control_room.store.registry import Listener, Registry
from control_room.store.sqlite import SqliteRegistry

__all__ = ["Listener", "Registry", "SqliteRegistry"]
