"""Persistence behind one small async interface; embedded SQLite is the default, PostgreSQL
(`open_registry("postgresql://...")`) for several machines."""

from control_room.store.choose import open_registry
from control_room.store.registry import Listener, Registry
from control_room.store.sqlite import SqliteRegistry

__all__ = ["Listener", "Registry", "SqliteRegistry", "open_registry"]
