"""Following a growing file (an agent's report) without busy polling: file notifications on
its folder wake the reader, which then reads whatever was appended. Imports nothing from a UI.

Notifications can be coarse (the polling fallback keeps whole-second mtimes and misses appends
within one second), so every wake-up, and a timeout every second, re-checks the file's size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import awatch

RECHECK_MS = 1000


def _read(path: Path, offset: int, limit: int) -> tuple[bytes, int]:
    """What was appended since `offset` (at most the last `limit` bytes), and the new offset."""
    try:
        size = path.stat().st_size
    except OSError:
        return b"", offset
    if size < offset:
        offset = 0  # truncated or replaced: read it again from the start
    if size == offset:
        return b"", offset
    start = max(offset, size - limit)
    with path.open("rb") as handle:
        handle.seek(start)
        return handle.read(size - start), size


async def follow_file(path: Path, *, limit: int = 512 * 1024) -> AsyncIterator[bytes]:
    """Yield the file's content (its last `limit` bytes), then each piece appended to it, for
    as long as the caller iterates. The file may not exist yet."""
    chunk, offset = _read(path, 0, limit)
    if chunk:
        yield chunk
    path.parent.mkdir(parents=True, exist_ok=True)
    async for _ in awatch(
        path.parent, debounce=50, step=20, rust_timeout=RECHECK_MS, yield_on_timeout=True,
        recursive=False,
    ):  # fmt: skip
        chunk, offset = _read(path, offset, limit)
        if chunk:
            yield chunk
