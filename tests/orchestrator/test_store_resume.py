"""The SQLite store, storage of values, and resuming runs in-process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from orchestrator import (
    GraphChangedError,
    ResumeError,
    RunStatus,
    SQLiteStore,
    StepStatus,
    aresume,
    default_store,
    resume,
    step,
    workflow,
)
from orchestrator.serialization import dumps, loads
from orchestrator.store import RunRow
from orchestrator.workflow import new_run_id

CALLS: list[str] = []
GATE: dict[str, asyncio.Event] = {}


class Point(BaseModel):
    x: int
    y: int


@step
async def origin(n: int) -> Point:
    CALLS.append("origin")
    return Point(x=n, y=0)


@step
async def shift(p: Point) -> Point:
    CALLS.append("shift")
    return Point(x=p.x + 1, y=p.y + 1)


@step
async def hold(p: Point) -> tuple[int, int]:
    CALLS.append("hold")
    gate = GATE.get("hold")
    if gate is not None:
        await gate.wait()
    return (p.x, p.y)


@step
def finish(a: Point, b: tuple[int, int]) -> dict:
    CALLS.append("finish")
    return {"a": a, "b": b}


@workflow
def shape(n: int):
    p = origin(n)
    return finish(shift(p), hold(p))


def test_values_round_trip_through_json() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    value = {"p": Point(x=1, y=2), "t": (1, [2, (3,)]), "when": when, "none": None, "f": 1.5}
    assert loads(dumps(value)) == value


def test_unstorable_output_fails_the_step_unless_pickle_opted_in(store: SQLiteStore) -> None:
    class Opaque:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Opaque)

    @step
    def make() -> object:
        return Opaque()

    @workflow(store=store)
    def wf():
        return make()

    rec = asyncio.run(_wait(wf))
    st = rec.step("make")
    assert st.status is StepStatus.FAILED and st.error_type == "UnstorableValueError"
    assert "step 'make' output" in st.error_message and "allow_pickle=True" in st.error_message

    @step(allow_pickle=True)
    def make_pickled() -> object:
        return {"k": (1, 2)}

    @workflow(store=store)
    def wf2():
        return make_pickled()

    assert wf2.run() == {"k": (1, 2)}
    # Without a store nothing is serialised, so nothing is refused.
    assert isinstance(wf.with_options(store=None).run(), Opaque)


async def _wait(wf, **inputs):
    return await wf.start(inputs).wait()


def test_records_in_store(store: SQLiteStore) -> None:
    durable = shape.with_options(store=store)
    result = durable.run(n=1)
    assert result == {"a": Point(x=2, y=1), "b": (1, 0)}
    [summary] = store.list_runs()
    rec = store.get_run(summary.run_id)
    assert rec.status is RunStatus.SUCCEEDED and rec.result == result
    assert rec.inputs == {"n": 1} and rec.graph_hash == shape.graph_hash
    assert rec.target == "tests.orchestrator.test_store_resume:shape"
    assert [s.step for s in rec.steps] == ["origin", "shift", "hold", "finish"]
    fin = rec.step("finish")
    assert fin.input_ids == ["shift", "hold"] and fin.attempts == 1 and len(fin.history) == 1
    assert fin.started_at <= fin.ended_at
    assert store.list_runs(status=RunStatus.FAILED) == []
    assert store.list_runs(workflow="shape")[0].run_id == rec.run_id
    with pytest.raises(KeyError, match="no run 'nope'"):
        store.get_run("nope")


async def test_cancelled_run_resumes_without_rerunning_finished_steps(store: SQLiteStore) -> None:
    CALLS.clear()
    GATE["hold"] = asyncio.Event()
    durable = shape.with_options(store=store)
    handle = durable.start(n=5)
    while "hold" not in CALLS:
        await asyncio.sleep(0.001)
    handle.cancel()
    rec = await handle.wait()
    assert rec.status is RunStatus.CANCELLED
    stored = store.get_run(handle.run_id)
    assert {s.step: s.status for s in stored.steps} == {
        "origin": StepStatus.SUCCEEDED,
        "shift": StepStatus.SUCCEEDED,
        "hold": StepStatus.CANCELLED,
        "finish": StepStatus.CANCELLED,
    }
    GATE.pop("hold").set()
    CALLS.clear()
    result = await aresume(handle.run_id, store=store)
    assert result == {"a": Point(x=6, y=1), "b": (5, 0)}
    assert CALLS == ["hold", "finish"]
    assert store.get_run(handle.run_id).status is RunStatus.SUCCEEDED
    # Resuming a finished run runs nothing and returns the same result.
    CALLS.clear()
    assert await aresume(handle.run_id, store=store) == result
    assert CALLS == []


@workflow
def lone(n: int):
    return hold(origin(n))


async def test_a_step_is_recorded_as_running_while_it_runs(store: SQLiteStore) -> None:
    # Nothing else finishes while `hold` waits, so only the started-row timer can record it.
    GATE["hold"] = asyncio.Event()
    handle = lone.with_options(store=store).start(n=2)
    try:
        for _ in range(300):
            await asyncio.sleep(0.01)
            statuses = {s.step: s.status for s in store.get_run(handle.run_id).steps}
            if statuses.get("hold") is StepStatus.RUNNING:
                break
        assert statuses == {"origin": StepStatus.SUCCEEDED, "hold": StepStatus.RUNNING}
        assert store.get_run(handle.run_id).step("hold").started_at is not None
    finally:
        GATE.pop("hold").set()
    assert (await handle.wait()).status is RunStatus.SUCCEEDED
    assert store.get_run(handle.run_id).step("hold").status is StepStatus.SUCCEEDED


def test_resume_reruns_failed_steps(store: SQLiteStore) -> None:
    state = {"fail": True}

    @step
    def first() -> int:
        CALLS.append("first")
        return 1

    @step
    def fragile(x: int) -> int:
        CALLS.append("fragile")
        if state["fail"]:
            raise ConnectionError("service down")
        return x + 1

    @workflow(store=store)
    def wf():
        return fragile(first())

    CALLS.clear()
    rec = asyncio.run(_wait(wf))
    assert rec.status is RunStatus.FAILED
    state["fail"] = False
    assert resume(rec.run_id, store=store, workflow=wf) == 2
    assert CALLS == ["first", "fragile", "fragile"]


def test_resume_refuses_a_changed_graph(store: SQLiteStore) -> None:
    @step
    def a() -> int:
        return 1

    @step
    def b(x: int) -> int:
        return x

    @workflow(store=store, name="evolving")
    def v1():
        return b(a())

    @workflow(store=store, name="evolving")
    def v2():
        return b(b(a()))

    rec = asyncio.run(_wait(v1))
    with pytest.raises(GraphChangedError, match=r"graph .* changed.*refused"):
        resume(rec.run_id, store=store, workflow=v2)


def test_resume_errors_are_clear(store: SQLiteStore) -> None:
    with pytest.raises(ResumeError, match="no run 'missing'"):
        resume("missing", store=store)
    # A run whose owner process is alive on this host is not resumed behind its back.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        import socket

        store.create_run(
            RunRow("r-live", "shape", "tests.orchestrator.test_store_resume:shape", shape.graph_hash,
                   "running", dumps({"n": 1}), 0.0, 0.0, sleeper.pid, socket.gethostname())
        )
        with pytest.raises(ResumeError, match=f"still running in process {sleeper.pid}"):
            resume("r-live", store=store)
    finally:
        sleeper.kill()
        sleeper.wait()
    CALLS.clear()
    assert resume("r-live", store=store) == {"a": Point(x=2, y=1), "b": (1, 0)}


def test_default_store_lives_under_slmflow_home() -> None:
    home = os.environ["SLMFLOW_HOME"]
    assert str(default_store().path).startswith(home)
    assert default_store() is default_store()


def test_run_ids_sort_by_creation_and_a_forked_child_does_not_repeat_them() -> None:
    ids = [new_run_id() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000 and {len(i) for i in ids} == {20}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, then out without running any test machinery
        os.write(write, new_run_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    # Without a reseed the child's counter would continue exactly where the parent's is.
    assert len(child) == 20 and child[12:] != new_run_id()[12:]
