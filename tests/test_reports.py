"""Reading agents' reports: whole lines only, stream-json usage, plain text tolerated."""

from __future__ import annotations

import json
from pathlib import Path

from control_room.engine.reports import ReportTail, parse_line


def test_turns_and_cost_come_from_the_report_as_it_grows(tmp_path: Path) -> None:
    report = tmp_path / "report.log"
    tail = ReportTail(report)
    assert tail.read() == 0 and tail.usage.turns is None, "no report yet"
    assistant = json.dumps({"type": "assistant", "message": {"content": "line\u2028sep\u0085"}})
    report.write_text(f'plain text from a script\n{assistant}\n{assistant}\n{{"type": "res')
    tail.drain()
    assert (tail.usage.turns, tail.usage.cost_usd) == (2, None), "a torn line waits"
    with report.open("a") as handle:
        handle.write('ult", "num_turns": 7, "total_cost_usd": 0.25}\n')
    tail.drain()
    assert (tail.usage.turns, tail.usage.cost_usd) == (7, 0.25)


def test_only_json_objects_with_a_type_are_events() -> None:
    assert parse_line(b'{"type": "result"}') == {"type": "result"}
    for line in ("", "text", "[1, 2]", '{"no": "type"}', '{"type": 3}', "{broken"):
        assert parse_line(line) is None
