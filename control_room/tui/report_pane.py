"""The report pane: it follows the report of the selected agent, or of the selected task's
newest run, as the agent writes it (a worker per selection; the newest selection wins)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from pathlib import Path

from rich.text import Text
from textual import work

from control_room.domain import ControlRoomError
from control_room.engine.follow import follow_file
from control_room.tui.base import ScreenBase
from control_room.tui.report_text import ReportFormatter

REPORT_WAIT_SECONDS = 0.5
REPORT_TAIL_BYTES = 512 * 1024  # of an old report, the screen shows the end


class ReportPane(ScreenBase):
    """Mixed into ControlRoomApp."""

    @work(group="report", exclusive=True)
    async def tail_report(self, source: str, key: str) -> None:
        """Follow the report of the selected agent, or of the selected task's newest run."""
        log = self.report
        log.clear()
        log.border_title = f"report · {key}"
        report = await self._report_path(source, key)
        if report is None:
            log.write(Text("No agent of Control Room's has worked on this yet.", style="dim"))
        while report is None:  # until one starts (this worker ends when the selection moves)
            await asyncio.sleep(REPORT_WAIT_SECONDS)
            report = await self._report_path(source, key)
        log.clear()
        formatter = ReportFormatter()
        decode = codecs.getincrementaldecoder("utf-8")(errors="replace").decode
        async for chunk in follow_file(report, limit=REPORT_TAIL_BYTES):
            for line in formatter.feed(decode(chunk)):
                log.write(line)

    async def _report_path(self, source: str, key: str) -> Path | None:
        assert self.coordinator is not None
        if source == "agent":
            with contextlib.suppress(ControlRoomError):
                return Path((await self.coordinator.get_run(key)).run_dir) / "report.log"
            return None
        runs = [r for r in await self.coordinator.runs(limit=10_000) if r.task_id == key]
        return Path(runs[-1].run_dir) / "report.log" if runs else None
