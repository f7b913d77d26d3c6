"""Workflows the CLI and crash tests run in other processes (importable as tests.orchestrator.flows)."""

from __future__ import annotations

import os
import time

from orchestrator import RetryPolicy, step, workflow


@step
def add(a: int, b: int) -> int:
    return a + b


@step
def fail_if(x: int, limit: int) -> int:
    if x > limit:
        raise ValueError(f"{x} is over {limit}")
    return x


@workflow
def adder(a: int, b: int = 1):
    return add(add(a, b), b)


@workflow
def guarded(x: int):
    return fail_if(x, 10)


def _side_effect(name: str) -> None:
    # Counted by the crash test: one line per finished execution of a step body.
    path = os.environ.get("SLMFLOW_TEST_EFFECTS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())


@step
def seed(n: int) -> list[int]:
    _side_effect("seed")
    return list(range(n))


@step(retry=RetryPolicy(max_attempts=2, initial_backoff=0.01))
def slow_square(x: int, delay: float) -> int:
    time.sleep(delay)
    _side_effect(f"slow_square:{x}")
    return x * x


@step
def slow_inc(x: int, delay: float) -> int:
    time.sleep(delay)
    _side_effect(f"slow_inc:{x}")
    return x + 1


@step
def combine(squares: list[int], chained: int) -> dict:
    _side_effect("combine")
    return {"squares": squares, "chained": chained, "total": sum(squares) + chained}


CHAIN = 6


@workflow
def crashable(n: int, delay: float):
    items = seed(n)
    squares = slow_square.map(items, delay=delay)
    x = slow_inc(0, delay)
    for _ in range(CHAIN - 1):
        x = slow_inc(x, delay)
    return combine(squares, x)
