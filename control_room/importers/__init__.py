"""Reading other tools' backlogs (Task Master, Backlog.md, GitHub issues) as Control Room tasks.

Each reader returns a `Backlog`: task fields in Control Room's import format, which of them the
source had already finished, and what it skipped. Standard library and domain only.
"""

from control_room.importers.common import Backlog, Imported

__all__ = ["Backlog", "Imported"]
