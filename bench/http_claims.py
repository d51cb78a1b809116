"""Agents over HTTP: claim -> progress -> complete against a real `control-room serve`.

In one run, on this machine:
  * 32 agents (one keep-alive HTTP client each) work 5,000 tasks through the REST door of a
    `control-room serve` process; cycles/s, claim latency p50/p99/max, double claims;
  * the same cycle in-process through the coordination service (no HTTP), 32 claimers;
  * a trivial Starlette route served by uvicorn the same way, hammered by the same clients:
    the ceiling this machine puts on any Python HTTP door.

    python bench/http_claims.py [--tasks N] [--agents N] [--registry postgresql://...]

With --registry URL the HTTP and in-process runs are repeated on PostgreSQL (a fresh database
each, made beside the URL's: bench/pg_bench.py; the server gets it by $CONTROL_ROOM_REGISTRY,
never in argv) and printed beside SQLite's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx2

from control_room.config import Home
from control_room.domain import NothingToClaim
from control_room.engine import init_home, open_coordinator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from claims import percentile  # noqa: E402

TRIVIAL_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def ok(request):
    return JSONResponse({"status": "ok"})
app = Starlette(routes=[Route("/ok", ok, methods=["GET", "POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextlib.contextmanager
def fresh_serve() -> Iterator[tuple[Path, str, subprocess.Popen[bytes]]]:
    """A real `control-room serve` on a new data directory in a temporary folder, on a free
    loopback port: (data directory, base URL, its process); stopped at the end."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "data"
        script = Path(sys.executable).with_name("control-room")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROL_ROOM")}
        subprocess.run([str(script), "--data-dir", str(home), "init"], check=True, env=env,
                       capture_output=True)  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [str(script), "--data-dir", str(home), "serve", "--port", str(port)], env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{url}/api/health")
            yield home, url, server
        finally:
            server.terminate()
            server.wait(timeout=30)


async def fill(home: Home, tasks: int) -> None:
    await init_home(home)
    async with open_coordinator(home) as coordinator:
        for start in range(0, tasks, 1000):
            batch = [{"title": f"bench {i}"} for i in range(start, min(tasks, start + 1000))]
            await coordinator.add_tasks(batch)


