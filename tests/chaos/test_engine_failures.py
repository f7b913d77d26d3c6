"""Failures that used to leave a run `running` for good: every one must end the run `failed`, fast."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, field_serializer

from orchestrator import RunStatus, SQLiteStore, StepStatus, step, workflow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "runs.db")
    yield s
    s.close()


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


async def _ends(wf: Any, **inputs: Any) -> Any:
    # A hang is the bug: bound the wait so the test fails instead of hanging with it.
    return await asyncio.wait_for(wf.start(inputs).wait(), timeout=5)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("sync", [False, True])
async def test_an_exception_whose_str_raises_fails_the_step(store: SQLiteStore, sync: bool) -> None:
    if sync:

        @step
        def boom() -> int:
            raise UnprintableError()
    else:

        @step
        async def boom() -> int:
            raise UnprintableError()

    @workflow(store=store)
    def flow():
        return boom()

    record = await _ends(flow)
    assert record.status is RunStatus.FAILED
    assert "UnprintableError" in record.error and "str() raised" in record.error
    assert store.get_run(record.run_id).status is RunStatus.FAILED
    assert record.step("boom").error_type == "UnprintableError"


def _cyclic() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


def _deep() -> list[Any]:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    return value


@pytest.mark.timeout(30)
@pytest.mark.parametrize("shape", ["cyclic", "deep", "cyclic-dict"])
@pytest.mark.parametrize("mapped", [False, True])
async def test_cyclic_or_very_deep_output_fails_the_step_with_the_store_on(
    store: SQLiteStore, shape: str, mapped: bool
) -> None:
    def make() -> Any:
        if shape == "cyclic-dict":
            d: dict[str, Any] = {}
            d["self"] = d
            return d
        return _cyclic() if shape == "cyclic" else _deep()

    @step
    async def produce(i: int) -> Any:
        return make()

    @step
    async def items() -> list[int]:
        return [0, 1]

    @workflow(store=store)
    def flow():
        return produce.map(items()) if mapped else produce(0)

    record = await _ends(flow)
    assert record.status is RunStatus.FAILED, record
    assert "cyclic or nested too deep" in record.error
    stored = store.get_run(record.run_id)
    assert stored.status is RunStatus.FAILED
    failed = [s for s in stored.steps if s.status is StepStatus.FAILED]
    assert failed and all(s.error_type == "UnstorableValueError" for s in failed)


async def test_an_async_when_on_a_map_is_rejected_like_on_a_plain_step() -> None:
    calls: list[int] = []

    async def is_even(x: int) -> bool:
        return x % 2 == 0

    @step(when=is_even)
    async def keep(x: int) -> int:
        calls.append(x)
        return x

    @step(when=is_even)
    async def plain(x: int) -> int:
        return x

    @workflow(store=None)
    def mapped():
        return keep.map([1, 2, 3])

    @workflow(store=None)
    def single():
        return plain(2)

    plain_record = await _ends(single)
    map_record = await _ends(mapped)
    assert calls == []  # the predicate was never awaited, so nothing may have run
    assert plain_record.status is RunStatus.FAILED and map_record.status is RunStatus.FAILED
    message = "when= must be a plain function returning a bool, not async"
    assert message in plain_record.error and message in map_record.error


class Exploding(BaseModel):
    x: int

    @field_serializer("x")
    def _boom(self, x: int) -> int:
        raise RuntimeError("serializer exploded")


@pytest.mark.timeout(30)
async def test_an_output_whose_serializer_raises_fails_the_step(store: SQLiteStore) -> None:
    @step
    async def produce() -> Exploding:
        return Exploding(x=1)

    @workflow(store=store)
    def flow():
        return produce()

    record = await _ends(flow)
    assert record.status is RunStatus.FAILED
    assert "cannot be serialised" in record.error and "serializer exploded" in record.error
