"""ray_task(): a step body runs as a Ray task with its own resources."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from cluster import ray_task
from tests.cluster import steps_for_tests as s

pytestmark = pytest.mark.usefixtures("ray_cluster")


async def test_runs_in_a_ray_task_with_requested_resources() -> None:
    out = await ray_task(num_cpus=2, num_gpus=0.25).run(s.whoami, ("a",), {})
    assert out["tag"] == "a"
    assert out["pid"] != os.getpid()
    assert out["task_id"]
    assert out["resources"] == {"CPU": 2.0, "GPU": 0.25}


async def test_async_functions_and_kwargs() -> None:
    assert await ray_task().run(s.async_double, (), {"x": 21}) == 42


async def test_the_steps_own_exception_surfaces() -> None:
    # Retry policies match on the user's exception type, not on Ray's wrapper.
    with pytest.raises(s.Boom, match="kaput"):
        await ray_task(max_retries=0).run(s.explode, ("kaput",), {})


async def test_cancelling_the_caller_cancels_the_task(tmp_path: Path) -> None:
    marker = tmp_path / "done"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ray_task().run(s.sleep_then_touch, (3.0, str(marker)), {}), timeout=1.0)
    time.sleep(4.0)
    assert not marker.exists()


def test_bad_options_are_named() -> None:
    with pytest.raises(ValidationError, match="num_cpus"):
        ray_task(num_cpus=-1)
    with pytest.raises(ValidationError, match="num_gpus"):
        ray_task(num_gpus=1.5)


def test_usage_recorded_inside_the_task_lands_in_the_run_store(tmp_path: Path) -> None:
    from orchestrator import SQLiteStore, step, workflow

    counted = step(executor=ray_task(num_cpus=1), name="counted")(s.record_tokens)

    @workflow
    def accounted(n: int):
        return counted(n)

    store = SQLiteStore(tmp_path / "runs.db")
    [record] = accounted.with_options(store=store).run_many([{"n": 7}])
    assert record.status.value == "succeeded", record.error
    assert record.result != os.getpid()  # the body ran in a Ray worker, not here
    [usage] = store.list_usage(run_id=record.run_id)
    assert (usage.agent, usage.step, usage.tokens_in) == ("counter", "counted", 7)