class Connection:
    """A bare keep-alive HTTP/1.1 client: a general client (httpx2) costs more CPU per request
    than the server under test, and this machine has two cores for both."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.writer.close()

    async def post(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        data = json.dumps(body).encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length)) if length else {}


async def http_run(port: int, operator: str, agents: int) -> dict[str, float]:
    """Steady-state claim latencies leave out each agent's first claim: those all arrive in the
    same instant at start-up and are reported on their own (`first_claims_max_ms`)."""
    latencies: list[float] = []
    first_claims: list[float] = []
    claimed: Counter[str] = Counter()

    async def agent(index: int) -> int:
        async with Connection(port, operator) as admin:
            _, joined = await admin.post(
                "/api/agents", {"name": f"bench-{index}", "capabilities": ["*"]}
            )
        async with Connection(port, str(joined["token"])) as http:
            cycles = 0
            while True:
                started = time.perf_counter()
                status, body = await http.post("/api/tasks/claim", {})
                if status == 404:
                    return cycles
                (latencies if cycles else first_claims).append(time.perf_counter() - started)
                task, lease = body["task"], body["lease"]
                assert isinstance(task, dict) and isinstance(lease, dict), body
                task_id, epoch = task["id"], lease["epoch"]
                claimed[str(task_id)] += 1
                path = f"/api/tasks/{task_id}"
                await http.post(f"{path}/progress", {"epoch": epoch, "percent": 50})
                await http.post(f"{path}/complete", {"epoch": epoch, "summary": "done"})
                cycles += 1

    started = time.perf_counter()
    cycles = sum(await asyncio.gather(*(agent(i) for i in range(agents))))
    elapsed = time.perf_counter() - started
    return {
        "cycles": cycles,
        "cycles_per_s": cycles / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "first_claims_max_ms": max(first_claims) * 1000,
        "double_claims": sum(1 for n in claimed.values() if n > 1),
    }


async def in_process_run(home: Home, agents: int) -> float:
    async with open_coordinator(home) as coordinator:

        async def claimer(index: int) -> int:
            agent, _ = await coordinator.register_agent(f"inproc-{index}", ["*"])
            cycles = 0
            while True:
                try:
                    claim = await coordinator.claim(agent.id)
                except NothingToClaim:
                    return cycles
                task_id, epoch = claim.task.id, claim.lease.epoch
                await coordinator.progress(task_id, agent.id, epoch, 50)
                await coordinator.complete(task_id, agent.id, epoch, "done")
                cycles += 1

        started = time.perf_counter()
        cycles = sum(await asyncio.gather(*(claimer(i) for i in range(agents))))
        return cycles / (time.perf_counter() - started)


async def trivial_run(port: int, clients: int, requests: int) -> float:
    async def client() -> None:
        async with Connection(port, "none") as http:
            for _ in range(requests // clients):
                await http.post("/ok", {})

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return requests / (time.perf_counter() - started)


def measure(
    folder: Path, args: argparse.Namespace, url: str | None
) -> tuple[dict[str, float], float]:
    """The HTTP run against `control-room serve`, and the in-process one, on one backend."""
    script = Path(sys.executable).with_name("control-room")
    http_home = Home(Path(folder) / "http")
    local_home = Home(Path(folder) / "local")
    with contextlib.ExitStack() as stack:
        if url is not None:
            from pg_bench import fresh_database

            http_home = Home(http_home.root, stack.enter_context(fresh_database(url)))
            local_home = Home(local_home.root, stack.enter_context(fresh_database(url)))
        asyncio.run(fill(http_home, args.tasks))
        asyncio.run(fill(local_home, args.tasks))
        port = free_port()
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        if http_home.url:
            env["CONTROL_ROOM_REGISTRY"] = http_home.url
        server = subprocess.Popen(
            [str(script), "--data-dir", str(http_home.root), "serve", "--port", str(port)],
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/api/health")
            operator = http_home.operator_token.read_text().strip()
            print(f"  {args.agents} agents over HTTP on {args.tasks} tasks ...", flush=True)
            result = asyncio.run(http_run(port, operator, args.agents))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        print("  the same cycle in-process ...", flush=True)
        local = asyncio.run(in_process_run(local_home, args.agents))
    return result, local


def report(
    result: dict[str, float], local: float, args: argparse.Namespace, trivial_rps: float
) -> None:
    http_rps = 3 * result["cycles_per_s"]
    print(f"claim -> progress -> complete, {result['cycles']:.0f} cycles, {args.agents} agents")
    print(f"  over HTTP:     {result['cycles_per_s']:8,.0f} cycles/s  ({http_rps:,.0f} requests/s)")
    print(
        f"  claim latency: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
        f"max {result['max_ms']:.1f} ms (steady state)"
    )
    print(
        f"  start-up:      the {args.agents} first claims, all at once: "
        f"max {result['first_claims_max_ms']:.1f} ms"
    )
    print(f"  double claims: {result['double_claims']:.0f}")
    print(f"  in-process:    {local:8,.0f} cycles/s  (no HTTP, same machine)")
    print(f"  trivial route: {trivial_rps:8,.0f} requests/s  (uvicorn + Starlette, same clients)")
    met = result["cycles_per_s"] >= 1000 and result["p99_ms"] <= 25 and not result["double_claims"]
    print(
        "targets (>= 1,000 cycles/s, p99 claim <= 25 ms, no double claim): "
        + ("met" if met else "MISSED")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--registry", metavar="URL", help="also run on this PostgreSQL server")
    args = parser.parse_args()
    backends: dict[str, str | None] = {"SQLite": None}
    if args.registry:
        backends["PostgreSQL"] = args.registry
    results = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        for name, url in backends.items():
            print(f"{name}:", flush=True)
            results[name] = measure(Path(folder) / name, args, url)
        trivial_port = free_port()
        trivial = subprocess.Popen([sys.executable, "-c", TRIVIAL_APP, str(trivial_port)])
        try:
            wait_until_up(f"http://127.0.0.1:{trivial_port}/ok")
            print("  a trivial Starlette route ...", flush=True)
            trivial_rps = asyncio.run(trivial_run(trivial_port, args.agents, 3 * args.tasks))
        finally:
            trivial.terminate()
            trivial.wait(timeout=30)
    for name, (result, local) in results.items():
        print(f"\n{name}: ", end="")
        report(result, local, args, trivial_rps)


if __name__ == "__main__":
    main()
