"""`--registry` naming something that is not a registry: one clear line, exit 1, and nothing
written anywhere (a newcomer's trial of the shared registry, through the real console script)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli


def foreign_database(path: Path) -> str:
    """Someone else's SQLite database (not Control Room's); returns its digest."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (number INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices VALUES (1, 9.5)")
    db.commit()
    db.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(result: object, *needles: str) -> None:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 1, (result.returncode, stderr)  # type: ignore[attr-defined]
    assert stderr.startswith("control-room: error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in stderr, stderr


def test_another_programs_sqlite_database_is_refused_and_left_as_it_was(
    home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "shop.db"
    before = foreign_database(other)
    for args in (("task", "list"), ("task", "add", "--title", "t"), ("stats",)):
        result = run_cli("--registry", str(other), *args, data_dir=home)
        refused(result, str(other), "not a Control Room registry")
    joining = run_cli("init", "--registry", str(other), data_dir=tmp_path / "joiner")
    refused(joining, str(other), "not a Control Room registry")
    assert hashlib.sha256(other.read_bytes()).hexdigest() == before
    db = sqlite3.connect(other)
    names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    db.close()
    assert names == ["invoices"]


def test_a_directory_named_as_the_registry_is_refused_as_one(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for _ in range(3):  # the traceback of aiosqlite's worker thread came now and then
        result = run_cli("--registry", str(folder), "task", "list", data_dir=home)
        refused(result, f"registry {folder}: is a directory, not a registry file")
    assert list(folder.iterdir()) == []


def test_a_missing_named_registry_is_named_in_the_refusal(home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "registry.db"
    result = run_cli("--registry", str(missing), "task", "list", data_dir=home)
    refused(result, f"no registry at {missing}")
    assert not missing.parent.exists()


@pytest.mark.parametrize("url", ["mysql://db.example.com/cr", "http://example.com/registry"])
def test_a_url_of_an_unknown_kind_is_refused(home: Path, tmp_path: Path, url: str) -> None:
    result = run_cli("--registry", url, "task", "list", data_dir=home)
    refused(result, url.split("://")[0], "postgresql://")
    joining = run_cli("init", "--registry", url, data_dir=tmp_path / "joiner")
    refused(joining, url.split("://")[0])


def test_init_with_a_password_in_the_url_says_where_it_went(pg_url: str, tmp_path: Path) -> None:
    assert ":test-password@" in pg_url
    result = run_cli("init", "--registry", pg_url, data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert "test-password" not in result.stdout + result.stderr
    assert "password" in result.stderr and "PGPASSWORD" in result.stderr, result.stderr
    assert "control-room.toml" in result.stderr


def test_init_naming_another_registry_for_an_initialised_directory_is_refused(
    home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    result = run_cli("init", "--registry", str(other), data_dir=home)
    refused(result, str(home / "registry.db"), str(other), "[registry] url")
    assert not other.exists(), "no second registry made beside the one the config names"
    again = run_cli("init", "--registry", str(home / "registry.db"), data_dir=home)
    assert again.returncode == 0 and "already initialised" in again.stdout, again.stderr
