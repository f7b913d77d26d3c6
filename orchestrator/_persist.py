"""Persistence of one run: its step rows, usage records and end, written to the store.

Finished steps are queued and written in one transaction per turn of the event loop, and
only then handed back to the scheduler (`on_durable`), so a step's output is durable before
anything consumes it. A "started" row only shows progress and rides along with the next
write (or a short timer's). Code on the event loop never waits for SQLite's lock: a busy
store raises `StoreBusy` on the fast path and the write goes to a thread, the nodes it
carries staying gated until it lands.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable
from typing import Any

from orchestrator._graph import Node
from orchestrator._plan import Plan
from orchestrator._state import StepState
from orchestrator.errors import UnstorableValueError
from orchestrator.records import RunStatus, StepStatus, UsageRecord
from orchestrator.serialization import dumps
from orchestrator.store import RunRow, Store, StoreBusy

_TEXT = {status: status.value for status in StepStatus}
# How long a started step may go unrecorded when nothing else flushes (see `started`).
STARTED_ROW_DELAY = 0.05


def stored_output(plan: Plan, node: Node, sid: str, value: Any) -> str:
    """A step's output as the store keeps it (UnstorableValueError when it cannot)."""
    allow_pickle = plan.allow_pickle or node.step.allow_pickle  # type: ignore[union-attr]
    return dumps(value, allow_pickle=allow_pickle, where=f"step {sid!r} output")


