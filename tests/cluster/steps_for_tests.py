"""Module-level functions that Ray tasks import by reference in the executor tests."""

from __future__ import annotations

import os
import time


def whoami(tag: str) -> dict[str, object]:
    import ray

    ctx = ray.get_runtime_context()
    return {
        "tag": tag,
        "pid": os.getpid(),
        "task_id": ctx.get_task_id(),
        "resources": ctx.get_assigned_resources(),
    }


async def async_double(x: int) -> int:
    return 2 * x


class Boom(ValueError):
    pass


def explode(msg: str) -> None:
    raise Boom(msg)


def sleep_then_touch(seconds: float, path: str) -> None:
    time.sleep(seconds)
    with open(path, "w") as f:
        f.write("finished")


def record_tokens(n: int) -> int:
    """A step body that accounts a model call the way the agents client does."""
    from orchestrator import UsageRecord, current_step

    ctx = current_step()
    assert ctx is not None, "the step context must reach the Ray task"
    ctx.record_usage(UsageRecord(agent="counter", task="generate", model="m", tokens_in=n, tokens_out=1))
    return os.getpid()
