"""Following a growing report file with file notifications."""

from __future__ import annotations

import asyncio
from pathlib import Path

from control_room.engine.follow import follow_file


async def test_a_file_is_followed_from_before_it_exists_through_appends_and_truncation(
    tmp_path: Path,
) -> None:
    report = tmp_path / "run" / "report.log"
    pieces: asyncio.Queue[bytes] = asyncio.Queue()

    async def reader() -> None:
        async for chunk in follow_file(report, limit=1000):
            await pieces.put(chunk)

    job = asyncio.create_task(reader())
    try:
        for _ in range(500):  # the reader creates the folder it watches (bounded: 10 s)
            if report.parent.is_dir():
                break
            await asyncio.sleep(0.02)
        report.write_bytes(b"first line\n")
        assert await asyncio.wait_for(pieces.get(), 5) == b"first line\n"
        with report.open("ab") as handle:
            handle.write(b"second ")
        assert await asyncio.wait_for(pieces.get(), 5) == b"second "
        report.write_bytes(b"new\n")  # replaced with something shorter
        assert await asyncio.wait_for(pieces.get(), 5) == b"new\n"
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)


async def test_a_big_existing_file_starts_near_its_end(tmp_path: Path) -> None:
    report = tmp_path / "report.log"
    report.write_bytes(b"x" * 5000 + b"tail\n")
    following = follow_file(report, limit=100)
    first = await asyncio.wait_for(anext(following), 5)
    await following.aclose()
    assert len(first) == 100 and first.endswith(b"tail\n")
