"""`task edit`: through the coordinator on a real registry file, the real console script, and
PATCH /api/tasks/{id} on a real server. A refused edit changes nothing and logs nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from control_room.domain import Conflict, InvalidInput, NotFound, Status
from control_room.engine import Coordinator
from tests.conftest import run_cli
from tests.serving import running_server


async def edited_events(coordinator: Coordinator, task_id: str) -> list[Any]:
    return [e for e in await coordinator.recent_events(100, task_id=task_id) if e.kind == "edited"]


async def test_fields_change_and_the_edit_is_logged_with_what_changed(
    coordinator: Coordinator,
) -> None:
    task = await coordinator.add_task(
        {"title": "Old", "priority": "P2", "capabilities": ["python"], "checks": ["true"]}
    )
    after = await coordinator.edit_task(
        task.id,
        {"title": "New", "priority": "P1-HIGH", "description": "more", "type": "testing",
         "capabilities": ["rust", "docs"], "criteria": ["it works"], "checks": [],
         "max_attempts": 5},
    )  # fmt: skip
    assert (after.title, str(after.priority), after.description, after.type) == (
        "New", "P1", "more", "testing",
    )  # fmt: skip
    assert after.capabilities == ("rust", "docs") and after.criteria == ("it works",)
    assert after.checks == () and after.max_attempts == 5
    assert (await coordinator.task(task.id)) == after
    [event] = await edited_events(coordinator, task.id)
    assert event.actor == "operator"
    assert event.data["changes"]["title"] == {"from": "Old", "to": "New"}
    assert event.data["changes"]["priority"] == {"from": "P2", "to": "P1"}
    assert event.data["changes"]["checks"] == {"from": ["true"], "to": []}
    assert "depends_on" not in event.data["changes"]
    # The same values again: nothing changes, nothing is logged.
    assert await coordinator.edit_task(task.id, {"title": "New"}) == after
    assert len(await edited_events(coordinator, task.id)) == 1


async def test_a_cycle_an_unknown_dependency_and_a_bad_field_are_refused_changing_nothing(
    coordinator: Coordinator,
) -> None:
    a = await coordinator.add_task({"title": "A"})
    b = await coordinator.add_task({"title": "B", "depends_on": [a.id]})
    c = await coordinator.add_task({"title": "C", "depends_on": [b.id]})
    before = [await coordinator.task(t.id) for t in (a, b, c)]
    last = await coordinator.registry.last_event_id()
    with pytest.raises(InvalidInput, match="cycle") as cycle:
        await coordinator.edit_task(a.id, {"depends_on": [c.id], "title": "A2"})
    assert cycle.value.field == "depends_on"
    with pytest.raises(InvalidInput, match="itself"):
        await coordinator.edit_task(a.id, {"depends_on": [a.id]})
    with pytest.raises(InvalidInput, match="no task T-NOPE"):
        await coordinator.edit_task(a.id, {"depends_on": ["T-NOPE"]})
    with pytest.raises(InvalidInput) as bad:
        await coordinator.edit_task(a.id, {"max_attempts": 0})
    assert bad.value.field == "max_attempts"
    with pytest.raises(InvalidInput) as unknown:
        await coordinator.edit_task(a.id, {"status": "COMPLETED"})
    assert unknown.value.field == "status"
    with pytest.raises(InvalidInput):
        await coordinator.edit_task(a.id, {})
    with pytest.raises(NotFound):
        await coordinator.edit_task("T-MISSING", {"title": "x"})
    assert [await coordinator.task(t.id) for t in (a, b, c)] == before
    assert await coordinator.registry.last_event_id() == last


async def test_a_held_task_is_refused_until_it_is_released(
    coordinator: Coordinator, new_agent: Any
) -> None:
    task = await coordinator.add_task({"title": "Busy", "checks": ["true"]})
    agent = await new_agent()
    claim = await coordinator.claim(agent, task.id)
    held = await coordinator.task(task.id)
    with pytest.raises(Conflict, match=f"cannot edit {task.id}: it is CLAIMED by {agent}"):
        await coordinator.edit_task(task.id, {"title": "changed"})
    await coordinator.progress(task.id, agent, claim.lease.epoch, 10)
    with pytest.raises(Conflict, match="IN_PROGRESS"):
        await coordinator.edit_task(task.id, {"priority": "P0"})
    await coordinator.complete(task.id, agent, claim.lease.epoch, "done")
    assert (await coordinator.task(task.id)).status is Status.VALIDATING
    with pytest.raises(Conflict, match="VALIDATING"):
        await coordinator.edit_task(task.id, {"checks": []})
    now = await coordinator.task(task.id)
    assert (now.title, now.priority, now.checks) == (held.title, held.priority, held.checks)
    assert await edited_events(coordinator, task.id) == []


async def test_new_dependencies_hold_the_task_and_done_ones_free_it(
    coordinator: Coordinator, new_agent: Any
) -> None:
    done = await coordinator.add_task({"title": "done first"})
    agent = await new_agent()
    claim = await coordinator.claim(agent, done.id)
    await coordinator.complete(done.id, agent, claim.lease.epoch, "ok")
    with pytest.raises(Conflict, match="COMPLETED"):
        await coordinator.edit_task(done.id, {"title": "rewriting history"})
    open_one = await coordinator.add_task({"title": "still open"})
    task = await coordinator.add_task({"title": "the one edited"})
    assert task.status is Status.AVAILABLE

    held = await coordinator.edit_task(task.id, {"depends_on": [open_one.id, done.id]})
    assert held.status is Status.PENDING and set(held.depends_on) == {open_one.id, done.id}
    [event] = await edited_events(coordinator, task.id)
    assert (event.from_status, event.to_status) == (Status.AVAILABLE, Status.PENDING)

    mark = await coordinator.registry.last_event()
    freed = await coordinator.edit_task(task.id, {"depends_on": [done.id]})
    assert freed.status is Status.AVAILABLE and freed.depends_on == (done.id,)
    # The assignment loop follows transitions: the freed task is routed again.
    changes = await coordinator.registry.changes_since(mark)
    assert changes.statuses == {task.id: Status.AVAILABLE}
    cleared = await coordinator.edit_task(task.id, {"depends_on": []})
    assert cleared.status is Status.AVAILABLE and cleared.depends_on == ()
    # Finishing the new dependency later frees it as for any task.
    await coordinator.edit_task(task.id, {"depends_on": [open_one.id]})
    claim = await coordinator.claim(agent, open_one.id)
    await coordinator.complete(open_one.id, agent, claim.lease.epoch, "ok")
    assert (await coordinator.task(task.id)).status is Status.AVAILABLE


def test_cli_edit_replaces_and_clears_lists_and_refuses_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    first = run_cli("task", "add", "--title", "First", data_dir=home).stdout.strip()
    task = run_cli(
        "task", "add", "--title", "T", "--check", "a", "--check", "b", "--capability", "py",
        data_dir=home,
    ).stdout.strip()  # fmt: skip
    done = run_cli(
        "task", "edit", task, "--title", "Renamed", "--check", "c", "--no-capabilities",
        "--depends-on", first, "--max-attempts", "4", data_dir=home,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{task}: edited title, capabilities, checks, depends_on, max_attempts "
        "(AVAILABLE → PENDING)"
    )
    shown = run_cli("task", "show", task, "--json", data_dir=home)
    data = json.loads(shown.stdout)
    data = data.get("task", data)
    assert data["title"] == "Renamed" and data["checks"] == ["c"]
    assert data["capabilities"] == [] and data["depends_on"] == [first]
    assert data["status"] == "PENDING" and data["max_attempts"] == 4

    for argv, wanted in (
        (("--depends-on", task), "cannot depend on itself"),
        (("--check", "x", "--no-checks"), "not both"),
        ((), "nothing to change"),
        (("--priority", "P9"), "--priority"),
    ):
        refused = run_cli("task", "edit", task, *argv, data_dir=home)
        assert refused.returncode == 1 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1 and wanted in refused.stderr
    cycle = run_cli("task", "edit", first, "--depends-on", task, data_dir=home)
    assert cycle.returncode == 1 and "dependency cycle" in cycle.stderr
    assert "Traceback" not in cycle.stderr


async def test_rest_patch_edits_and_refuses_with_the_right_status(
    tmp_path: Path, new_agent: Any
) -> None:
    async with running_server(tmp_path) as server:
        c = server.coordinator
        other = await c.add_task({"title": "other"})
        task = await c.add_task({"title": "via REST"})
        url = f"{server.url}/api/tasks/{task.id}"
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.patch(
                url, json={"title": "patched", "depends_on": [other.id]},
                headers=server.operator(),
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert answer.json()["title"] == "patched" and answer.json()["status"] == "PENDING"

            bad = await http.patch(url, json={"priority": "urgent"}, headers=server.operator())
            assert bad.status_code == 422 and bad.json()["field"] == "priority"
            cycle = await http.patch(
                f"{server.url}/api/tasks/{other.id}", json={"depends_on": [task.id]},
                headers=server.operator(),
            )  # fmt: skip
            assert cycle.status_code == 422 and cycle.json()["field"] == "depends_on"
            missing = await http.patch(
                f"{server.url}/api/tasks/T-NONE", json={"title": "x"}, headers=server.operator()
            )
            assert missing.status_code == 404 and missing.json()["error"]

            token = (await http.post(
                f"{server.url}/api/agents", json={"name": "a", "capabilities": ["*"]},
                headers=server.operator(),
            )).json()["token"]  # fmt: skip
            agent_headers = {"Authorization": f"Bearer {token}"}
            forbidden = await http.patch(url, json={"title": "x"}, headers=agent_headers)
            assert forbidden.status_code == 403
            claimed = await http.post(
                f"{server.url}/api/tasks/claim", json={"task_id": other.id}, headers=agent_headers
            )
            assert claimed.status_code == 200, claimed.text
            held = await http.patch(
                f"{server.url}/api/tasks/{other.id}", json={"title": "x"},
                headers=server.operator(),
            )  # fmt: skip
            assert held.status_code == 409 and "CLAIMED" in held.json()["message"]
            assert (await c.task(other.id)).title == "other"

            spec = (await http.get(f"{server.url}/api/openapi.json")).json()
            patch = spec["paths"]["/api/tasks/{task_id}"]["patch"]
            body = patch["requestBody"]["content"]["application/json"]["schema"]
            assert "depends_on" in body["properties"] and "status" not in body["properties"]
