"""`task show` keeps a space between every label and its value (`capabilitiesplanning` was
printed for a planning task: the longest label filled its column)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_every_label_is_followed_by_a_space(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli("init", data_dir=data).returncode == 0
    added = run_cli(
        "task", "add", "--id", "CAP-1", "--title", "t", "--capability", "planning",
        "--depends-on", "CAP-0", data_dir=data,
    )  # fmt: skip
    assert added.returncode == 1  # no CAP-0 yet
    run_cli("task", "add", "--id", "CAP-0", "--title", "first", data_dir=data)
    added = run_cli(
        "task", "add", "--id", "CAP-1", "--title", "t", "--capability", "planning",
        "--depends-on", "CAP-0", data_dir=data,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = run_cli("task", "show", "CAP-1", data_dir=data).stdout.splitlines()
    labelled = {
        line.split()[0]: line
        for line in shown[1:]
        if line.startswith("  ") and not line.startswith("   ")
    }
    assert labelled["capabilities"].startswith("  capabilities planning"), labelled
    assert labelled["depends"].startswith("  depends on   CAP-0"), labelled
