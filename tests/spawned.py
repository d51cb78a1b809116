"""A scripted agent for the engine tests, started by the `command` runtime:
`python tests/spawned.py MODE[,MODE...] RUN_DIR` (one mode per attempt, the last repeats),
identity from the CONTROL_ROOM_* environment, REST only.

MODE: `work` claims, reports progress, completes; `crash` claims then exits 3; `early` exits 4
without claiming; `hang` claims, reports 10% and sleeps; `orphan` works but leaves a child that
sleeps behind; `echo` records what it was given (argv, prompt, environment names, the files in
its working directory) in received.json in its run folder, then works; `report` writes
stream-json usage, then hangs; `partial` claims, writes partial.txt, then exits 3; `wait` claims,
writes work.txt, and completes once a file `go` appears in its run folder; `costly` writes a
stream-json result that cost $0.50, then works.
Working modes write work.txt (the task id) in their working directory before completing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

URL, TOKEN = os.environ["CONTROL_ROOM_URL"], os.environ["CONTROL_ROOM_TOKEN"]
TASK = os.environ["CONTROL_ROOM_TASK_ID"]


def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{URL}/api{path}", json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        data: dict[str, Any] = json.loads(answer.read())
        return data


def main(mode: str, run_dir: str) -> int:
    prompt = sys.stdin.read()
    if mode == "early":
        return 4
    if mode == "echo":
        received = {
            "argv": sys.argv, "prompt": prompt, "cwd": os.getcwd(),
            "env": sorted(k for k in os.environ if k.startswith("CONTROL_ROOM_")),
            "token_in_argv": any(TOKEN in arg for arg in sys.argv),
            "files": sorted(os.listdir(".")),
        }  # fmt: skip
        Path(run_dir, "received.json").write_text(json.dumps(received))
    epoch = call("/tasks/claim", {"task_id": TASK})["lease"]["epoch"]
    print(f"claimed {TASK} epoch {epoch}", flush=True)
    if mode == "crash":
        return 3
    if mode == "partial":
        Path("partial.txt").write_text(f"attempt 1 of {TASK} was here\n")
        return 3
    call(f"/tasks/{TASK}/progress", {"epoch": epoch, "percent": 10, "note": "started"})
    if mode == "report":  # stream-json as Claude Code writes it, then keeps working
        for event in (
            {"type": "assistant"},
            {"type": "assistant"},
            {
                "type": "result",
                "subtype": "success",
                "is_error": False,
                "num_turns": 2,
                "total_cost_usd": 0.12,
            },
        ):
            print(json.dumps(event), flush=True)
    if mode == "costly":
        result = {"type": "result", "subtype": "success", "num_turns": 1, "total_cost_usd": 0.5}
        print(json.dumps(result), flush=True)
    if mode in ("hang", "report"):
        time.sleep(600)
    if mode == "orphan":  # leaves a child behind in its process group, then completes
        child = subprocess.Popen(["sleep", "600"])
        Path(run_dir, "child.pid").write_text(str(child.pid))
    Path("work.txt").write_text(f"{TASK}\n")
    if mode == "wait":
        deadline = time.monotonic() + 60
        while not Path(run_dir, "go").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    call(f"/tasks/{TASK}/complete", {"epoch": epoch, "summary": "done", "files": ["work.txt"]})
    return 0


if __name__ == "__main__":
    modes, run_dir = sys.argv[1].split(","), sys.argv[2]
    attempt = int(Path(run_dir).name)  # runs/<task>/<attempt>
    sys.exit(main(modes[min(attempt, len(modes)) - 1], run_dir))
