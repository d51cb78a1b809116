"""POST /api/tasks/{id}/merge on a real server (uvicorn on 127.0.0.1), a real repository."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from control_room.config import Home
from tests.delivery_repo import GREETING_FILES, git, make_project, no_git_identity, task_with_branch
from tests.serving import running_server


async def test_the_operator_merges_over_rest_and_errors_are_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_git_identity(monkeypatch, tmp_path / "home")
    project = make_project(tmp_path)
    async with running_server(tmp_path) as server:
        home = Home(tmp_path / "data")
        task, _ = await task_with_branch(server.coordinator, home, project, GREETING_FILES)
        other = await server.coordinator.add_task({"title": "no branch"})
        _, token = await server.coordinator.register_agent("someone")
        async with httpx2.AsyncClient(base_url=server.url, timeout=30) as http:
            as_agent = {"Authorization": f"Bearer {token}"}
            refused = await http.post(f"/api/tasks/{task.id}/merge", headers=as_agent, json={})
            assert refused.status_code == 403
            assert git(project, "rev-parse", "main") == task.base_commit

            none = await http.post(
                f"/api/tasks/{other.id}/merge", headers=server.operator(), json={}
            )
            assert none.status_code == 409 and "has no branch" in none.json()["message"]

            done = await http.post(f"/api/tasks/{task.id}/merge", headers=server.operator())
            assert done.status_code == 200, done.text
            body = done.json()
            assert body["merged_commit"] == git(project, "rev-parse", "main")
            assert body["already_merged"] is False
            again = await http.post(f"/api/tasks/{task.id}/merge", headers=server.operator())
            assert again.status_code == 200 and again.json()["already_merged"] is True
            shown = (await http.get(f"/api/tasks/{task.id}", headers=server.operator())).json()
            assert (shown["commit_sha"], shown["merged_commit"]) == (
                task.commit_sha, body["merged_commit"],
            )  # fmt: skip
    assert (project / "greeting.txt").read_text() == "hello from the agent\n"
