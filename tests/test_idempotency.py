"""Retries are safe: a holder repeating its last accepted write gets 200 with the current
state, a claim by an agent that holds a task names it, and POST /api/tasks takes an
Idempotency-Key (issue 11, finding 5)."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.serve_process import start_serve, stop
from tests.serving import Running, running_server


async def agent_client(server: Running, name: str) -> httpx2.AsyncClient:
    _, token = await server.coordinator.register_agent(name, ["*"])
    headers = {"Authorization": f"Bearer {token}"}
    return httpx2.AsyncClient(base_url=server.url, timeout=30, headers=headers)


async def logged(server: Running, task_id: str) -> list[str]:
    return [e.kind for e in await server.coordinator.events(task_id=task_id)]


async def test_each_holder_write_repeated_answers_the_current_state(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        ids = ("DONE", "GIVEN-BACK", "STUCK", "WORKING", "LATER")
        await server.coordinator.add_tasks([{"id": i, "title": i} for i in ids])
        async with await agent_client(server, "retrier") as http:
            for task_id, op, body, status in (
                ("DONE", "complete", {"summary": "done"}, "COMPLETED"),
                ("GIVEN-BACK", "release", {"reason": "no time"}, "AVAILABLE"),
                ("STUCK", "block", {"reason": "need a key"}, "BLOCKED"),
            ):
                first = await http.post("/api/tasks/claim", json={"task_id": task_id})
                again = await http.post("/api/tasks/claim", json={"task_id": task_id})
                assert first.status_code == again.status_code == 200, again.text
                assert again.json()["lease"]["epoch"] == first.json()["lease"]["epoch"] == 1
                again = await http.post("/api/tasks/claim", json={})  # "the best fit", again
                assert again.status_code == 200 and again.json()["task"]["id"] == task_id
                written = {"epoch": 1, **body}
                answers = [
                    await http.post(f"/api/tasks/{task_id}/{op}", json=written) for _ in range(3)
                ]
                assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
                assert {a.json()["status"] for a in answers} == {status}
                kinds = await logged(server, task_id)
                assert kinds.count("claimed") == 1 and len(kinds) == 3, kinds  # created, 2 writes
                other_epoch = await http.post(
                    f"/api/tasks/{task_id}/{op}", json={**written, "epoch": 2}
                )
                assert other_epoch.status_code == 409, "another epoch is no repeat"
                assert len(await logged(server, task_id)) == 3

            # progress after the claim: a claim now is no repeat; the 409 names task and epoch
            assert (await http.post("/api/tasks/claim", json={"task_id": "WORKING"})).is_success
            progress = {"epoch": 1, "percent": 5}
            assert (await http.post("/api/tasks/WORKING/progress", json=progress)).is_success
            for body in ({}, {"task_id": "WORKING"}, {"task_id": "LATER"}):
                held = await http.post("/api/tasks/claim", json=body)
                assert held.status_code == 409, held.text
                error = held.json()
                assert (error["task_id"], error["epoch"]) == ("WORKING", 1), error
                assert "already holds WORKING (epoch 1)" in error["message"]

            # the released task, claimed by another agent: the old holder's retry is refused
            async with await agent_client(server, "rival") as rival:
                taken = await rival.post("/api/tasks/claim", json={"task_id": "GIVEN-BACK"})
                assert taken.json()["lease"]["epoch"] == 2
                not_mine = await rival.post(
                    "/api/tasks/DONE/complete", json={"epoch": 1, "summary": "me too"}
                )
                assert not_mine.status_code == 409, "another agent's completion is no repeat"
            late = await http.post(
                "/api/tasks/GIVEN-BACK/release", json={"epoch": 1, "reason": "again"}
            )
            assert late.status_code == 409, "claimed again since: no repeat"


async def test_a_repeated_completion_over_mcp_is_no_error(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        task = await server.coordinator.add_task({"title": "over mcp"})
        _, token = await server.coordinator.register_agent("mcp", ["*"])
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(f"{server.url}/mcp", http_client=http)
            async with Client(transport) as client:
                claimed = (await client.call_tool("claimTask", {})).structured_content
                assert claimed is not None
                again = await client.call_tool("claimTask", {})
                assert not again.is_error and again.structured_content == claimed
                args = {"taskId": task.id, "epoch": claimed["epoch"], "summary": "done"}
                for _ in range(2):
                    done = await client.call_tool("completeTask", args)
                    assert not done.is_error, done
                    assert done.structured_content["status"] == "COMPLETED"  # type: ignore[index]
        assert (await logged(server, task.id)).count("completed") == 1


def test_retries_after_serve_is_killed_get_what_was_committed(tmp_path: Path) -> None:
    """The answers are lost (kill -9 right after the writes); the retries to a new serve get
    the committed results, and the idempotency key outlives the process."""
    home = tmp_path / "data"
    served = start_serve(home)
    try:
        token = served.join("survivor")
        agent = {"Authorization": f"Bearer {token}"}
        keyed = served.operator | {"Idempotency-Key": "create-once-7f3a"}
        body = {"id": "KEYED", "title": "made once", "priority": "P0"}
        first = httpx2.post(f"{served.url}/api/tasks", json=body, headers=keyed, timeout=30)
        assert first.status_code == 201, first.text
        claim = httpx2.post(f"{served.url}/api/tasks/claim", json={}, headers=agent, timeout=30)
        assert claim.json()["task"]["id"] == "KEYED"
        done = {"epoch": claim.json()["lease"]["epoch"], "summary": "finished"}
        answer = httpx2.post(
            f"{served.url}/api/tasks/KEYED/complete", json=done, headers=agent, timeout=30
        )
        assert answer.status_code == 200
    finally:
        served.process.send_signal(signal.SIGKILL)
        stop(served)
    served = start_serve(home)
    try:
        url = served.url
        retried = httpx2.post(f"{url}/api/tasks/KEYED/complete", json=done, headers=agent)
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "COMPLETED"
        again = httpx2.post(f"{url}/api/tasks", json=body, headers=keyed)
        assert again.status_code == 200, again.text
        assert again.json()["id"] == "KEYED" and again.json()["status"] == "COMPLETED"
        unkeyed = httpx2.post(f"{url}/api/tasks", json=body, headers=served.operator)
        assert unkeyed.status_code == 409 and "already exists" in unkeyed.json()["message"]
        other = httpx2.post(f"{url}/api/tasks", json={**body, "title": "else"}, headers=keyed)
        assert other.status_code == 422, other.text
        assert other.json()["field"] == "Idempotency-Key"
        fresh = served.operator | {"Idempotency-Key": "another-key"}
        no_id = {"title": "no id given"}
        made = httpx2.post(f"{url}/api/tasks", json=no_id, headers=fresh)
        assert made.status_code == 201
        same = httpx2.post(f"{url}/api/tasks", json=no_id, headers=fresh)
        assert (same.status_code, same.json()["id"]) == (200, made.json()["id"])
        bad = served.operator | {"Idempotency-Key": ""}
        assert httpx2.post(f"{url}/api/tasks", json=no_id, headers=bad).status_code == 422
    finally:
        errors = stop(served)
    assert "Traceback" not in errors, errors
    db = sqlite3.connect(home / "registry.db")
    try:
        assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2, "no task twice"
    finally:
        db.close()
