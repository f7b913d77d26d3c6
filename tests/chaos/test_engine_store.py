"""A store another process holds locked must not stall the event loop: runs wait for their writes
off the loop, everything else on the loop keeps going, and nothing is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from orchestrator import RunStatus, SQLiteStore, StepStatus, UsageRecord, current_step, step, workflow


@step
async def inc(x: int) -> int:
    ctx = current_step()
    assert ctx is not None
    ctx.record_usage(UsageRecord(agent="a", task="t", model="m", tokens_in=x))
    return x + 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("batch", [False, True])
async def test_a_locked_store_does_not_stall_the_loop(tmp_path: Path, batch: bool) -> None:
    store = SQLiteStore(tmp_path / "runs.db")

    @workflow(store=store)
    def chain(x: int):
        return inc(inc(inc(x)))

    # Another writer holds SQLite's write lock for 1 s (as a long transaction elsewhere would):
    # twice the longest gap allowed below, so a loop that waited for the lock fails the test.
    other = sqlite3.connect(str(store.path), check_same_thread=False, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        other.execute("COMMIT")
        released.set()

    timer = threading.Timer(1.0, release)
    timer.start()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while not released.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    try:
        ticking = asyncio.create_task(ticker())
        if batch:  # a batch records its inputs, then claims each run: all off the loop when locked
            [record] = await asyncio.wait_for(chain.arun_many([{"x": 1}]), timeout=30)
        else:
            record = await asyncio.wait_for(chain.start(x=1).wait(), timeout=30)
        await asyncio.wait_for(ticking, timeout=30)
    finally:
        timer.join()
        other.close()
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f}s on a locked store"
    assert record.status is RunStatus.SUCCEEDED and record.result == 4
    stored = store.get_run(record.run_id)
    assert stored.status is RunStatus.SUCCEEDED and stored.result == 4
    assert [s.status for s in stored.steps] == [StepStatus.SUCCEEDED] * 3
    assert sorted(u.tokens_in for u in store.list_usage(run_id=record.run_id)) == [1, 2, 3]
    store.close()
