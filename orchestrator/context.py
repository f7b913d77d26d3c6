"""The step being executed, visible to code running inside it (agents record usage through it)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from orchestrator.records import UsageRecord


class StepContext:
    """Where the current code runs: which run, which step, which attempt.

    A contextvar carries it, so it reaches the step's coroutine and, through the default
    executor, the thread a sync step runs in.
    """

    __slots__ = ("_sink", "attempt", "run_id", "step")

    def __init__(self, run_id: str, step: str, attempt: int, sink: Callable[[UsageRecord], None]) -> None:
        self.run_id = run_id
        self.step = step
        self.attempt = attempt
        self._sink = sink

    def record_usage(self, record: UsageRecord) -> None:
        """Store a usage record, filling in this run and step when the record leaves them empty."""
        if record.run_id is None or record.step is None:
            record = record.model_copy(
                update={"run_id": record.run_id or self.run_id, "step": record.step or self.step}
            )
        self._sink(record)

    def __repr__(self) -> str:
        return f"StepContext(run_id={self.run_id!r}, step={self.step!r}, attempt={self.attempt})"


_CURRENT: ContextVar[StepContext | None] = ContextVar("slmflow_current_step", default=None)


def current_step() -> StepContext | None:
    """The step this code runs in, or None outside any step."""
    return _CURRENT.get()


@contextmanager
def step_context(
    run_id: str, step: str, attempt: int, sink: Callable[[UsageRecord], None]
) -> Iterator[StepContext]:
    """Run code as part of a step elsewhere: an executor that moves a step's body to another
    process opens this there, collects what `sink` receives, and records it on the driver."""
    token = _CURRENT.set(StepContext(run_id, step, attempt, sink))
    try:
        yield _CURRENT.get()  # type: ignore[misc]
    finally:
        _CURRENT.reset(token)
