"""The demo's flaky check: passes once a notes file has at least N lines (one per attempt), so
the task it guards fails validation on the first attempt and passes on the second.

    python -m control_room.demo.check FILE N
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    path, wanted = Path(argv[0]), int(argv[1])
    lines = path.read_text().splitlines() if path.exists() else []
    if len(lines) >= wanted:
        print(f"{path}: {len(lines)} attempts noted, {wanted} needed: ok")
        return 0
    print(f"{path}: {len(lines)} attempt(s) noted, {wanted} needed: the tests still fail")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
