"""`control-room serve` as a real child process on a free port of 127.0.0.1, for tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.conftest import run_cli
from tests.serving import free_port


@dataclass
class Served:
    url: str
    port: int
    home: Path
    process: subprocess.Popen[str]

    @property
    def operator(self) -> dict[str, str]:
        token = (self.home / "operator.token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def join(self, name: str = "agent") -> str:
        """A newly registered agent's token."""
        answer = httpx2.post(
            f"{self.url}/api/agents",
            json={"name": name, "capabilities": ["*"]},
            headers=self.operator,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["token"])


def start_serve(home: Path, port: int | None = None) -> Served:
    """Start serve on `home` (initialised if new) and wait until /api/health answers."""
    if not (home / "operator.token").exists():
        assert run_cli("init", data_dir=home).returncode == 0
    port = port or free_port()
    script = Path(sys.executable).with_name("control-room")
    process = subprocess.Popen(
        [str(script), "--data-dir", str(home), "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx2.get(f"{url}/api/health", timeout=1).status_code == 200:
                return Served(url, port, home, process)
        except httpx2.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, errors = process.communicate(timeout=10)
            raise AssertionError(f"serve did not start: {errors}")
        time.sleep(0.05)


def stop(served: Served) -> str:
    """Stop it (SIGKILL if SIGTERM is not enough) and return what it wrote on stderr."""
    if served.process.poll() is None:
        served.process.terminate()
    try:
        _, errors = served.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        _, errors = served.process.communicate(timeout=10)
    return errors or ""


@contextmanager
def serving(home: Path) -> Iterator[Served]:
    served = start_serve(home)
    try:
        yield served
    finally:
        errors = stop(served)
        assert "Traceback" not in errors, errors
