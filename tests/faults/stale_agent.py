"""An outside agent process for the stale-holder test (tests/faults/test_leases.py).

    CONTROL_ROOM_URL=... CONTROL_ROOM_TOKEN=... python -m tests.faults.stale_agent TASK_ID

Claims TASK_ID over REST and prints one JSON line with the answer (status, epoch), then waits for
a line on stdin. Once told to go on it sends progress, then complete, both with the epoch of its
claim, and prints one JSON line per answer: the HTTP status and the parsed body. Standard library
only, so the process is small and starts fast; every line is flushed at once.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any


def call(url: str, token: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{url}/api{path}", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, raw.decode(errors="replace")


def say(**line: Any) -> None:
    print(json.dumps(line), flush=True)


def main() -> int:
    url, token = os.environ["CONTROL_ROOM_URL"], os.environ["CONTROL_ROOM_TOKEN"]
    task_id = sys.argv[1]
    status, body = call(url, token, "/tasks/claim", {"task_id": task_id})
    epoch = body["lease"]["epoch"] if status == 200 else None
    say(step="claim", status=status, epoch=epoch, body=body)
    if epoch is None:
        return 1
    if sys.stdin.readline().strip() != "go":  # the test's signal to go on (after SIGCONT)
        return 2
    progress = {"epoch": epoch, "percent": 90, "note": "the stale holder was here"}
    status, body = call(url, token, f"/tasks/{task_id}/progress", progress)
    say(step="progress", status=status, body=body)
    done = {"epoch": epoch, "summary": "handed in by the stale holder", "files": ["stale.py"]}
    status, body = call(url, token, f"/tasks/{task_id}/complete", done)
    say(step="complete", status=status, body=body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
