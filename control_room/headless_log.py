"""What a headless Control Room writes on stderr: plain lines a log collector can take as they
are. A JSON line when it starts serving (url, pid, version) and when it stops; log records as
one plain line each (no Rich panels or wrapping that split paths), untrusted text escaped; a
known refusal (a ControlRoomError such as the registry being unavailable) is its one sentence,
anything else keeps its traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

from control_room import __version__
from control_room.domain import ControlRoomError
from control_room.domain.text import json_text, printable


def status_line(event: str, **data: Any) -> None:
    """{"event": "started"|"stopped", "pid", "version", "time", ...} on stderr."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = {"event": event, "pid": os.getpid(), "version": __version__, "time": when, **data}
    print(json_text(line), file=sys.stderr, flush=True)


class PlainFormatter(logging.Formatter):
    """`control-room: <level>: <message>`, controls shown as U+FFFD; a traceback, if any,
    follows on its own plain lines."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if not message.startswith("control-room:"):
            message = f"control-room: {record.levelname.lower()}: {message}"
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ControlRoomError):  # a known refusal: its sentence says it all
            message += f": {error.message}"
        text = printable(message).replace("\n", " | ")
        if record.exc_info and not isinstance(error, ControlRoomError):
            text += "\n" + printable(self.formatException(record.exc_info))
        return text


def plain_stderr(level: int = logging.INFO) -> None:
    """Replace the root logger's handlers by one writing plain lines to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level)
