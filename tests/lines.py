"""The lines a child process prints, read by a thread as they come, so that a test can wait
for one with a time limit instead of blocking on a pipe."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import IO


class Lines:
    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def ended(self) -> bool:
        return not self._thread.is_alive()

    def wait_for(self, wanted: Callable[[str], bool], within: float = 30) -> str:
        """The first line `wanted` accepts; fails if none came within `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            for line in list(self.lines):
                if wanted(line):
                    return line
            assert not self.ended, f"the stream ended without it: {self.lines[-20:]}"
            assert time.monotonic() < deadline, f"not within {within} s: {self.lines[-20:]}"
            time.sleep(0.02)

    def join(self, within: float = 15) -> list[str]:
        """Every line, once the stream has ended (the process exited)."""
        self._thread.join(timeout=within)
        assert self.ended, "the stream did not end"
        return self.lines
