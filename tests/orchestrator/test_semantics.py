"""Run-time semantics: parallelism, retries, timeouts, deadlines, cancellation, when=, fallback=,
failure isolation, .map(), concurrency bounds, events and the step context."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel

from orchestrator import (
    EventKind,
    Failure,
    OrchestratorError,
    RetryPolicy,
    RunFailed,
    RunStatus,
    StepStatus,
    UsageRecord,
    current_step,
    set_engine_concurrency,
    step,
    workflow,
)


class Order(BaseModel):
    id: str
    amount: float


@step
async def fetch(order_id: str) -> Order:
    return Order(id=order_id, amount=120.0)


@step
def score(order: Order) -> float:
    return order.amount / 100


@step
async def summarize(order: Order) -> str:
    return f"order {order.id}"


@step
def split(order: Order) -> list[str]:
    return [f"{order.id}-{i}" for i in range(3)]


@step
async def annotate(note: str) -> str:
    return note.upper()


@step
def decide(risk: float, summary: str, notes: list[str]) -> dict:
    return {"risk": risk, "summary": summary, "notes": notes}


@workflow(store=None)
def review(order_id: str):
    order = fetch(order_id)
    risk, summary = score(order), summarize(order)
    notes = annotate.map(split(order))
    return decide(risk, summary, notes)


def test_issue_example_runs_sync_and_async(store) -> None:
    expected = {"risk": 1.2, "summary": "order A1", "notes": ["A1-0", "A1-1", "A1-2"]}
    assert review.run(order_id="A1") == expected
    assert asyncio.run(review.arun(order_id="A1")) == expected
    durable = review.with_options(store=store)
    assert durable.run(order_id="A1") == expected
    [rec] = store.list_runs()
    assert rec.status is RunStatus.SUCCEEDED
    assert store.get_run(rec.run_id).result == expected


async def test_independent_branches_run_concurrently() -> None:
    # Each branch waits until the other has started: this finishes only if they overlap.
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    @step
    async def branch(name: str, other: str) -> str:
        started[name].set()
        await asyncio.wait_for(started[other].wait(), 5)
        return name

    @step
    def both(a: str, b: str) -> str:
        return a + b

    @workflow(store=None)
    def wf():
        return both(branch("a", "b"), branch("b", "a"))

    assert await wf.arun() == "ab"


async def test_sync_steps_run_off_the_loop_with_context() -> None:
    seen = {}

    @step
    def blocking(x: int) -> int:
        ctx = current_step()
        seen["thread"] = threading.current_thread().name
        seen["ctx"] = (ctx.run_id, ctx.step, ctx.attempt)
        ctx.record_usage(UsageRecord(agent="clf", task="classify", model="m", tokens_in=5, tokens_out=1))
        return x + 1

    @workflow(store=None)
    def wf(x: int):
        return blocking(x)

    handle = wf.start(x=1)
    assert await handle.result() == 2
    assert seen["thread"] != threading.main_thread().name
    assert seen["ctx"] == (handle.run_id, "blocking", 1)
    [usage] = handle._run.usage
    assert (usage.run_id, usage.step, usage.tokens_in) == (handle.run_id, "blocking", 5)
    assert current_step() is None


def test_usage_recorded_in_store(store) -> None:
    @step
    async def call_model() -> int:
        current_step().record_usage(UsageRecord(agent="ext", task="extract", model="smol", tokens_out=7))
        return 1

    @workflow(store=store)
    def wf():
        return call_model()

    wf.run()
    [usage] = store.list_usage(agent="ext")
    assert usage.tokens_out == 7 and usage.step == "call_model"
    assert store.list_usage(run_id=usage.run_id) == [usage]
    assert store.list_usage(agent="nobody") == []


def test_retries_only_named_exceptions_and_records_each_attempt() -> None:
    calls = {"flaky": 0, "wrong": 0}

    @step(retry=RetryPolicy(max_attempts=4, initial_backoff=0.001, retry_on=(ConnectionError,)))
    def flaky() -> str:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError(f"drop {calls['flaky']}")
        return "ok"

    @step(retry=RetryPolicy(max_attempts=4, initial_backoff=0.001, retry_on=(ConnectionError,)))
    def wrong() -> str:
        calls["wrong"] += 1
        raise ValueError("bad input")

    @workflow(store=None)
    def wf():
        return [flaky(), wrong()]

    handle_record = asyncio.run(_wait(wf))
    assert calls == {"flaky": 3, "wrong": 1}
    rec_flaky = handle_record.step("flaky")
    assert rec_flaky.status is StepStatus.SUCCEEDED and rec_flaky.attempts == 3
    assert [a.error_type for a in rec_flaky.history] == ["ConnectionError", "ConnectionError", None]
    rec_wrong = handle_record.step("wrong")
    assert rec_wrong.status is StepStatus.FAILED and rec_wrong.attempts == 1
    assert rec_wrong.error_type == "ValueError" and "bad input" in rec_wrong.error_message
    assert "ValueError: bad input" in rec_wrong.traceback
    assert handle_record.status is RunStatus.FAILED  # the result needs `wrong`


async def _wait(wf, **inputs):
    return await wf.start(inputs).wait()


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(initial_backoff=0.1, multiplier=2, max_backoff=0.5, jitter=0.1)
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        samples = [policy.backoff(attempt) for _ in range(50)]
        assert all(base * 0.9 - 1e-9 <= s <= base * 1.1 + 1e-9 for s in samples)
    assert RetryPolicy(jitter=0, initial_backoff=0.1).backoff(3) == pytest.approx(0.4)


async def test_timeout_per_attempt_is_retried_then_fails() -> None:
    attempts = []

    @step(timeout=0.05, retry=RetryPolicy(max_attempts=2, initial_backoff=0.001, retry_on=(TimeoutError,)))
    async def slow() -> int:
        attempts.append(1)
        await asyncio.sleep(10)
        return 1

    @workflow(store=None)
    def wf():
        return slow()

    rec = await _wait(wf)
    assert len(attempts) == 2
    st = rec.step("slow")
    assert st.status is StepStatus.FAILED and st.attempts == 2
    assert st.error_type == "TimeoutError" and "0.05s timeout" in st.error_message


async def test_fallback_used_once_retries_are_exhausted() -> None:
    calls = []

    @step(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001), fallback=lambda x, error: f"fb({x}, {type(error).__name__})")
    async def boom(x: int) -> str:
        calls.append(x)
        raise RuntimeError("nope")

    @step(fallback=-1)
    def boom_value() -> int:
        raise RuntimeError("nope")

    @step
    def join(a: str, b: int) -> str:
        return f"{a}|{b}"

    @workflow(store=None)
    def wf(x: int):
        return join(boom(x), boom_value())

    handle = wf.start(x=3)
    assert await handle.result() == "fb(3, RuntimeError)|-1"
    assert calls == [3, 3]
    rec = handle.record()
    assert rec.status is RunStatus.SUCCEEDED
    assert rec.step("boom").fallback_used and rec.step("boom").attempts == 2
    assert rec.step("boom_value").fallback_used


async def test_failing_fallback_fails_the_step() -> None:
    def bad_fallback():
        raise KeyError("no fallback either")

    @step(fallback=bad_fallback)
    def boom() -> int:
        raise RuntimeError("nope")

    @workflow(store=None)
    def wf():
        return boom()

    rec = await _wait(wf)
    assert rec.step("boom").status is StepStatus.FAILED and rec.step("boom").error_type == "KeyError"


async def test_when_skips_step_and_its_dependents_without_failing_the_run() -> None:
    @step
    def amount(x: float) -> float:
        return x

    @step(when=lambda value: value > 100)
    def escalate(value: float) -> str:
        return "escalated"

    @step
    def notify(msg: str) -> str:
        return "sent " + msg

    @step
    def always(value: float) -> float:
        return value * 2

    @workflow(store=None)
    def wf(x: float):
        a = amount(x)
        return {"notice": notify(escalate(a)), "double": always(a)}

    assert (await wf.arun(x=500))["notice"] == "sent escalated"
    handle = wf.start(x=5)
    rec = await handle.wait()
    assert rec.status is RunStatus.SUCCEEDED
    assert rec.step("escalate").status is StepStatus.SKIPPED and rec.step("escalate").skip_reason == "condition false"
    assert rec.step("notify").status is StepStatus.SKIPPED
    assert rec.step("notify").skip_reason == "upstream 'escalate' skipped"
    assert rec.result["double"] == 10
    assert isinstance(rec.result["notice"], Failure) and rec.result["notice"].skipped


async def test_failure_isolation_and_partial_status() -> None:
    ran = []

    @step
    def source() -> int:
        return 1

    @step
    def bad(x: int) -> int:
        raise ValueError("broken branch")

    @step
    def after_bad(x: int) -> int:
        ran.append("after_bad")
        return x

    @step(receive_failures=True)
    def handler(x) -> str:
        ran.append("handler")
        return f"handled {x.step}: {x.error_type}" if isinstance(x, Failure) else "fine"

    @step
    def good(x: int) -> int:
        ran.append("good")
        return x + 1

    @workflow(store=None)
    def wf():
        s = source()
        b = bad(s)
        after_bad(b)
        return {"handled": handler(b), "good": good(s)}

    rec = await _wait(wf)
    assert rec.status is RunStatus.PARTIAL
    assert rec.result == {"handled": "handled bad: ValueError", "good": 2}
    assert sorted(ran) == ["good", "handler"]
    assert rec.step("after_bad").status is StepStatus.SKIPPED
    assert rec.step("after_bad").skip_reason == "upstream 'bad' failed"
    assert rec.step("bad").input_ids == ["source"]
    with pytest.raises(RunFailed, match=r"ended partial.*bad: ValueError: broken branch"):
        await wf.arun()


async def test_map_over_empty_and_large_lists() -> None:
    @step
    def make(n: int) -> list[int]:
        return list(range(n))

    @step
    async def square(x: int, offset: int) -> int:
        return x * x + offset

    @step
    def total(xs: list[int]) -> int:
        return sum(xs)

    @workflow(store=None)
    def wf(n: int):
        return total(square.map(make(n), offset=1))

    assert await wf.arun(n=0) == 0
    assert await wf.arun(n=2000) == sum(x * x + 1 for x in range(2000))


async def test_map_item_failure_fails_the_map_and_when_filters_items(store) -> None:
    @step(when=lambda x: x % 2 == 0)
    def evens(x: int) -> int:
        if x == 4:
            raise ValueError("four")
        return x

    @workflow(store=store)
    def wf(xs: list[int]):
        return evens.map(xs)

    assert await wf.arun(xs=[0, 1, 2, 3]) == [0, 2]
    rec = await _wait(wf, xs=[1, 2, 4, 6])
    assert rec.status is RunStatus.FAILED
    st = rec.step("evens")
    assert st.status is StepStatus.FAILED and "1 of 4 items failed; first: evens[2]: four" in st.error_message
    stored = store.get_run(rec.run_id)
    items = {s.step: s.status for s in stored.steps if s.parent == "evens"}
    assert items == {
        "evens[0]": StepStatus.SKIPPED,
        "evens[1]": StepStatus.SUCCEEDED,
        "evens[2]": StepStatus.FAILED,
        "evens[3]": StepStatus.SUCCEEDED,
    }


async def test_map_lists_of_different_lengths_fail_clearly() -> None:
    @step
    def pair(a: int, b: int) -> int:
        return a + b

    @workflow(store=None)
    def wf(xs: list[int], ys: list[int]):
        return pair.map(xs, ys)

    assert await wf.arun(xs=[1, 2], ys=[10, 20]) == [11, 22]
    rec = await _wait(wf, xs=[1, 2], ys=[1])
    assert "different lengths [1, 2]" in rec.step("pair").error_message


async def test_deadline_cancels_the_run() -> None:
    @step
    async def quick() -> int:
        return 1

    @step
    async def slow(x: int) -> int:
        await asyncio.sleep(10)
        return x

    @step
    def after(x: int) -> int:
        return x

    @workflow(store=None, deadline=0.1)
    def wf():
        return after(slow(quick()))

    rec = await _wait(wf)
    assert rec.status is RunStatus.FAILED and "DeadlineExceeded" in rec.error
    assert rec.step("quick").status is StepStatus.SUCCEEDED
    assert rec.step("slow").status is StepStatus.CANCELLED
    assert rec.step("after").status is StepStatus.CANCELLED


async def test_cancel_a_run_through_its_handle_and_by_task_cancel() -> None:
    gate = asyncio.Event()

    @step
    async def wait_forever() -> int:
        gate.set()
        await asyncio.sleep(10)
        return 1

    @workflow(store=None)
    def wf():
        return wait_forever()

    handle = wf.start()
    await gate.wait()
    handle.cancel()
    rec = await handle.wait()
    assert rec.status is RunStatus.CANCELLED
    assert rec.step("wait_forever").status is StepStatus.CANCELLED

    gate.clear()
    task = asyncio.create_task(wf.arun())
    await gate.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_concurrency_bound_per_run_and_per_engine() -> None:
    running = {"now": 0, "peak": 0}

    @step
    async def work(x: int) -> int:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.002)
        running["now"] -= 1
        return x

    @workflow(store=None, max_concurrency=3)
    def wf(xs: list[int]):
        return work.map(xs)

    assert await wf.arun(xs=list(range(30))) == list(range(30))
    assert running["peak"] == 3

    running["peak"] = 0
    set_engine_concurrency(4)
    try:
        unbounded = wf.with_options(max_concurrency=None)
        await asyncio.gather(unbounded.arun(xs=list(range(20))), unbounded.arun(xs=list(range(20))))
        assert running["peak"] == 4
    finally:
        set_engine_concurrency(None)


async def test_event_stream_reports_progress() -> None:
    @step(retry=RetryPolicy(max_attempts=2, initial_backoff=0.001))
    def flaky(state: dict) -> int:
        state["n"] = state.get("n", 0) + 1
        if state["n"] == 1:
            raise ConnectionError("once")
        return 1

    @step(when=lambda x: False)
    def never(x: int) -> int:
        return x

    @workflow(store=None)
    def wf(state: dict):
        return never(flaky(state))

    handle = wf.start(state={})
    events = [(e.kind, e.step) async for e in handle.events()]
    assert events == [
        (EventKind.RUN_STARTED, None),
        (EventKind.STEP_STARTED, "flaky"),
        (EventKind.STEP_RETRIED, "flaky"),
        (EventKind.STEP_FINISHED, "flaky"),
        (EventKind.STEP_SKIPPED, "never"),
        (EventKind.RUN_FINISHED, None),
    ]


def test_run_many_returns_records_in_order(store) -> None:
    @step
    async def double(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return 2 * x

    @workflow(store=store)
    def wf(x: int):
        return double(x)

    seen = []
    records = wf.run_many([{"x": i} for i in range(6)], concurrency=2, on_event=seen.append)
    assert [r.result for r in records if r.succeeded] == [0, 2, 4, 8, 10]
    assert records[3].status is RunStatus.FAILED
    assert sum(1 for e in seen if e.kind is EventKind.RUN_FINISHED) == 6
    assert len(store.list_runs(limit=100)) == 6


async def test_blocking_run_inside_a_loop_is_refused() -> None:
    with pytest.raises(OrchestratorError, match=r"use await review.arun"):
        review.run(order_id="x")
