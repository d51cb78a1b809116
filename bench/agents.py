"""Many outside agents heartbeating against a real server: does each keep its one connection?

N simulated agents (default 1,000; --agents 2000 for the issue's larger case), each with its own
token and ONE keep-alive HTTP/1.1 connection, loop: claim -> progress (the heartbeat) every
--heartbeat seconds while holding the task for --hold seconds -> complete, for --seconds,
against `control-room serve` (and/or `run --headless`, with --against). Agents start spread
over one heartbeat interval. Printed per server: claim and progress p50/p99/max, completed
cycles, errors, connections the server closed (an agent found its connection closed and
reconnected), and the server process's CPU and RSS (from /proc).

    python bench/agents.py [--agents N] [--seconds S] [--heartbeat S] [--hold S]
                           [--against serve,run] [--keep-alive S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from control_room.config import Home, Settings
from control_room.engine import init_home, open_coordinator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from claims import percentile  # noqa: E402
from http_claims import free_port, wait_until_up  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Closed(Exception):
    """The server closed the connection (EOF or reset) before answering."""


@dataclass
class Figures:
    claim: list[float] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    cycles: int = 0
    errors: int = 0
    closed_by_server: int = 0
    nothing_to_claim: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


class Connection:
    """One agent's keep-alive connection; a request on a connection the server closed is
    counted, reconnected and sent again (the only retry an agent here makes)."""

    def __init__(self, port: int, token: str, figures: Figures) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        self.figures = figures
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def _once(self, path: str, data: bytes) -> tuple[int, dict[str, object]]:
        assert self.reader is not None and self.writer is not None
        if self.reader.at_eof():
            raise Closed
        try:
            self.writer.write(
                f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await self.writer.drain()
            line = await self.reader.readline()
        except (ConnectionError, BrokenPipeError):
            raise Closed from None
        if not line:
            raise Closed
        status = int(line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
            if name.lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        body = json.loads(await self.reader.readexactly(length)) if length else {}
        if close:  # the server says it will close after this answer
            self.figures.closed_by_server += 1
            self.close()
            await self.connect()
        return status, body

    async def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        data = json.dumps(body).encode()
        try:
            return await self._once(path, data)
        except Closed:
            self.figures.closed_by_server += 1
            self.close()
            await self.connect()
            return await self._once(path, data)


async def agent(
    port: int, token: str, args: argparse.Namespace, figures: Figures, stop_at: float
) -> None:
    await asyncio.sleep(random.uniform(0, args.heartbeat))  # spread the starts
    http = Connection(port, token, figures)
    await http.connect()
    try:
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            status, body = await http.post("/api/tasks/claim", {})
            figures.claim.append(time.perf_counter() - started)
            if status == 404:
                figures.nothing_to_claim += 1
                await asyncio.sleep(args.heartbeat)
                continue
            if status != 200:
                figures.error(f"claim {status} {body}")
                await asyncio.sleep(args.heartbeat)
                continue
            task, lease = body["task"], body["lease"]
            assert isinstance(task, dict) and isinstance(lease, dict)
            path, epoch = f"/api/tasks/{task['id']}", lease["epoch"]
            held_until = time.monotonic() + args.hold
            percent = 0
            while time.monotonic() < min(held_until, stop_at):
                await asyncio.sleep(args.heartbeat)
                percent = min(99, percent + 10)
                started = time.perf_counter()
                status, body = await http.post(
                    f"{path}/progress", {"epoch": epoch, "percent": percent}
                )
                figures.progress.append(time.perf_counter() - started)
                if status != 200:
                    figures.error(f"progress {status} {body}")
            started = time.perf_counter()
            status, body = await http.post(f"{path}/complete", {"epoch": epoch, "summary": "ok"})
            figures.complete.append(time.perf_counter() - started)
            if status == 200:
                figures.cycles += 1
            else:
                figures.error(f"complete {status} {body}")
    except Exception as error:  # a broken agent is an error, not the end of the bench
        figures.error(f"{type(error).__name__}: {error}")
    finally:
        http.close()


async def prepare(home: Home, agents: int, tasks: int) -> list[str]:
    """A registry with `tasks` available tasks and `agents` agents; their tokens."""
    await init_home(home)
    async with open_coordinator(home, Settings()) as coordinator:
        for start in range(0, tasks, 1000):
            await coordinator.add_tasks(
                [{"title": f"bench {i}"} for i in range(start, min(tasks, start + 1000))]
            )
        return [(await coordinator.register_agent(f"bench-{i}", ["*"]))[1] for i in range(agents)]


class Sampler:
    """The server process's CPU seconds and RSS, from /proc, once a second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss: list[int] = []

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def sample_rss(self) -> None:
        pages = int(Path(f"/proc/{self.pid}/statm").read_text().split()[1])
        self.rss.append(pages * PAGE)

    async def run(self, stop_at: float) -> None:
        while time.monotonic() < stop_at:
            self.sample_rss()
            await asyncio.sleep(1)


