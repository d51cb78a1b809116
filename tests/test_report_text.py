"""The report pane's text: stream-json events as short readable lines, plain text passed through,
and everything agent-written kept inert (no escape sequences, no markup)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from rich.text import Text

from control_room.tui.report_text import (
    LONG,
    MAX_LINES,
    MAX_PENDING,
    ReportFormatter,
    render_line,
)

TOOL = "mcp__control-room__"
SESSION = "6f1c2a9e-0000-4000-8000-000000000000"


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    """An assistant event as Claude Code writes it (one per content block in practice)."""
    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": list(blocks), "stop_reason": None, "usage": {"input_tokens": 10},
    }  # fmt: skip
    return {"type": "assistant", "message": message, "parent_tool_use_id": None}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


def tool_use(name: str, arguments: dict[str, Any], number: int) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{number:04d}", "name": name, "input": arguments}


def tool_result(number: int, content: Any, is_error: bool = False) -> dict[str, Any]:
    block = {"tool_use_id": f"toolu_{number:04d}", "type": "tool_result", "content": content}
    message = {"role": "user", "content": [block | ({"is_error": True} if is_error else {})]}
    return {"type": "user", "message": message, "parent_tool_use_id": None, "session_id": SESSION}


def result(subtype: str = "success", **fields: Any) -> dict[str, Any]:
    event = {
        "type": "result", "subtype": subtype, "is_error": subtype != "success",
        "duration_ms": 12345, "duration_api_ms": 9000, "num_turns": 4, "result": "All done.",
        "session_id": SESSION, "total_cost_usd": 0.0123, "usage": {"input_tokens": 40},
    }  # fmt: skip
    return event | fields


INIT = {
    "type": "system", "subtype": "init", "cwd": "/work/run", "session_id": SESSION,
    "tools": ["Task", "Bash", "Read", TOOL + "claimTask", TOOL + "updateProgress"],
    "mcp_servers": [{"name": "control-room", "status": "connected"}],
    "model": "claude-sonnet-4-5", "permissionMode": "default", "apiKeySource": "ANTHROPIC_API_KEY",
}  # fmt: skip

CLAIMED = {"task": {"id": "T-12", "title": "Make the thing", "priority": "P1"}, "epoch": 1}
OUTCOME = {"task_id": "T-12", "status": "validating", "next": "handed in; ..."}

# The session tests/test_claude_code.py scripts: claim, report half way, complete, stop.
CLAUDE_STREAM = [
    INIT,
    assistant(text("Claiming my task.")),
    assistant(tool_use(TOOL + "claimTask", {}, 1)),
    tool_result(1, [{"type": "text", "text": json.dumps(CLAIMED)}]),
    assistant(
        tool_use(
            TOOL + "updateProgress",
            {"taskId": "T-12", "epoch": 1, "percent": 50, "note": "half way"},
            2,
        )
    ),
    tool_result(2, [{"type": "text", "text": json.dumps(OUTCOME | {"status": "in_progress"})}]),
    assistant(
        tool_use(
            TOOL + "completeTask",
            {
                "taskId": "T-12",
                "epoch": 1,
                "files": ["app.py"],
                "summary": "Built it\n\nwith tests",
            },
            3,
        )
    ),
    tool_result(3, [{"type": "text", "text": json.dumps(OUTCOME)}]),
    assistant(text("All done.")),
    {"type": "rate_limit_event", "session_id": SESSION},
    result(),
]
CLAUDE_LINES = [
    "● session started · model claude-sonnet-4-5 · 5 tools · MCP control-room: connected",
    "Claiming my task.",
    "→ claimTask",
    "  ✓ T-12 · Make the thing",
    "→ updateProgress  50% half way",
    "  ✓ T-12 in_progress",
    "→ completeTask  Built it …",
    "  ✓ T-12 validating",
    "All done.",
    "■ done in 4 turns · $0.0123 · 12.3 s",
]


def report(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def plain(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_a_claude_code_session_reads_as_short_lines() -> None:
    assert plain(ReportFormatter().feed(report(CLAUDE_STREAM))) == CLAUDE_LINES


def test_the_anthropic_runtime_report_reads_the_same() -> None:
    events: list[dict[str, Any]] = [
        {"type": "system", "subtype": "init", "model": "claude-haiku-4-5",
         "tools": ["claimTask", "releaseTask"],
         "mcp_servers": [{"name": "control-room", "status": "connected"}]},
        {"type": "assistant", "message": {"id": "msg_0", "type": "message", "role": "assistant",
         "content": [text("Let me look."), tool_use("claimTask", {"taskId": "T-3"}, 1)],
         "stop_reason": "tool_use"}},
        tool_result(1, "task T-3 is not available", is_error=True),
        {"type": "result", "subtype": "error_max_turns", "is_error": True, "num_turns": 1,
         "total_cost_usd": None, "result": "Let me look.",
         "errors": ["reached the limit of 1 turns"]},
    ]  # fmt: skip
    assert plain(ReportFormatter().feed(report(events))) == [
        "● session started · model claude-haiku-4-5 · 2 tools · MCP control-room: connected",
        "Let me look.",
        "→ claimTask  T-3",
        "  ✗ task T-3 is not available",
        "■ stopped: error_max_turns after 1 turn",
        "  reached the limit of 1 turns",
    ]


@pytest.mark.parametrize(
    ("name", "arguments", "shown"),
    [
        (TOOL + "claimTask", {"taskId": "T-12"}, "claimTask  T-12"),
        ("claimTask", {}, "claimTask"),
        (
            TOOL + "updateProgress",
            {"taskId": "T-1", "percent": 75, "note": "tests"},
            "updateProgress  75% tests",
        ),
        ("updateProgress", {"taskId": "T-1", "percent": 10}, "updateProgress  10%"),
        (
            "completeTask",
            {"taskId": "T-1", "summary": "x" * 200},
            "completeTask  " + "x" * 79 + "…",
        ),
        (TOOL + "releaseTask", {"taskId": "T-1", "reason": "not mine"}, "releaseTask  not mine"),
        (
            "reportBlocked",
            {"taskId": "T-1", "epoch": 2, "reason": "no key"},
            "reportBlocked  no key",
        ),
        ("Bash", {"description": "Run tests", "command": "pytest -q"}, "Bash  pytest -q"),
        ("Bash", {"command": "cd app\nmake"}, "Bash  cd app …"),
        ("Read", {"file_path": "/w/app.py", "limit": 20}, "Read  /w/app.py"),
        ("Write", {"content": "print()", "file_path": "/w/new.py"}, "Write  /w/new.py"),
        ("Edit", {"old_string": "a", "new_string": "b", "file_path": "/w/a.py"}, "Edit  /w/a.py"),
        ("Grep", {"path": "/w", "pattern": "def main"}, "Grep  def main"),
        ("Glob", {"pattern": "**/*.py"}, "Glob  **/*.py"),
        (
            "WebFetch",
            {"prompt": "sum", "url": "https://example.org"},
            "WebFetch  https://example.org",
        ),
        ("mcp__other__search", {"limit": 3, "query": "lease expiry"}, "search  lease expiry"),
        ("TodoWrite", {"todos": [{"content": "a"}]}, "TodoWrite"),
        ("Read", "not an object", "Read"),
    ],
)
def test_each_tool_shows_its_main_argument(name: str, arguments: Any, shown: str) -> None:
    (line,) = render_line(json.dumps(assistant(tool_use(name, arguments, 7))))
    assert line.plain == "→ " + shown


def test_tool_results_show_their_first_line_and_failures_are_marked() -> None:
    formatter = ReportFormatter()
    formatter.feed(report([assistant(tool_use("Read", {"file_path": "a.py"}, 1))]))
    events = [
        tool_result(1, "     1\timport os\n     2\t\n     3\tprint(os.sep)"),
        tool_result(2, "\n\nFAILED test_x.py::test_a - assert 1 == 2\n1 failed"),
        tool_result(3, "<tool_use_error>File does not exist.</tool_use_error>", is_error=True),
        tool_result(4, [{"type": "text", "text": "refused: lease expired"}], is_error=True),
        tool_result(5, ""),
    ]
    lines = formatter.feed(report(events))
    assert plain(lines) == [
        "  ✓ 3 lines",  # a Read answers with the file: its size says more than its first line
        "  ✓ FAILED test_x.py::test_a - assert 1 == 2 …",
        "  ✗ <tool_use_error>File does not exist.</tool_use_error>",
        "  ✗ refused: lease expired",
        "  ✓ ",
    ]
    assert [line.spans[0].style for line in lines] == ["green", "green", "red", "red", "green"]


COST = " · $0.0123 · 12.3 s"


@pytest.mark.parametrize(
    ("event", "summary"),
    [
        (result(), "■ done in 4 turns" + COST),
        (
            result(num_turns=1, total_cost_usd=1.5, duration_ms=800),
            "■ done in 1 turn · $1.5000 · 0.8 s",
        ),
        (result(total_cost_usd=None, duration_ms=None), "■ done in 4 turns"),
        (
            result("error_max_turns", num_turns=40),
            "■ stopped: error_max_turns after 40 turns" + COST,
        ),
        (
            result("error_during_execution", num_turns=None),
            "■ stopped: error_during_execution" + COST,
        ),
        (result(is_error=True), "■ stopped: error after 4 turns" + COST),
        ({"type": "result"}, "■ stopped: error"),
    ],
)
def test_the_result_sums_up_turns_cost_and_time(event: dict[str, Any], summary: str) -> None:
    (line,) = render_line(json.dumps(event))
    assert line.plain == summary
    assert line.style == ("bold green" if summary.startswith("■ done") else "bold red")


def test_chunked_feeding_gives_the_same_lines_as_whole_lines() -> None:
    whole = report(CLAUDE_STREAM) + "plain tail\n\n--- Control Room: checks passed ---\n$ true\n"
    expected = [line for event in whole.split("\n")[:-1] for line in render_line(event)]
    chance = random.Random(7)
    for _ in range(20):
        formatter, lines, at = ReportFormatter(), [], 0
        while at < len(whole):
            step = chance.choice([1, 2, 3, 17, 200, 5000])
            lines += formatter.feed(whole[at : at + step])
            at += step
        assert lines == expected  # text, spans and styles alike
    formatter = ReportFormatter()
    assert formatter.feed('{"type": "assistant", "message": {"content": "no end') == []
    assert plain(formatter.flush()) == ['{"type": "assistant", "message": {"content": "no end']
    assert formatter.flush() == []


def test_an_overlong_unterminated_line_is_cut_not_kept() -> None:
    formatter = ReportFormatter()
    lines = formatter.feed("y" * (MAX_PENDING + 10))
    assert plain(lines) == ["y" * (LONG - 1) + "…"]
    assert formatter.feed("y" * MAX_PENDING) == [], "the rest of that line is dropped"
    assert plain(formatter.feed("yyy\nnext\n")) == ["next"]


HOSTILE = "\x1b[2J\x1b]0;pwned\x07[bold red]x[/] \x1bP+q\x1b\\\x9b31m\x00\r\x08\u202eok"


def test_hostile_agent_text_comes_out_inert() -> None:
    events = [
        INIT | {"model": HOSTILE, "mcp_servers": [{"name": HOSTILE, "status": "[link=x]y"}]},
        assistant(text(f"before\n{HOSTILE}\nafter")),
        assistant(tool_use(TOOL + HOSTILE, {"taskId": HOSTILE}, 1)),
        tool_result(1, HOSTILE, is_error=True),
        result(HOSTILE),
    ]
    lines = ReportFormatter().feed(report(events) + f"{HOSTILE}\n--- Control Room: {HOSTILE}\n")
    inert = "[bold red]x[/] ok"  # escape sequences gone, controls gone, markup shown as written
    assert plain(lines) == [
        f"● session started · model {inert} · 5 tools · MCP {inert}: [link=x]y",
        "before",
        inert,
        "after",
        f"→ {inert}  {inert}",
        f"  ✗ {inert}",
        f"■ stopped: {inert} after 4 turns" + COST,
        inert,
        f"--- Control Room: {inert}",
    ]
    assert [(line.style, line.spans) for line in lines[1:4]] == [("", [])] * 3, "no markup"
    for line in lines:
        assert all(ch == "\t" or (" " <= ch < "\x7f" or ch > "\x9f") for ch in line.plain)
        assert {str(span.style) for span in line.spans} <= {
            "dim",
            "green",
            "red",
            "cyan",
            "bold cyan",
        }


def test_a_huge_assistant_message_is_capped() -> None:
    words = "\n".join(f"line {n}" for n in range(10_000))
    lines = render_line(json.dumps(assistant(text(words))))
    assert plain(lines) == [f"line {n}" for n in range(MAX_LINES)] + ["… (9960 more lines)"]
    (long,) = render_line(json.dumps(assistant(text("z" * 100_000))))
    assert len(long.plain) == LONG


def test_paragraphs_are_kept() -> None:
    words = "\n\nFirst paragraph.\nStill first.\n\nSecond paragraph.\n"
    assert plain(render_line(json.dumps(assistant(text(words))))) == [
        "First paragraph.", "Still first.", "", "Second paragraph.",
    ]  # fmt: skip


def test_plain_text_reports_pass_through() -> None:
    output = (
        "Running aider 0.80\n  indented\tand tabbed  \n\n"
        "{not json\n[1, 2]\n"
        "\n--- Control Room: checks failed ---\n$ pytest -q\nE   assert 1 == 2\n"
    )
    lines = ReportFormatter().feed(output)
    assert plain(lines) == [
        "Running aider 0.80", "  indented\tand tabbed  ", "", "{not json", "[1, 2]", "",
        "--- Control Room: checks failed ---", "$ pytest -q", "E   assert 1 == 2",
    ]  # fmt: skip
    assert [str(line.style) for line in lines if line.style] == ["bold"]


@pytest.mark.parametrize(
    "event",
    [
        {"type": "stream_event", "event": {"type": "content_block_delta"}},
        {"type": "system", "subtype": "compact_boundary"},
        {"type": "user", "message": {"role": "user", "content": "a prompt"}},
        {"type": "user", "message": {"content": [text("no result"), 3, None]}},
        {"type": "assistant", "message": {"content": [{"type": "thinking", "thinking": "hm"}]}},
        {"type": "assistant", "message": None},
        {"type": "assistant", "message": {"content": 12}},
        {"type": "assistant"},
    ],
)
def test_other_events_render_nothing(event: dict[str, Any]) -> None:
    assert render_line(json.dumps(event)) == []


def test_odd_shapes_do_not_break_the_pane() -> None:
    events = [
        {"type": "system", "subtype": "init", "tools": "many", "mcp_servers": [1, {"x": 2}]},
        assistant({"type": "tool_use", "name": None, "input": {"percent": "lots"}}),
        assistant(tool_use("updateProgress", {"percent": [1], "note": {"a": 1}}, 1)),
        tool_result(1, {"type": "text"}),
        tool_result(1, [{"text": 5}, "x", {"type": "text", "text": "fine"}]),
        result(num_turns=True, total_cost_usd="0.1", duration_ms=False, errors=[None]),
    ]
    assert plain(ReportFormatter().feed(report(events))) == [
        "● session started · MCP None: None",
        "→ None  lots",
        "→ updateProgress  [1]% {'a': 1}",
        "  ✓ ",
        "  ✓ fine",
        "■ done",
    ]
