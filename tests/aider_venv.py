"""The real aider (PyPI `aider-chat`) in its own virtual environment, made once and cached.

The environment lives in `$XDG_CACHE_HOME/control-room-tests/aider-<version>/` (default
`~/.cache/...`). It is built beside that path under a temporary name and renamed into place
when complete, so an interrupted install is never taken for a finished one and two test runs
installing at once do not trip over each other. It is run as `<venv>/bin/python -m aider`,
which keeps working after the rename (the scripts' #! lines would not).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "0.86.2"
INSTALL_SECONDS = 1800


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "control-room-tests"


def aider_python(version: str = VERSION) -> Path:
    """The python of a venv holding aider-chat==`version`, installing it the first time."""
    final = cache_root() / f"aider-{version}"
    marker = final / ".installed"
    if marker.exists():
        return final / "bin" / "python"
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f"{final.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(partial)], check=True, timeout=300)
        pip = [str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
        done = subprocess.run(
            [*pip, f"aider-chat=={version}"],
            capture_output=True, text=True, timeout=INSTALL_SECONDS, env=env,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"installing aider-chat=={version} failed:\n{done.stderr[-3000:]}")
        (partial / ".installed").write_text(version)
        if final.exists() and not marker.exists():  # a broken leftover, not a finished install
            shutil.rmtree(final, ignore_errors=True)
        with contextlib.suppress(OSError):  # someone else finished first: theirs is as good
            partial.rename(final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if not marker.exists():
        raise RuntimeError(f"{final} is not a complete aider environment")
    return final / "bin" / "python"