class StepWriter:
    """Writes one run's rows to its store; `on_durable` gets the nodes whose rows committed,
    `on_error` the exception of a write that failed (the run cannot go on without its record)."""

    def __init__(
        self,
        run_id: str,
        store: Store,
        plan: Plan,
        *,
        on_durable: Callable[[list[Node]], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.run_id = run_id
        self.store = store
        # The store as code on the loop uses it: a busy store raises StoreBusy instead of
        # waiting, and the write goes to a thread (`_inflight` for step rows, `_background`).
        self._fast = store.nowait()
        self._input_ids = plan.input_ids_json
        self._on_durable = on_durable
        self._on_error = on_error
        self._pending: dict[str, tuple[StepState, str | None]] = {}
        self._gated: list[Node] = []
        self._flush_handle: asyncio.Handle | None = None
        self._started_timer: asyncio.TimerHandle | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The run starts on `loop`, in this thread: later writes are scheduled on it."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    async def create_run(self, row: RunRow) -> None:
        try:
            self._fast.create_run(row)
        except StoreBusy:
            await asyncio.to_thread(self.store.create_run, row)

    # ---- step rows ----

    def finished(self, node: Node, st: StepState, output: str | None, alone: bool = False) -> None:
        """`node` ended as `st` says: write its row, then hand the node back through `on_durable`."""
        self._gated.append(node)
        self._pending[st.sid] = (st, output)
        if alone:
            # Nothing else of this run is in flight, so nothing can join this batch:
            # write now rather than a loop turn later (a chain's next step starts sooner).
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self.flush()
        elif self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self.flush)

    def queue(self, st: StepState, output: str | None) -> None:
        """A row to write with the next flush, gating nothing (a map item, a settled step)."""
        # Keyed by step: a step that starts and finishes before the next flush is written once.
        self._pending[st.sid] = (st, output)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self.flush)

    def started(self, st: StepState) -> None:
        # A started row only shows progress: resume re-runs a started step exactly as it
        # re-runs one never recorded. So it rides along with the next flush, or a timer
        # writes it if the step is still running then; a step that finishes first is
        # written once, finished.
        self._pending[st.sid] = (st, None)
        if self._flush_handle is None and self._started_timer is None and self._loop is not None:
            self._started_timer = self._loop.call_later(STARTED_ROW_DELAY, self._flush_started)

    def _flush_started(self) -> None:
        self._started_timer = None
        if self._flush_handle is None and self._pending:
            self._flush_handle = self._loop.call_soon(self.flush)  # type: ignore[union-attr]

    def _take_rows(self) -> list[Any] | None:
        """The queued step rows as plain tuples (None when there are none)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return None
        run_id, ids = self.run_id, self._input_ids
        # Plain tuples in StepRow's column order (building NamedTuples costs more than the insert).
        return [
            (
                run_id, st.sid, st.name, st.seq, _TEXT[st.status], st.attempts,
                json.dumps(st.history) if st.history else None,
                st.started, st.ended, ids.get(st.sid, "[]"),
                st.error_type, st.error_message, st.traceback, int(st.fallback_used), st.skip_reason,
                st.parent, st.map_index, output,
            )
            for st, output in pending.values()
        ]  # fmt: skip

    def flush(self) -> None:
        self._flush_handle = None
        if self._inflight is not None:
            return  # the write in a thread flushes again when it lands (rows stay in order)
        rows = self._take_rows()
        try:
            if rows:
                self._fast.write_steps(rows)
        except StoreBusy:
            # Another writer holds the store: wait for it in a thread, not on the loop. The
            # nodes of these rows stay gated until their rows are committed.
            gated, self._gated = self._gated, []
            fut = self._inflight = self._loop.run_in_executor(None, self.store.write_steps, rows)  # type: ignore[union-attr]
            fut.add_done_callback(functools.partial(self._landed, gated))
            return
        except Exception as exc:
            self._on_error(exc)
            return
        gated, self._gated = self._gated, []
        self._on_durable(gated)

    def _landed(self, gated: list[Node], fut: asyncio.Future[None]) -> None:
        self._inflight = None
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self._on_error(exc or asyncio.CancelledError())
            return
        self._on_durable(gated)
        if (self._pending or self._gated) and self._flush_handle is None:
            self.flush()

    # ---- usage ----

    def record_usage(self, record: UsageRecord) -> None:
        if self._loop is None or threading.get_ident() != self._loop_thread:
            self.store.record_usage([record])  # a step's own thread may wait for a busy store
            return
        try:
            self._fast.record_usage([record])
        except StoreBusy:
            fut = self._loop.run_in_executor(None, self.store.record_usage, [record])
            self._background.add(fut)
            fut.add_done_callback(self._background.discard)

    # ---- the end ----

    async def settle(self) -> None:
        """Wait for the writes handed to threads (a busy store), so the run's last ones come after."""
        while self._inflight is not None:
            await asyncio.wait([self._inflight])
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def end(
        self, status: RunStatus, result: Any, error: str | None, ended: float, warnings: list[str]
    ) -> tuple[str | None, asyncio.Future[None] | None]:
        """The run's last writes: the rows still queued, then the run's end.

        Returns the error to record (the result's own, when it cannot be stored and nothing
        failed before) and a future when the store was busy and the writes went to a thread.
        """
        for handle in (self._flush_handle, self._started_timer):
            if handle is not None:
                handle.cancel()
        self._flush_handle = self._started_timer = None
        rows = self._take_rows()
        try:
            result_text = dumps(result, allow_pickle=True, where="the workflow's result")
        except UnstorableValueError as exc:
            result_text, error = None, error or str(exc)
        end = functools.partial(
            _mark_end, run_id=self.run_id, status=status, result=result_text, error=error, ended_at=ended,
            warnings=json.dumps(warnings) if warnings else None,
        )  # fmt: skip
        try:
            if rows:
                self._fast.write_steps(rows)
                rows = None
            end(self._fast)
        except StoreBusy:
            return error, self._loop.run_in_executor(None, self._write_end, rows, end)  # type: ignore[union-attr]
        return error, None

    def _write_end(self, rows: list[Any] | None, end: Callable[[Store], None]) -> None:
        if rows:
            self.store.write_steps(rows)
        end(self.store)


def _mark_end(store: Store, *, run_id: str, status: RunStatus, **marks: Any) -> None:
    store.mark_run(run_id, status, **marks)
