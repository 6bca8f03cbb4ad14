"""The embedded mode's run feed: readers wait for what comes after their seq; old runs go."""

from __future__ import annotations

import asyncio

from server.tutor.runs.feed import FeedEntry, MemoryRunFeed


async def test_a_reader_waits_for_the_next_entry_and_gets_only_those_after_its_seq() -> None:
    feed = MemoryRunFeed()
    await feed.append(1, FeedEntry(1, "tutor.delta", {"text": "a"}))
    waiting = asyncio.create_task(feed.after(1, 1, wait=2))
    await asyncio.sleep(0.01)
    await feed.append(1, FeedEntry(2, "tutor.delta", {"text": "b"}))
    assert [e.seq for e in await waiting] == [2]
    assert await feed.after(1, 2, wait=0.01) == []


async def test_only_the_newest_runs_are_kept() -> None:
    feed = MemoryRunFeed(keep_runs=2)
    for run_id in (1, 2, 3):
        await feed.append(run_id, FeedEntry(1, "tutor.delta", {"text": str(run_id)}))
    assert await feed.after(1, 0, wait=0) == []
    assert [e.data["text"] for e in await feed.after(3, 0, wait=0)] == ["3"]
