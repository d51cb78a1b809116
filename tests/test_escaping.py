"""Issue 11, finding 7: untrusted text carries line separators, bidi and C1 controls.

Every JSON output (headless stdout, `events --json`, the `--json` listings) writes them as
\\uXXXX escapes, so a JSON-lines reader sees one line per object and a terminal sees no control,
while a parser gets the text back exactly. `task show`, `task list` and the screen show them as
U+FFFD. Headless stderr lines are plain and escaped too. One module decides: domain/text.py.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.lines import Lines
from tests.serving import free_port

SCRIPT = Path(sys.executable).with_name("control-room")
# Line and paragraph separators, bidi override/isolate/marks, C1 (NEL, CSI), DEL.
DANGEROUS = "\u2028\u2029\u202a\u202e\u2066\u2069\u200f\x85\x9b\x7f"
TITLE = "evil\u202etxt.exe\u2028second line\x9b2J\x85end"


def raw_dangerous(text: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in text if c in DANGEROUS]


def test_the_sanitiser() -> None:
    from control_room.domain.text import json_text, one_line, printable
    from control_room.tui.panes import plain

    encoded = json_text({"t": TITLE + DANGEROUS})
    assert raw_dangerous(encoded) == [] and "\n" not in encoded
    assert json.loads(encoded) == {"t": TITLE + DANGEROUS}, "the data itself is unchanged"
    assert raw_dangerous(printable(TITLE)) == [] and "\ufffd" in printable(TITLE)
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"
    assert one_line("a\nb\tc\u2028d") == "a b c\ufffdd"
    assert raw_dangerous(str(plain(TITLE, 200))) == [], "the screen's cells"


def test_every_cli_output_escapes_or_replaces_them(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    added = run_cli("task", "add", "--title", TITLE, "--description", DANGEROUS, data_dir=home)
    assert added.returncode == 0, added.stderr
    task_id = added.stdout.strip()
    agent = run_cli("agent", "add", "--name", f"agent{DANGEROUS}", "--json", data_dir=home)
    assert agent.returncode == 0, agent.stderr

    for argv in (
        ("task", "list", "--json"),
        ("task", "show", task_id, "--json"),
        ("events", "--json"),
        ("agent", "list", "--json"),
    ):
        shown = run_cli(*argv, data_dir=home)
        assert shown.returncode == 0, shown.stderr
        assert raw_dangerous(shown.stdout) == [], (argv, raw_dangerous(shown.stdout))
        if argv[0] == "events":
            lines = shown.stdout.splitlines()
            assert all(json.loads(line) for line in lines), "one object per line"
            assert json.loads(lines[0])["message"] == TITLE
        elif argv[:2] == ("task", "list"):
            assert json.loads(shown.stdout)[0]["title"] == TITLE
        elif argv[:2] == ("task", "show"):
            data = json.loads(shown.stdout)
            assert (data["title"], data["description"]) == (TITLE, DANGEROUS)
        else:
            assert json.loads(shown.stdout)[0]["name"] == f"agent{DANGEROUS}"

    for argv in (("task", "list"), ("task", "show", task_id), ("events",), ("agent", "list")):
        shown = run_cli(*argv, data_dir=home)
        assert shown.returncode == 0, shown.stderr
        assert raw_dangerous(shown.stdout) == [], (argv, raw_dangerous(shown.stdout))
        assert "\ufffd" in shown.stdout, argv


def test_headless_stdout_and_stderr_escape_them(tmp_path: Path) -> None:
    home = tmp_path / "data"
    assert run_cli("init", data_dir=home).returncode == 0
    (home / "control-room.toml").write_text("[routing]\nspawn_priorities = []\n")
    engine = subprocess.Popen(
        [str(SCRIPT), "--data-dir", str(home), "run", "--headless", "--port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert engine.stdout is not None and engine.stderr is not None
        out, err = Lines(engine.stdout), Lines(engine.stderr)
        err.wait_for(lambda line: '"event": "started"' in line)
        added = run_cli("task", "add", "--title", TITLE, "--priority", "P3", data_dir=home)
        task_id = added.stdout.strip()
        line = out.wait_for(lambda line: f'"task_id": "{task_id}"' in line)
        event = json.loads(line)
        assert (event["kind"], event["message"]) == ("created", TITLE)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=30)
    assert engine.returncode == 0, err.join()
    for line in out.join() + err.join():
        assert raw_dangerous(line) == [], line
        assert line.startswith(("{", "control-room: ", "Control Room ")), line
    engine.stdout.close()
    engine.stderr.close()

    from control_room.headless_log import PlainFormatter

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "agent said %s", (TITLE,), None)
    line = PlainFormatter().format(record)
    assert raw_dangerous(line) == [] and "\n" not in line
    assert line.startswith("control-room: error: agent said evil")


async def test_the_screen_shows_them_replaced(tmp_path: Path) -> None:
    from tests.test_tui import _has_row, screen, until

    async with screen(tmp_path) as (app, pilot):
        c = app.coordinator
        assert c is not None
        task = await c.add_task({"title": TITLE, "description": DANGEROUS, "priority": "P3"})
        await until(pilot, lambda: _has_row(app.tasks, task.id))
        cells = [str(cell) for cell in app.tasks.get_row(task.id)]
        assert any("evil" in cell for cell in cells)
        assert [raw_dangerous(cell) for cell in cells] == [[]] * len(cells), cells
