"""Hung steps: a sync step past its timeout gives its thread up (the run ends, the process exits,
other steps keep their threads); `executor="process"` kills a hung step for real; an async step
that blocks the event loop is reported by the loop-lag watchdog."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from orchestrator import DefinitionError, RunStatus, SQLiteStore, current_step, step, workflow
from orchestrator.executor import _pool

ROOT = Path(__file__).resolve().parents[2]
SLMFLOW = Path(sys.executable).parent / "slmflow"

RELEASE = threading.Event()


@step(timeout=0.2)
def stuck(i: int) -> int:
    RELEASE.wait(60)  # a sync call that does not return in time (released at the test's end)
    return i


@step
def quick(x: int) -> int:
    return x + 1


@workflow(store=None)
def many_stuck(items: list[int]):
    return stuck.map(items)


@workflow(store=None)
def one_quick(x: int):
    return quick(x)


@pytest.mark.timeout(60)
async def test_hung_sync_steps_give_their_threads_up_and_starve_nothing() -> None:
    RELEASE.clear()
    try:
        n = _pool().max_workers + 4  # more hung calls than the pool has threads
        started = time.monotonic()
        record = await asyncio.wait_for(many_stuck.start(items=list(range(n))).wait(), timeout=20)
        assert time.monotonic() - started < 10
        assert record.status is RunStatus.FAILED
        item = record.step("stuck[0]")
        assert "timeout" in item.error_message and "its thread was abandoned" in item.error_message
        assert sum("its thread was abandoned" in w for w in record.warnings) == n
        # Every thread of the pool is still stuck, yet a new sync step runs at once.
        assert await asyncio.wait_for(one_quick.arun(x=1), timeout=5) == 2
    finally:
        RELEASE.set()


HUNG_SCRIPT = """
import time
from orchestrator import step, workflow

@step(timeout=0.5)
def hang(x: int) -> int:
    time.sleep(120)
    return x

@workflow
def hung(x: int):
    return hang(x)
"""


@pytest.mark.timeout(90)
def test_slmflow_run_exits_on_time_after_a_step_hangs(tmp_path: Path) -> None:
    script = tmp_path / "hung_flow.py"
    script.write_text(HUNG_SCRIPT)
    home = tmp_path / "home"
    env = {**os.environ, "SLMFLOW_HOME": str(home)}
    started = time.monotonic()
    proc = subprocess.run(
        [str(SLMFLOW), "run", str(script), "-i", "x=1", "--no-progress"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed" and "0.5s timeout" in out["error"]
    store = SQLiteStore(home / "runs.db")
    record = store.get_run(out["run_id"])
    assert any("its thread was abandoned" in w for w in record.warnings)
    store.close()


@step(executor="process", timeout=1.0)
def hang_in_process(pid_file: str) -> int:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(120)
    return 0


@step(executor="process")
def where_am_i(x: int) -> dict:
    ctx = current_step()
    return {"pid": os.getpid(), "step": ctx.step if ctx else None, "x": x}


@workflow(store=None)
def killable(pid_file: str):
    return hang_in_process(pid_file)


@workflow(store=None)
def elsewhere(x: int):
    return where_am_i(x)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not reaped yet is a zombie: as good as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(120)
async def test_a_process_step_is_killed_at_its_timeout(tmp_path: Path) -> None:
    out = await asyncio.wait_for(elsewhere.arun(x=3), timeout=60)
    assert out["x"] == 3 and out["step"] == "where_am_i" and out["pid"] != os.getpid()

    pid_file = tmp_path / "pid"
    record = await asyncio.wait_for(killable.start(pid_file=str(pid_file)).wait(), timeout=60)
    assert record.status is RunStatus.FAILED
    assert "1.0s timeout" in record.error and "worker process was killed" in record.error
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _alive(pid), "the hung step's process is still running"
    # The executor replaces the killed worker: the next call runs.
    assert (await asyncio.wait_for(elsewhere.arun(x=4), timeout=60))["x"] == 4


def test_a_process_step_must_be_importable_by_name() -> None:
    with pytest.raises(DefinitionError, match="executor='process' needs a function defined at module level"):

        @step(executor="process")
        def local(x: int) -> int:
            return x


@pytest.mark.timeout(60)
async def test_an_async_step_that_blocks_the_loop_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("SLMFLOW_LOOP_LAG_S", "0.2")
    store = SQLiteStore(tmp_path / "runs.db")

    @step
    async def blocker(x: int) -> int:
        time.sleep(1.0)  # the bug: blocking call on the event loop
        return x

    @workflow(store=store)
    def blocked(x: int):
        return blocker(x)

    record = await blocked.start(x=1).wait()
    assert record.status is RunStatus.SUCCEEDED
    [warning] = [w for w in record.warnings if "event loop was blocked" in w]
    assert "step 'blocker'" in warning and "test_engine_hangs.py" in warning
    assert store.get_run(record.run_id).warnings == record.warnings
    err = capsys.readouterr().err
    assert "event loop blocked" in err and "blocker" in err
    store.close()
