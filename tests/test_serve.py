"""`control-room serve` as a real process: agents join, share the queue, and it stops cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from control_room.server import openapi
from tests.conftest import run_cli
from tests.serving import free_port

TASKS = 30
FUZZ_EXAMPLES = 400


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    for i in range(TASKS):
        run_cli("task", "add", "--id", f"Q-{i:02d}", "--title", f"queued {i}", data_dir=home)
    port = free_port()
    script = Path(sys.executable).with_name("control-room")
    server = subprocess.Popen(
        [str(script), "--data-dir", str(home), "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx2.get(f"{url}/api/health", timeout=1).status_code == 200:
                break
        except httpx2.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
        time.sleep(0.1)
    yield url, home, server
    if server.poll() is None:
        server.kill()
    server.wait(timeout=10)
    assert server.stderr is not None
    server.stderr.close()


async def rest_agent(url: str, operator: str) -> list[str]:
    async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
        joined = await http.post(
            "/api/agents", json={"name": "rest", "capabilities": ["*"]},
            headers={"Authorization": f"Bearer {operator}"},
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {joined.json()['token']}"}
        done = []
        while True:
            claim = await http.post("/api/tasks/claim", json={}, headers=headers)
            if claim.status_code == 404:
                return done
            assert claim.status_code == 200, claim.text
            task_id, epoch = claim.json()["task"]["id"], claim.json()["lease"]["epoch"]
            body = {"epoch": epoch, "summary": "rest did it"}
            answer = await http.post(f"/api/tasks/{task_id}/complete", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            done.append(task_id)


async def mcp_agent(url: str, operator: str) -> list[str]:
    async with httpx2.AsyncClient(timeout=30) as http:
        joined = await http.post(
            f"{url}/api/agents", json={"name": "mcp", "capabilities": ["*"]},
            headers={"Authorization": f"Bearer {operator}"},
        )  # fmt: skip
        http.headers["Authorization"] = f"Bearer {joined.json()['token']}"
        done = []
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            while True:
                claimed = await client.call_tool("claimTask", {})
                if claimed.is_error:
                    assert "no available task" in claimed.content[0].text  # type: ignore[union-attr]
                    return done
                task = claimed.structured_content
                assert task is not None
                args = {
                    "taskId": task["task"]["id"],
                    "epoch": task["epoch"],
                    "summary": "mcp did it",
                }
                completed = await client.call_tool("completeTask", args)
                assert not completed.is_error, completed
                done.append(task["task"]["id"])


def test_an_mcp_agent_and_a_rest_agent_share_the_queue(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    url, home, server = served
    operator = (home / "operator.token").read_text().strip()

    async def both() -> tuple[list[str], list[str]]:
        return await asyncio.gather(rest_agent(url, operator), mcp_agent(url, operator))

    by_rest, by_mcp = asyncio.run(both())
    assert by_rest and by_mcp, "both agents got work"
    assert not set(by_rest) & set(by_mcp), "no task went to both"
    assert sorted(by_rest + by_mcp) == [f"Q-{i:02d}" for i in range(TASKS)]
    listed = run_cli("task", "list", "--status", "COMPLETED", "--json", data_dir=home).stdout
    assert listed.count('"id"') == TASKS

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    assert server.stderr is not None
    errors = server.stderr.read()
    assert "Traceback" not in errors, errors


def test_fuzzing_the_live_server_finds_no_5xx(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    """Valid and invalid requests for every documented operation, with every kind of token."""
    url, home, server = served
    operator = (home / "operator.token").read_text().strip()
    agent = httpx2.post(
        f"{url}/api/agents", json={"name": "fuzzed", "capabilities": ["*"]},
        headers={"Authorization": f"Bearer {operator}"},
    ).json()["token"]  # fmt: skip
    httpx2.post(f"{url}/api/tasks/claim", json={}, headers={"Authorization": f"Bearer {agent}"})
    schema = schemathesis.openapi.from_dict(openapi.document())
    operations = [
        result.ok() for result in schema.get_all_operations()
        if result.ok().path != "/api/events/stream"  # endless by design; tested elsewhere
    ]  # fmt: skip
    cases = st.one_of(
        op.as_strategy(generation_mode=mode) for op in operations for mode in GenerationMode
    )
    seen: Counter[int] = Counter()

    with httpx2.Client(base_url=url, timeout=10) as http:

        @settings(
            max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=cases, token=st.sampled_from([operator, agent, "garbage", None]))
        def fuzz(case: Any, token: str | None) -> None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            body = case.body
            if not isinstance(body, NotSet | bytes):
                body = json.dumps(body).encode()
            body = None if isinstance(body, NotSet) else body
            answer = http.request(
                case.method, case.formatted_path, params=case.query or None, content=body,
                headers=headers | {"content-type": "application/json"},
            )  # fmt: skip
            seen[answer.status_code] += 1
            assert answer.status_code < 500, (case.method, case.formatted_path, answer.text)
            if answer.status_code >= 400:
                error = answer.json()
                assert set(error) >= {"error", "message"}, error

        fuzz()
        assert http.get("/api/health").status_code == 200
    print(f"\nfuzz statuses: {dict(sorted(seen.items()))}")
    assert seen[401] and seen[422] and (seen[200] or seen[201]), seen
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=15) == 0
    db = sqlite3.connect(home / "registry.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_serve_refuses_remote_addresses_unless_asked(tmp_path: Path) -> None:
    home = tmp_path / "data"
    run_cli("init", data_dir=home)
    result = run_cli("serve", "--host", "0.0.0.0", data_dir=home)
    assert result.returncode == 1 and "--allow-remote" in result.stderr


def test_sigterm_stops_serve_even_with_an_open_event_stream(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    url, home, server = served
    operator = (home / "operator.token").read_text().strip()
    with httpx2.stream(
        "GET", f"{url}/api/events/stream", headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    ) as stream:  # fmt: skip
        next(stream.iter_lines())
        server.send_signal(signal.SIGTERM)
        # Without the graceful-shutdown limit the open stream would hold it up forever.
        assert server.wait(timeout=30) == 0


def test_a_taken_port_is_one_clear_line(served: tuple[str, Path, subprocess.Popen[str]]) -> None:
    url, home, _ = served
    port = url.rsplit(":", 1)[1]
    result = run_cli("serve", "--port", port, data_dir=home)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_validates_handed_in_work(served: tuple[str, Path, subprocess.Popen[str]]) -> None:
    url, home, _ = served
    check = f"{sys.executable} -c 'print(\"checks ran\")'"
    run_cli("task", "add", "--id", "CHECKED", "--title", "with a check", "--priority", "P0",
            "--check", check, data_dir=home)  # fmt: skip
    operator = (home / "operator.token").read_text().strip()

    async def hand_in() -> None:
        async with httpx2.AsyncClient(base_url=url, timeout=30) as http:
            joined = await http.post(
                "/api/agents",
                json={"name": "worker"},
                headers={"Authorization": f"Bearer {operator}"},
            )
            headers = {"Authorization": f"Bearer {joined.json()['token']}"}
            claim = await http.post(
                "/api/tasks/claim", json={"task_id": "CHECKED"}, headers=headers
            )
            body = {"epoch": claim.json()["lease"]["epoch"], "summary": "ready"}
            answer = await http.post("/api/tasks/CHECKED/complete", json=body, headers=headers)
            assert answer.json()["status"] == "VALIDATING"

    asyncio.run(hand_in())
    deadline = time.monotonic() + 20
    while True:
        shown = json.loads(run_cli("task", "show", "CHECKED", "--json", data_dir=home).stdout)
        if shown["status"] != "VALIDATING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert shown["status"] == "COMPLETED"
    assert shown["events"][-1]["kind"] == "checks_passed"


def test_the_loops_are_observable(served: tuple[str, Path, subprocess.Popen[str]]) -> None:
    url, home, _ = served
    operator = {"Authorization": f"Bearer {(home / 'operator.token').read_text().strip()}"}
    time.sleep(2.5)  # both loops have ticked at least once
    loops = {
        loop["name"]: loop
        for loop in httpx2.get(f"{url}/api/loops", headers=operator).json()["loops"]
    }
    assert set(loops) == {"lease-reaper", "validation", "notifier"}
    for loop in loops.values():
        assert loop["runs"] >= 1 and loop["last_error"] is None
        assert loop["next_run"] > loop["last_run"]
    assert httpx2.get(f"{url}/api/loops").status_code == 401
