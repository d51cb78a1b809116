"""The screen's tables change a few cells without drawing every row again (tui/table_cache.py):
the changed rows show their new cells, and the other rows' renders are reused. Real Textual
app, headless."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from textual.app import App, ComposeResult

from control_room.domain import Status, Task
from control_room.tui.panes import TaskTable

SIZE = (100, 16)


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield TaskTable()


def drawn(table: TaskTable) -> list[str]:
    """The table's lines as the screen shows them."""
    return [table.render_line(y).text for y in range(table.size.height)]


def row_line(table: TaskTable, task_id: str) -> str:
    (line,) = [line for line in drawn(table) if task_id in line]
    return line


def on_screen(app: App[None]) -> str:
    """What the terminal shows (the screen's real paint, not the table's own lines)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


async def test_a_changed_cell_is_drawn_and_the_other_rows_are_not_drawn_again() -> None:
    app = OneTable()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(TaskTable)
        tasks = [
            Task(f"T-{n}", f"task {n}", Status.IN_PROGRESS, agent_id=f"a{n}", progress=10)
            for n in range(8)
        ]
        table.show(tasks)
        await pilot.pause()
        assert " 10 " in row_line(table, "T-3") and " 10 " in row_line(table, "T-5")
        cached = dict(table._cell_render_cache._cache)  # every visible cell, rendered once
        assert cached

        table.show([replace(tasks[3], progress=70, title="TASK 3")])
        await pilot.pause()
        assert " 70 " in row_line(table, "T-3") and "TASK 3" in row_line(table, "T-3")
        assert " 10 " in row_line(table, "T-5"), "the other rows are unchanged"
        assert "TASK 3" in on_screen(app), "painted on the screen"
        # The other rows' renders were reused: the same cached objects, not drawn again.
        now = table._cell_render_cache._cache
        others = [key for key in cached if key[0].value != "T-3"]
        assert others and all(key in now and now[key] is cached[key] for key in others)
        drawn_again = {
            key[0].value for key in now if key not in cached or now[key] is not cached[key]
        }
        assert drawn_again == {"T-3"}, drawn_again
        mine = [key for key in cached if key[0].value == "T-3"]
        assert mine and all(now.get(key) is not cached[key] for key in mine), "T-3 drawn again"

        # A status change in place: its style and text change; the cursor still works.
        table.show([replace(tasks[5], status=Status.AWAITING_APPROVAL)])
        await pilot.pause()
        assert "APPROVAL?" in row_line(table, "T-5")
        table.move_cursor(row=5)
        await pilot.pause()
        assert table.selected() == "T-5"
