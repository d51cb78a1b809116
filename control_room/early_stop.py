"""A stop asked for (SIGINT, SIGTERM) while a server process is still starting, before the
server's own handlers exist: remembered instead of raised, so that start-up completes and the
process then stops cleanly (exit 0), with no traceback from half-opened resources."""

from __future__ import annotations

import signal

_asked = False


def _remember(signum: int, frame: object) -> None:
    global _asked
    _asked = True


def catch_early() -> None:
    """From now on SIGINT and SIGTERM only set a flag, until someone installs other handlers."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _remember)


def asked() -> bool:
    return _asked
