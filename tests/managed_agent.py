"""A managed agent for the tests: it knows nothing of Control Room (no token, no API calls), it
just works in its directory and exits: `python tests/managed_agent.py MODE PROMPT_FILE [SECONDS]`.

Both copy the prompt they were given to seen-prompt.md beside it. MODE: `fail` prints a few
coloured lines (escape sequences, a carriage-return progress line) and exits 1; `work` writes
`work.txt` and commits it when in git, leaves `notes.txt` uncommitted, sleeps SECONDS (to
outlive a lease) and exits 0.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main(mode: str, prompt_file: str, seconds: float) -> int:
    prompt = Path(prompt_file).read_text()
    Path(prompt_file).with_name("seen-prompt.md").write_text(prompt)
    if mode == "fail":
        print("\x1b[1mstarting\x1b[0m", flush=True)
        print("progress 10%\rprogress 50%\rprogress 99%", flush=True)
        print("\x1b[31mError: the model refused\x1b[0m \x1b]0;title\x07done", flush=True)
        return 1
    Path("work.txt").write_text("the work\n")
    if Path(".git").exists():
        subprocess.run(["git", "add", "work.txt"], check=True)
        subprocess.run(
            ["git", "-c", "user.name=agent", "-c", "user.email=agent@example.com",
             "commit", "-q", "-m", "work"],
            check=True,
        )  # fmt: skip
    Path("notes.txt").write_text("not committed\n")
    print("wrote work.txt", flush=True)
    time.sleep(seconds)
    print("\x1b[32mall done\x1b[0m", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.0))
