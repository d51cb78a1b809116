"""`task import --from taskmaster|backlog|github`: other tools' backlogs brought in through the
real console script, from files shaped like those tools write them (tests/fixtures/import)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "import"
TASKMASTER = FIXTURES / "taskmaster"
TASKS_JSON = TASKMASTER / ".taskmaster" / "tasks" / "tasks.json"
BACKLOG = FIXTURES / "backlog-project"
GH = FIXTURES / "gh-issues.json"


def tasks(home: Path) -> dict[str, dict[str, Any]]:
    listed = run_cli("task", "list", "--all", "--json", data_dir=home)
    assert listed.returncode == 0, listed.stderr
    return {t["id"]: t for t in json.loads(listed.stdout)}


def state(home: Path) -> tuple[list[tuple[Any, ...]], int]:
    """Every task row and the newest event id: what a refused import must leave alone."""
    db = sqlite3.connect(home / "registry.db")
    try:
        rows = db.execute("SELECT * FROM tasks ORDER BY task_id").fetchall()
        (last,) = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return rows, last
    finally:
        db.close()


def imported(home: Path, *args: str) -> list[str]:
    result = run_cli("task", "import", *args, data_dir=home)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_task_master_subtasks_statuses_and_dependencies(home: Path) -> None:
    result = run_cli("task", "import", "--from", "taskmaster", str(TASKMASTER), data_dir=home)
    assert result.returncode == 0, result.stderr
    assert "14 tasks from Task Master" in result.stderr
    assert "8 open, 3 completed, 3 cancelled" in result.stderr
    assert result.stdout.split()[:4] == ["TM-1", "TM-2", "TM-3", "TM-3.1"]
    found = tasks(home)
    assert {i: t["status"] for i, t in found.items()} == {
        "TM-1": "COMPLETED", "TM-2": "COMPLETED", "TM-3.1": "COMPLETED",  # done
        "TM-4.2": "CANCELLED", "TM-7": "CANCELLED",  # deferred
        "TM-5": "CANCELLED",  # cancelled
        "TM-3.2": "AVAILABLE",  # its sibling 3.1 is done
        "TM-6": "AVAILABLE",  # review, its dependency 2 is done
        "TM-3": "PENDING", "TM-3.3": "PENDING", "TM-4": "PENDING", "TM-4.1": "PENDING",
        "TM-8": "PENDING", "TM-9": "PENDING",
    }  # fmt: skip
    # the parent waits for its subtasks (not the deferred one); numbers inside subtasks are
    # siblings, "3.2" names a subtask anywhere
    assert found["TM-3"]["depends_on"] == ["TM-2", "TM-3.1", "TM-3.2", "TM-3.3"]
    assert found["TM-4"]["depends_on"] == ["TM-3", "TM-4.1"]
    assert found["TM-3.3"]["depends_on"] == ["TM-3.2"]
    assert found["TM-4.1"]["depends_on"] == ["TM-3.2"]
    assert found["TM-9"]["depends_on"] == ["TM-3", "TM-4.1"]
    shown = json.loads(run_cli("task", "show", "TM-3", "--json", data_dir=home).stdout)
    assert shown["priority"] == "P1"
    assert "Argon2 password hashes" in shown["description"]  # details
    assert shown["criteria"] == [
        "Test strategy: Integration tests for sign-up, login, logout and lockout after five "
        "failures."
    ]
    assert found["TM-3.3"]["priority"] == "P1"  # a subtask without one takes its parent's
    assert found["TM-5"]["priority"] == "P3" and found["TM-4"]["priority"] == "P2"
    deferred = json.loads(run_cli("task", "show", "TM-7", "--json", data_dir=home).stdout)
    assert deferred["reason"] == "deferred in Task Master"
    kinds = [(e["kind"], e["from_status"], e["to_status"]) for e in deferred["events"]]
    assert kinds == [("created", None, "PENDING"), ("imported", "PENDING", "CANCELLED")]


def test_task_master_other_tags_and_the_older_untagged_form(home: Path, tmp_path: Path) -> None:
    ids = imported(home, "--from", "taskmaster", "--tag", "feature-billing", str(TASKS_JSON))
    assert ids == ["TM-feature-billing-1", "TM-feature-billing-2"]
    assert tasks(home)["TM-feature-billing-2"]["depends_on"] == ["TM-feature-billing-1"]
    missing = run_cli("task", "import", "--from", "taskmaster", "--tag", "nope", str(TASKS_JSON),
                      data_dir=home)  # fmt: skip
    assert missing.returncode == 1
    assert "no tag 'nope'" in missing.stderr and "master, feature-billing" in missing.stderr
    older = tmp_path / "tasks.json"
    older.write_text(json.dumps({
        "meta": {"projectName": "Shop", "version": "1.0.0", "totalTasks": 2},
        "tasks": [
            {"id": 1, "title": "Scaffold", "description": "", "status": "done",
             "dependencies": [], "priority": "high", "details": "", "testStrategy": ""},
            {"id": 2, "title": "Cart", "description": "The cart.", "status": "pending",
             "dependencies": [1], "priority": "medium", "details": "Session based.",
             "testStrategy": "", "subtasks": [
                 {"id": 1, "title": "Add item", "description": "", "status": "pending",
                  "dependencies": [], "details": ""}]},
        ],
    }))  # fmt: skip
    assert imported(home, "--from", "taskmaster", str(older)) == ["TM-1", "TM-2", "TM-2.1"]
    found = tasks(home)
    assert found["TM-1"]["status"] == "COMPLETED"
    assert found["TM-2"]["depends_on"] == ["TM-1", "TM-2.1"]
    assert found["TM-2.1"]["status"] == "AVAILABLE"


@pytest.mark.parametrize("where", ["", "backlog", "backlog/tasks"])
def test_backlog_md_folder_from_the_root_backlog_or_tasks(
    home: Path, tmp_path: Path, where: str
) -> None:
    project = tmp_path / "project"
    shutil.copytree(BACKLOG, project)
    ids = imported(home, "--from", "backlog", str(project / where))
    assert ids == ["BL-task-1", "BL-task-2", "BL-task-3", "BL-task-3.1", "BL-task-4"]  # no draft
    found = tasks(home)
    assert {i: t["status"] for i, t in found.items()} == {
        "BL-task-1": "COMPLETED", "BL-task-2": "AVAILABLE", "BL-task-3": "PENDING",
        "BL-task-3.1": "AVAILABLE", "BL-task-4": "PENDING",
    }  # fmt: skip
    assert found["BL-task-3"]["depends_on"] == ["BL-task-2", "BL-task-3.1"]  # and its subtask
    assert found["BL-task-4"]["depends_on"] == ["BL-task-3"]  # TASK-3 names task-3
    # task-0 was moved to completed/, task-5 to archive/: not imported, not waited for
    assert found["BL-task-2"]["depends_on"] == ["BL-task-1"]
    login = json.loads(run_cli("task", "show", "BL-task-2", "--json", data_dir=home).stdout)
    assert login["priority"] == "P1"
    assert login["capabilities"] == ["backend", "auth"]
    assert login["criteria"] == [
        "A correct password sets the session cookie",
        "A wrong password answers 401 without saying which part was wrong",
    ]  # the Definition of Done is not acceptance criteria
    assert login["description"].startswith("POST /login takes an email")
    assert "expires after 12 hours" in login["description"] and "@alice" in login["description"]
    assert "SECTION" not in login["description"] and "Route and handler" not in login["description"]
    dark = found["BL-task-4"]
    assert dark["title"] == "UI: dark mode, with the user's choice remembered"
    assert dark["priority"] == "P3" and dark["capabilities"] == ["frontend"]


def test_github_export_open_issues_become_tasks(home: Path) -> None:
    result = run_cli("task", "import", "--from", "github", str(GH), data_dir=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["GH-451", "GH-452", "GH-453"]
    assert "3 open; 2 closed skipped" in result.stderr
    bug = json.loads(run_cli("task", "show", "GH-451", "--json", data_dir=home).stdout)
    assert (bug["priority"], bug["type"], bug["capabilities"]) == ("P1", "bug", ["backend"])
    assert bug["criteria"] == ["Passwords with `%` log in", "A regression test covers it"]
    assert "\r" not in bug["description"] and "(GitHub issue #451)" in bug["description"]
    found = tasks(home)
    dark = found["GH-452"]  # priority: low, enhancement, Frontend; good first issue ignored
    assert (dark["priority"], dark["type"], dark["capabilities"]) == (
        "P3", "implementation", ["frontend"],
    )  # fmt: skip
    assert found["GH-453"]["priority"] == "P2" and found["GH-453"]["capabilities"] == []


def test_dry_run_prints_the_plan_and_changes_nothing(home: Path) -> None:
    before = state(home)
    result = run_cli(
        "task", "import", "--from", "taskmaster", "--dry-run", str(TASKS_JSON), data_dir=home
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("dry run: would import 14 tasks from Task Master")
    assert "8 open, 3 completed, 3 cancelled" in lines[0] and "nothing was changed" in lines[0]
    plan = {line.split()[0]: line.split() for line in lines[1:]}
    assert plan["TM-3.1"][1:3] == ["COMPLETED", "P1"]
    assert plan["TM-3.2"][1] == "AVAILABLE"
    assert "(after TM-2, TM-3.1, TM-3.2, TM-3.3)" in " ".join(plan["TM-3"])
    assert "Implement user authentication" in " ".join(plan["TM-3"])
    assert len(plan) == 14
    assert state(home) == before
    own = run_cli("task", "import", "--dry-run", str(GH.with_name("nothing.json")), data_dir=home)
    assert own.returncode == 1 and "no such file" in own.stderr
    assert state(home) == before
    # the real import afterwards creates what the dry run showed
    assert imported(home, "--from", "taskmaster", str(TASKS_JSON)) == list(plan)
    assert {i: t["status"] for i, t in tasks(home).items()} == {i: p[1] for i, p in plan.items()}


def test_a_second_import_of_the_same_source_is_refused(home: Path, tmp_path: Path) -> None:
    imported(home, "--from", "github", str(GH))
    before = state(home)
    again = run_cli("task", "import", "--from", "github", str(GH), data_dir=home)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1, again.stderr
    assert "already in the registry: GH-451, GH-452, GH-453 (3 of 3 tasks)" in again.stderr
    assert "nothing was imported" in again.stderr
    # one new issue beside the old ones: still refused as a whole
    issues = json.loads(GH.read_text())
    issues.append({"number": 460, "title": "New one", "body": "", "labels": [], "state": "OPEN"})
    grown = tmp_path / "issues.json"
    grown.write_text(json.dumps(issues))
    refused = run_cli("task", "import", "--from", "github", str(grown), data_dir=home)
    assert refused.returncode == 1 and "3 of 4 tasks" in refused.stderr
    dry = run_cli("task", "import", "--from", "github", "--dry-run", str(grown), data_dir=home)
    assert dry.returncode == 1 and "already in the registry" in dry.stderr
    assert state(home) == before


def _bad_taskmaster(tmp_path: Path) -> tuple[Path, str]:
    data = json.loads(TASKS_JSON.read_text())
    data["master"]["tasks"][2]["subtasks"][1]["priority"] = "urgent-ish"
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(data))
    return path, "task 3.2: priority: 'urgent-ish'"


def _missing_dependency(tmp_path: Path) -> tuple[Path, str]:
    data = json.loads(TASKS_JSON.read_text())
    data["master"]["tasks"][8]["dependencies"].append(42)
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(data))
    return path, "depends_on: no task TM-42 (a dependency of TM-9)"


def _bad_front_matter(tmp_path: Path) -> tuple[Path, str]:
    project = tmp_path / "project"
    shutil.copytree(BACKLOG, project)
    task = next((project / "backlog" / "tasks").glob("task-3 - *.md"))
    task.write_text(task.read_text().replace("priority: medium", "priority: soonish"))
    return project, "task-3 - Login-form.md: task task-3: priority: 'soonish'"


def _untitled_issue(tmp_path: Path) -> tuple[Path, str]:
    issues = json.loads(GH.read_text())
    issues[1]["title"] = "  "
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(issues))
    return path, "issues.json: issue #452: title: a title is required"


def _twice_the_same_id(tmp_path: Path) -> tuple[Path, str]:
    data = json.loads(TASKS_JSON.read_text())
    data["master"]["tasks"][4]["id"] = 1  # "Support LDAP login" numbered like the first
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(data))
    return path, "task 1: id: TM-1 appears twice"


def _no_front_matter(tmp_path: Path) -> tuple[Path, str]:
    project = tmp_path / "project"
    shutil.copytree(BACKLOG, project)
    (project / "backlog" / "tasks" / "task-9 - Notes.md").write_text("# just notes\n")
    return project, "task-9 - Notes.md: has no front matter"


def _not_a_gh_export(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "issues.json"
    path.write_text(json.dumps({"issues": []}))
    return path, "issues.json: issues: expected the list `gh issue list --json"


@pytest.mark.parametrize(
    ("source", "make"),
    [
        ("taskmaster", _bad_taskmaster),
        ("taskmaster", _missing_dependency),
        ("taskmaster", _twice_the_same_id),
        ("backlog", _bad_front_matter),
        ("backlog", _no_front_matter),
        ("github", _untitled_issue),
        ("github", _not_a_gh_export),
    ],
)
def test_a_bad_file_is_named_with_its_task_and_field(
    home: Path, tmp_path: Path, source: str, make: Any
) -> None:
    imported(home, "--from", "github", str(GH))  # something already there stays as it is
    before = state(home)
    path, expected = make(tmp_path)
    for extra in ((), ("--dry-run",)):
        result = run_cli("task", "import", "--from", source, *extra, str(path), data_dir=home)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert str(tmp_path) in result.stderr and expected in result.stderr, result.stderr
    assert state(home) == before


def test_plain_import_dry_run_and_a_dependency_listed_later(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([
        {"id": "API", "title": "the API", "depends_on": ["SCHEMA"]},
        {"id": "SCHEMA", "title": "the schema"},
    ]))  # fmt: skip
    before = state(home)
    dry = run_cli("task", "import", "--dry-run", str(path), data_dir=home)
    assert dry.returncode == 0, dry.stderr
    assert (
        dry.stdout.splitlines()[0] == f"dry run: would add 2 tasks from {path}; nothing was changed"
    )
    assert state(home) == before
    assert imported(home, str(path)) == ["API", "SCHEMA"]
    assert tasks(home)["API"]["status"] == "PENDING"
    tag = run_cli("task", "import", "--tag", "x", str(path), data_dir=home)
    assert tag.returncode == 1 and "--tag" in tag.stderr