async def measure(port: int, pid: int, tokens: list[str], args: argparse.Namespace) -> None:
    figures = Figures()
    sampler = Sampler(pid)
    sampler.sample_rss()
    cpu_before, started = sampler.cpu_seconds(), time.monotonic()
    stop_at = started + args.seconds
    await asyncio.gather(
        sampler.run(stop_at), *(agent(port, token, args, figures, stop_at) for token in tokens)
    )
    elapsed = time.monotonic() - started
    cpu = (sampler.cpu_seconds() - cpu_before) / elapsed
    sampler.sample_rss()

    def ms(values: list[float], q: int | None = None) -> str:
        if not values:
            return "-"
        return f"{(max(values) if q is None else percentile(values, q)) * 1000:.1f}"

    for name, values in (
        ("claim", figures.claim),
        ("progress", figures.progress),
        ("complete", figures.complete),
    ):
        print(
            f"    {name:<9} n={len(values):<6} p50 {ms(values, 50):>7} ms  "
            f"p99 {ms(values, 99):>7} ms  max {ms(values):>7} ms"
        )
    mib = [r / 2**20 for r in sampler.rss]
    print(
        f"    cycles {figures.cycles}, nothing to claim {figures.nothing_to_claim}, "
        f"errors {figures.errors}, connections closed by the server {figures.closed_by_server}"
    )
    print(
        f"    server CPU {cpu * 100:.0f}% of a core over {elapsed:.0f} s; RSS start "
        f"{mib[0]:.0f} MiB, max {max(mib):.0f} MiB, end {mib[-1]:.0f} MiB"
    )
    for sample in figures.error_samples:
        print(f"    error: {sample[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds each task is held")
    parser.add_argument("--against", default="serve", help="serve, run or serve,run")
    parser.add_argument(
        "--keep-alive", type=int, help="[server] keep_alive_seconds (default: the config's, 75)"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 2 * args.agents + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the server inherits it
    script = Path(sys.executable).with_name("control-room")
    tasks = int(args.agents * (args.seconds / max(args.hold, 1) + 3))
    for command in args.against.split(","):
        argv = ["serve"] if command == "serve" else ["run", "--headless"]
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
            home = Home(Path(folder) / "data")
            tokens = asyncio.run(prepare(home, args.agents, tasks))
            if args.keep_alive is not None:
                config = home.config.read_text()
                home.config.write_text(
                    config.replace(
                        "keep_alive_seconds = 75", f"keep_alive_seconds = {args.keep_alive}"
                    )
                )
            port = free_port()
            server = subprocess.Popen(
                [str(script), "--data-dir", str(home.root), *argv, "--port", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=folder,
            )
            try:
                wait_until_up(f"http://127.0.0.1:{port}/api/health")
                print(
                    f"  {args.agents} agents against `{' '.join(argv)}` for {args.seconds:.0f} s "
                    f"(heartbeat {args.heartbeat:g} s, tasks held {args.hold:g} s, "
                    f"{tasks} tasks, keep-alive {args.keep_alive or 'from the config'}):",
                    flush=True,
                )
                asyncio.run(measure(port, server.pid, tokens, args))
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
