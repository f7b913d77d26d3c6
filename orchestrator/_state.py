"""What a run knows of each step while it runs, and the transitions between its statuses.

`StepState` is one node or map item: pending -> running -> succeeded / failed, or skipped,
or cancelled. Every status change goes through one of its methods, so what a skip (or a
failure, ...) sets is written once, and the run turns a state into a `StepRecord` on demand.
"""

from __future__ import annotations

import traceback as tb_module
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import describe
from orchestrator.records import AttemptRecord, Failure, StepRecord, StepStatus

_S = StepStatus


class StepState:
    """Mutable state of one node or map item during a run."""

    __slots__ = (
        "abandoned",
        "attempts",
        "ended",
        "error_message",
        "error_type",
        "fallback_used",
        "history",
        "map_index",
        "name",
        "parent",
        "seq",
        "sid",
        "skip_reason",
        "started",
        "status",
        "traceback",
    )

    def __init__(self, sid: str, name: str, seq: float, parent: str | None = None, index: int | None = None):
        self.sid = sid
        self.name = name
        self.seq = seq
        self.parent = parent
        self.map_index = index
        self.status = _S.PENDING
        self.attempts = 0
        self.abandoned = 0  # threads of this step given up on (see executor.run_in_thread)
        # [attempt, started, ended, error type, error message] per attempt, kept only once an
        # attempt failed: a step that succeeded at once is recorded from started/ended alone.
        self.history: list[list[Any]] | None = None
        self.started: float | None = None
        self.ended: float | None = None
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.traceback: str | None = None
        self.fallback_used = False
        self.skip_reason: str | None = None

    # ---- transitions ----

    def start(self, now: float) -> None:
        self.status = _S.RUNNING
        self.started = now

    def succeed(self, now: float) -> None:
        self.status = _S.SUCCEEDED
        self.ended = now
        if self.history is not None:
            self.history.append([self.attempts, self.history[-1][2], now, None, None])

    def fail(self, exc: BaseException, now: float | None = None, message: str | None = None) -> None:
        """Failed with `exc` (`message` instead of its text when given); `now` sets the end."""
        self.status = _S.FAILED
        self.error_type = type(exc).__name__
        self.error_message = describe(exc) if message is None else message
        self.traceback = "".join(tb_module.format_exception(exc))
        if now is not None:
            self.ended = now

    def skip(self, reason: str, now: float) -> None:
        self.status = _S.SKIPPED
        self.skip_reason = reason
        self.ended = now

    def cancel(self, reason: str, now: float) -> None:
        """Stopped (or never started) by the run's end; an earlier end or reason is kept."""
        self.status = _S.CANCELLED
        self.ended = self.ended or now
        self.skip_reason = self.skip_reason or reason

    # ---- views ----

    @property
    def unfinished(self) -> bool:
        return self.status in (_S.PENDING, _S.RUNNING, _S.CANCELLED)

    def failure(self) -> Failure:
        """What a step with `receive_failures=True` gets in place of this step's output."""
        return Failure(
            step=self.sid,
            error_type=self.error_type,
            message=self.error_message or self.skip_reason,
            skipped=self.status is _S.SKIPPED,
        )

    def record(self, run_id: str, input_ids: list[str]) -> StepRecord:
        if self.history:
            history = [
                AttemptRecord.model_construct(
                    attempt=a, started_at=to_datetime(s), ended_at=to_datetime(e), error_type=t, error_message=m
                )
                for a, s, e, t, m in self.history
            ]
        elif self.attempts == 1 and self.started is not None:
            history = [AttemptRecord.model_construct(attempt=1, started_at=to_datetime(self.started), ended_at=to_datetime(self.ended))]
        else:
            history = []
        return StepRecord.model_construct(
            run_id=run_id,
            step=self.sid,
            name=self.name,
            status=self.status,
            attempts=self.attempts,
            history=history,
            started_at=to_datetime(self.started),
            ended_at=to_datetime(self.ended),
            input_ids=input_ids,
            error_type=self.error_type,
            error_message=self.error_message,
            traceback=self.traceback,
            fallback_used=self.fallback_used,
            skip_reason=self.skip_reason,
            parent=self.parent,
            map_index=self.map_index,
        )

    def order(self) -> tuple[float, int]:
        """Sort key: graph order, a map's items after the map in item order."""
        return (self.seq, -1 if self.map_index is None else self.map_index)


class MapState:
    """The items of one `.map()` node: how many are still running, and their outcomes."""

    __slots__ = ("failed", "pending", "results", "skipped")

    def __init__(self, n: int) -> None:
        self.pending = n
        self.results: list[Any] = [None] * n
        self.failed: list[StepState] = []
        self.skipped: set[int] = set()


class Preloaded:
    """A step's outcome carried over from an earlier attempt of the run (resume)."""

    __slots__ = ("skip_reason", "status", "value")

    def __init__(self, status: StepStatus, value: Any, skip_reason: str | None = None) -> None:
        self.status = status
        self.value = value
        self.skip_reason = skip_reason


def to_datetime(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
