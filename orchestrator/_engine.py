"""The scheduling loop of one run.

Every node waits on a counter of unfinished inputs; when a node finishes, its dependents'
counters drop and those reaching zero start at once. With a store, finished nodes are
queued and written in one transaction per turn of the event loop, and only then are their
dependents released, so a step's output is durable before anything consumes it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import os
import threading
import traceback as tb_module
from collections import deque
from collections.abc import Callable
from time import time
from typing import TYPE_CHECKING, Any

from orchestrator._graph import NO_FALLBACK, Node, resolve
from orchestrator.context import _CURRENT, StepContext
from orchestrator.errors import UnstorableValueError, describe, describe_repr
from orchestrator.events import Event, EventKind, EventStream
from orchestrator.executor import abandoned_threads, run_in_thread
from orchestrator.logging import get_logger, is_enabled_for
from orchestrator.owners import HOST, claim_token
from orchestrator.records import (
    AttemptRecord,
    Failure,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    UsageRecord,
)
from orchestrator.serialization import dumps
from orchestrator.store import RunRow, Store, StoreBusy
from orchestrator.watchdog import watch

if TYPE_CHECKING:
    from orchestrator.workflow import Workflow

_S = StepStatus
_TEXT = {status: status.value for status in StepStatus}
# How long a started step may go unrecorded when nothing else flushes (see _queue_started).
_STARTED_ROW_DELAY = 0.05


class _State:
    """Mutable state of one node or map item during a run (turned into a StepRecord on demand)."""

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
        self.abandoned = 0
        self.history: list[list[Any]] | None = None
        self.started: float | None = None
        self.ended: float | None = None
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.traceback: str | None = None
        self.fallback_used = False
        self.skip_reason: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.status = _S.FAILED
        self.error_type = type(exc).__name__
        self.error_message = describe(exc)
        self.traceback = "".join(tb_module.format_exception(exc))

    def failure(self) -> Failure:
        return Failure(
            step=self.sid,
            error_type=self.error_type,
            message=self.error_message or self.skip_reason,
            skipped=self.status is _S.SKIPPED,
        )


class _MapState:
    __slots__ = ("failed", "pending", "results", "skipped")

    def __init__(self, n: int) -> None:
        self.pending = n
        self.results: list[Any] = [None] * n
        self.failed: list[_State] = []
        self.skipped: set[int] = set()


class Preloaded:
    """A step's outcome carried over from an earlier attempt of the run (resume)."""

    __slots__ = ("skip_reason", "status", "value")

    def __init__(self, status: StepStatus, value: Any, skip_reason: str | None = None) -> None:
        self.status = status
        self.value = value
        self.skip_reason = skip_reason


def _predicate_caller(fn: Callable[..., Any]) -> Callable[[dict[str, Any]], Any]:
    """Call a `when=`/`fallback=` callable with those of the step's arguments it names."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return lambda arguments: fn(**arguments)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return lambda arguments: fn(**arguments)
    names = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    return lambda arguments: fn(**{n: arguments[n] for n in names if n in arguments})


class Run:
    """One execution (or resumption) of a workflow."""

    def __init__(
        self,
        wf: Workflow,
        run_id: str,
        inputs: dict[str, Any],
        store: Store | None,
        *,
        max_concurrency: int | None = None,
        engine_limit: asyncio.Semaphore | None = None,
        deadline: float | None = None,
        preloaded: dict[str, Preloaded] | None = None,
        resumed: bool = False,
        claimed: bool = False,
        batch: str | None = None,
        batch_index: int | None = None,
    ) -> None:
        self.wf = wf
        self.run_id = run_id
        self.inputs = inputs
        self.store = store
        self.deadline = deadline
        self.events = EventStream()
        self.usage: list[UsageRecord] = []
        # Things a reader of the record must know that no step status says: an abandoned
        # thread, a blocked event loop.
        self.warnings: list[str] = []
        self.status = RunStatus.PENDING
        self.error: str | None = None
        self.result: Any = None
        self.created = time()
        self.started: float | None = None
        self.ended: float | None = None
        self._resumed = resumed
        # Claimed: its row exists and names this process already (a resume, or a batch's input).
        self._claimed = claimed
        self.batch = batch
        self.batch_index = batch_index
        self.owner_token = claim_token()
        self._preloaded = preloaded or {}
        self._limits = [s for s in (asyncio.Semaphore(max_concurrency) if max_concurrency else None, engine_limit) if s]
        self.values: dict[str, Any] = {}
        self.states: dict[str, _State] = {}
        self._maps: dict[str, _MapState] = {}
        self._bad: set[str] = set()
        self._remaining = [len(n.deps) for n in wf.nodes]
        self._total = sum(1 for n in wf.nodes if n.kind != "input")
        self._terminal = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_rows: dict[str, tuple[_State, str | None]] = {}
        self._gated: list[Node] = []
        self._flush_handle: asyncio.Handle | None = None
        self._started_timer: asyncio.TimerHandle | None = None
        self._queue: deque[Node] = deque()
        self._draining = False
        self._aborted: tuple[RunStatus, str] | None = None
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        # The store as code on the loop uses it: a busy store raises StoreBusy instead of
        # waiting, and the write goes to a thread (`_inflight` for step rows, `_background`).
        self._fast = store.nowait() if store is not None else None
        self._inflight: asyncio.Future[None] | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._log = get_logger(run_id=run_id, workflow=wf.name)
        self._debug = is_enabled_for(logging.DEBUG)

    # ---- public surface used by RunHandle ----

    def cancel(self, reason: str = "cancelled") -> None:
        self._abort(RunStatus.CANCELLED, reason)

    def record(self) -> RunRecord:
        return RunRecord.model_construct(
            run_id=self.run_id,
            workflow=self.wf.name,
            target=self.wf.target,
            graph_hash=self.wf.graph_hash,
            status=self.status,
            inputs=self.inputs,
            result=self.result,
            error=self.error,
            created_at=_dt(self.created),
            started_at=_dt(self.started),
            ended_at=_dt(self.ended),
            steps=[self._step_record(st) for st in sorted(self.states.values(), key=_order)],
            owner_pid=os.getpid(),
            owner_host=HOST,
            owner_token=self.owner_token,
            warnings=list(self.warnings),
            code_hashes=self.wf.code_hashes,
            batch=self.batch,
            batch_index=self.batch_index,
        )

    def step_codes(self) -> dict[Any, str]:
        """Code objects of this run's step functions, by step name (the watchdog's lookup)."""
        codes = {}
        for node in self.wf.nodes:
            code = getattr(node.step.fn if node.step is not None else None, "__code__", None)
            if code is not None:
                codes[code] = node.step.name  # type: ignore[union-attr]
        return codes

    def has_step_named(self, name: str) -> bool:
        return any(n.step is not None and n.step.name == name for n in self.wf.nodes)

    def _step_record(self, st: _State) -> StepRecord:
        if st.history:
            history = [
                AttemptRecord.model_construct(
                    attempt=a, started_at=_dt(s), ended_at=_dt(e), error_type=t, error_message=m
                )
                for a, s, e, t, m in st.history
            ]
        elif st.attempts == 1 and st.started is not None:
            history = [AttemptRecord.model_construct(attempt=1, started_at=_dt(st.started), ended_at=_dt(st.ended))]
        else:
            history = []
        node = self.wf.node_by_id.get(st.parent or st.sid)
        return StepRecord.model_construct(
            run_id=self.run_id,
            step=st.sid,
            name=st.name,
            status=st.status,
            attempts=st.attempts,
            history=history,
            started_at=_dt(st.started),
            ended_at=_dt(st.ended),
            input_ids=[d.id for d in node.deps] if node is not None and st.parent is None else [],
            error_type=st.error_type,
            error_message=st.error_message,
            traceback=st.traceback,
            fallback_used=st.fallback_used,
            skip_reason=st.skip_reason,
            parent=st.parent,
            map_index=st.map_index,
        )

    # ---- the run ----

    async def execute(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._done = loop.create_future()
        self.started = self.started or time()
        self.status = RunStatus.RUNNING
        if self.store is not None and not self._claimed:
            row = RunRow(
                self.run_id, self.wf.name, self.wf.target, self.wf.graph_hash, str(RunStatus.RUNNING),
                dumps(self.inputs, allow_pickle=True), self.created, self.started, os.getpid(), HOST,
                self.wf.code_hashes_json, self.owner_token,
            )
            try:
                self._fast.create_run(row)  # type: ignore[union-attr]
            except StoreBusy:
                await asyncio.to_thread(self.store.create_run, row)
        if self.events.listeners:
            self.events.emit(Event(EventKind.RUN_STARTED, self.run_id))
        if self._debug:
            self._log.debug("run started", resumed=self._resumed)
        deadline_handle = None
        if self.deadline is not None:
            deadline_handle = loop.call_later(self.deadline, self._on_deadline)
        watchdog = watch(loop, self)
        cancelled_from_outside = False
        try:
            for node in self.wf.nodes:
                if node.kind == "input":
                    self.values[node.id] = self.inputs[node.id]
                    self._queue.append(node)
                elif not node.deps:
                    self._launch(node)
            self._drain()
            if self._terminal == self._total and not self._done.done():
                self._done.set_result(None)
            await self._done
        except asyncio.CancelledError:
            cancelled_from_outside = True
            self._abort(RunStatus.CANCELLED, "the run's task was cancelled")
        finally:
            if deadline_handle is not None:
                deadline_handle.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if watchdog is not None:
            watchdog.discard(self)
        # Writes handed to a thread (a busy store) land before the run's last ones.
        while self._inflight is not None:
            await asyncio.wait([self._inflight])
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        deferred = self._finish()
        if deferred is not None:
            await deferred
        if cancelled_from_outside:
            raise asyncio.CancelledError

    def _on_deadline(self) -> None:
        self._abort(RunStatus.FAILED, f"DeadlineExceeded: the run did not finish within its {self.deadline}s deadline")

    def _abort(self, status: RunStatus, reason: str) -> None:
        if self._aborted is not None or self.status not in (RunStatus.RUNNING, RunStatus.PENDING):
            return
        self._aborted = (status, reason)
        for task in list(self._tasks):
            task.cancel()
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _finish(self) -> asyncio.Future[None] | None:
        """Settle every step and record the end; a future when the store was busy and the
        last writes went to a thread."""
        self.ended = now = time()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._started_timer is not None:
            self._started_timer.cancel()
            self._started_timer = None
        for node in self.wf.nodes:
            if node.kind == "input":
                continue
            st = self.states.get(node.id)
            if st is None:
                st = self.states[node.id] = _State(node.id, node.step.name, node.index)  # type: ignore[union-attr]
            if st.status in (_S.PENDING, _S.RUNNING, _S.CANCELLED):
                self._cancelled(st, now)
                self._bad.add(node.id)
                self.values[node.id] = st.failure()
        for st in self.states.values():
            if st.parent is not None and st.status in (_S.PENDING, _S.RUNNING, _S.CANCELLED):
                self._cancelled(st, now)
        self.result = resolve(self.wf.output, self.values)
        if self._aborted is not None:
            self.status, self.error = self._aborted
        else:
            self.status, self.error = self._final_status()
        deferred = None
        if self.store is not None:
            rows = self._take_rows()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            try:
                result_text = dumps(self.result, allow_pickle=True, where="the workflow's result")
            except UnstorableValueError as exc:
                result_text, self.error = None, self.error or str(exc)
            marks = {
                "result": result_text, "error": self.error, "ended_at": now,
                "warnings": json.dumps(self.warnings) if self.warnings else None,
            }  # fmt: skip

            def end(store: Store) -> None:
                store.mark_run(self.run_id, self.status, **marks)

            try:
                if rows:
                    self._fast.write_steps(rows)  # type: ignore[union-attr]
                    rows = None
                end(self._fast)
            except StoreBusy:
                deferred = self._loop.run_in_executor(None, self._write_end, rows, end)  # type: ignore[union-attr]
        if self.events.listeners:
            self.events.emit(Event(EventKind.RUN_FINISHED, self.run_id, status=str(self.status), error=self.error))
        if self.status is RunStatus.SUCCEEDED:
            if self._debug:
                self._log.debug("run finished", status=str(self.status), seconds=round(now - self.started, 4))
        else:
            self._log.warning("run finished", status=str(self.status), error=self.error)
        return deferred

    def _write_end(self, rows: list[Any] | None, end: Callable[[Store], None]) -> None:
        if rows:
            self.store.write_steps(rows)  # type: ignore[union-attr]
        end(self.store)  # type: ignore[arg-type]

    def _cancelled(self, st: _State, now: float) -> None:
        st.status = _S.CANCELLED
        st.ended = st.ended or now
        st.skip_reason = st.skip_reason or (self._aborted[1] if self._aborted else "never started")
        if self.store is not None:
            self._queue_row(st, None)

    def _final_status(self) -> tuple[RunStatus, str | None]:
        failed = [st for st in self.states.values() if st.status is _S.FAILED and st.parent is None]
        if not failed:
            return RunStatus.SUCCEEDED, None
        summary = "; ".join(f"{st.sid}: {st.error_type}: {st.error_message}" for st in failed[:3])
        if len(failed) > 3:
            summary += f"; and {len(failed) - 3} more"
        out: list[Node] = []
        from orchestrator._graph import _collect

        _collect(self.wf.output, out)
        produced = all(n.id not in self._bad for n in out)
        any_ok = any(st.status is _S.SUCCEEDED for st in self.states.values())
        if produced and any_ok:
            return RunStatus.PARTIAL, summary
        return RunStatus.FAILED, summary

    # ---- scheduling ----

    def _drain(self) -> None:
        """Release dependents of finished nodes, iteratively (long chains must not recurse)."""
        if self._draining:
            return
        self._draining = True
        try:
            queue, remaining = self._queue, self._remaining
            while queue:
                node = queue.popleft()
                if node.kind != "input":
                    self._terminal += 1
                for dep in node.dependents:
                    remaining[dep.index] -= 1
                    if remaining[dep.index] == 0:
                        self._launch(dep)
        finally:
            self._draining = False
        if self._terminal == self._total and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _launch(self, node: Node) -> None:
        if self._aborted is not None:
            return
        step = node.step
        assert step is not None
        pre = self._preloaded.get(node.id)
        if pre is not None:
            st = self.states[node.id] = _State(node.id, step.name, node.index)
            st.status = pre.status
            st.skip_reason = pre.skip_reason
            if pre.status is _S.SUCCEEDED:
                self.values[node.id] = pre.value
            else:
                self._bad.add(node.id)
                self.values[node.id] = st.failure()
            self._queue.append(node)
            self._drain()
            return
        if self._bad and not step.receive_failures:
            for dep in node.deps:
                if dep.id in self._bad:
                    dst = self.states[dep.id]
                    why = "failed" if dst.status is _S.FAILED else str(dst.status)
                    self._skip_node(node, f"upstream {dep.id!r} {why}")
                    return
        values = self.values
        if node.nested:
            args = resolve(node.args, values)
            kwargs = resolve(node.kwargs, values)
        elif node.direct:
            args = list(node.args)
            kwargs = dict(node.kwargs)
            for key, ref in node.direct:
                if type(key) is int:
                    args[key] = values[ref]
                else:
                    kwargs[key] = values[ref]
        else:
            args, kwargs = node.args, node.kwargs
        if node.kind == "map":
            self._launch_map(node, args, kwargs)
            return
        st = self.states[node.id] = _State(node.id, step.name, node.index)
        if step.when is not None and not self._check_when(node, st, args, kwargs):
            return
        self._spawn(self._run_node(node, st, args, kwargs))

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        # The step's coroutine takes itself out of `_tasks` when it ends (a done callback
        # would cost one more loop callback per step).
        self._tasks.add(self._loop.create_task(coro))

    def _check_when(self, node: Node, st: _State, args: Any, kwargs: dict[str, Any]) -> bool:
        step = node.step
        assert step is not None
        try:
            ok = self._when(step, args, kwargs)
        except Exception as exc:
            st.fail(exc)
            st.error_message = f"when= condition raised: {describe(exc)}"
            st.started = st.ended = time()
            self._node_failed(node, st)
            return False
        if not ok:
            st.status = _S.SKIPPED
            st.skip_reason = "condition false"
            st.started = st.ended = time()
            self._bad.add(st.sid)
            self.values[st.sid] = st.failure()
            self._emit_skip(st)
            self._node_finished(node, st, None)
            return False
        return True

    def _when(self, step: Any, args: Any, kwargs: dict[str, Any]) -> Any:
        """The step's `when=` predicate on these arguments (plain steps and map items alike)."""
        arguments = step.signature.bind(*args, **kwargs).arguments
        ok = self.wf.when_caller(step)(arguments)
        if inspect.isawaitable(ok):
            # A coroutine is truthy: taking it as the answer would run every item unasked.
            if inspect.iscoroutine(ok):
                ok.close()
            raise TypeError("when= must be a plain function returning a bool, not async")
        return ok

    def _skip_node(self, node: Node, reason: str) -> None:
        st = self.states[node.id] = _State(node.id, node.step.name, node.index)  # type: ignore[union-attr]
        st.status = _S.SKIPPED
        st.skip_reason = reason
        st.ended = time()
        self._bad.add(node.id)
        self.values[node.id] = st.failure()
        self._emit_skip(st)
        self._node_finished(node, st, None)

    def _emit_skip(self, st: _State) -> None:
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_SKIPPED, self.run_id, st.sid, status="skipped", error=st.skip_reason))
        if self._debug:
            self._log.debug("step skipped", step=st.sid, reason=st.skip_reason)

    def _node_failed(self, node: Node, st: _State) -> None:
        self._bad.add(node.id)
        self.values[node.id] = st.failure()
        self._node_finished(node, st, None)

    def _node_finished(self, node: Node, st: _State, output: str | None, alone: bool = False) -> None:
        if self.store is None:
            self._queue.append(node)
            self._drain()
            return
        self._gated.append(node)
        if alone:
            # Nothing else of this run is in flight, so nothing can join this batch:
            # write now rather than a loop turn later (a chain's next step starts sooner).
            self._pending_rows[st.sid] = (st, output)
            if self._flush_handle is not None:
                self._flush_handle.cancel()
            self._flush()
        else:
            self._queue_row(st, output)

    def _queue_row(self, st: _State, output: str | None) -> None:
        # Keyed by step: a step that starts and finishes before the next flush is written once.
        self._pending_rows[st.sid] = (st, output)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _queue_started(self, st: _State) -> None:
        # A started row only shows progress: resume re-runs a started step exactly as it
        # re-runs one never recorded. So it rides along with the next flush, or a timer
        # writes it if the step is still running then; a step that finishes first is
        # written once, finished.
        self._pending_rows[st.sid] = (st, None)
        if self._flush_handle is None and self._started_timer is None and self._loop is not None:
            self._started_timer = self._loop.call_later(_STARTED_ROW_DELAY, self._flush_started)

    def _flush_started(self) -> None:
        self._started_timer = None
        if self._flush_handle is None and self._pending_rows:
            self._flush_handle = self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _take_rows(self) -> list[Any] | None:
        """The queued step rows as plain tuples (None when there are none)."""
        pending, self._pending_rows = self._pending_rows, {}
        if not pending or self.store is None:
            return None
        run_id, ids = self.run_id, self.wf.input_ids_json
        # Plain tuples in StepRow's column order (building NamedTuples costs more than the insert).
        rows = [
            (
                run_id, st.sid, st.name, st.seq, _TEXT[st.status], st.attempts,
                json.dumps(st.history) if st.history else None,
                st.started, st.ended, ids.get(st.sid, "[]"),
                st.error_type, st.error_message, st.traceback, int(st.fallback_used), st.skip_reason,
                st.parent, st.map_index, output,
            )
            for st, output in pending.values()
        ]  # fmt: skip
        return rows

    def _flush(self) -> None:
        self._flush_handle = None
        if self._inflight is not None:
            return  # the write in a thread flushes again when it lands (rows stay in order)
        rows = self._take_rows()
        try:
            if rows:
                self._fast.write_steps(rows)  # type: ignore[union-attr]
        except StoreBusy:
            # Another writer holds the store: wait for it in a thread, not on the loop. The
            # nodes of these rows stay gated until their rows are committed.
            gated, self._gated = self._gated, []
            fut = self._inflight = self._loop.run_in_executor(None, self.store.write_steps, rows)  # type: ignore[union-attr]
            fut.add_done_callback(functools.partial(self._landed, gated))
            return
        except Exception as exc:
            self._store_failed(exc)
            return
        gated, self._gated = self._gated, []
        if self._aborted is None:
            self._queue.extend(gated)
            self._drain()

    def _landed(self, gated: list[Node], fut: asyncio.Future[None]) -> None:
        self._inflight = None
        exc = None if fut.cancelled() else fut.exception()
        if fut.cancelled() or exc is not None:
            self._store_failed(exc or asyncio.CancelledError())
            return
        if self._aborted is None:
            self._queue.extend(gated)
            self._drain()
        if (self._pending_rows or self._gated) and self._flush_handle is None:
            self._flush()

    def _store_failed(self, exc: BaseException) -> None:
        self._log.error("writing step records failed", error=describe_repr(exc))
        self._abort(RunStatus.FAILED, f"StoreError: writing step records failed: {describe_repr(exc)}")

    # ---- executing a step ----

    def _stored_output(self, node: Node, st: _State, value: Any) -> str | None:
        """A step's output as the store keeps it (None without a store)."""
        if self.store is None:
            return None
        allow_pickle = self.wf.allow_pickle or node.step.allow_pickle  # type: ignore[union-attr]
        return dumps(value, allow_pickle=allow_pickle, where=f"step {st.sid!r} output")

    async def _run_node(self, node: Node, st: _State, args: Any, kwargs: dict[str, Any]) -> None:
        handed_on = False
        try:
            ok, value = await self._attempts(node, st, args, kwargs)
            if ok:
                try:
                    output = self._stored_output(node, st, value)
                except UnstorableValueError as exc:
                    st.fail(exc)
                    handed_on = True
                    self._node_failed(node, st)
                    return
                self.values[node.id] = value
                handed_on = True
                self._node_finished(node, st, output, alone=len(self._tasks) == 1)
            elif st.status is _S.FAILED:
                handed_on = True
                self._node_failed(node, st)
        except Exception as exc:
            # A partial, not a lambda: a closure would turn `node` and `st` into cells on every call.
            self._engine_error(st, exc, functools.partial(self._node_failed, node, st), handed_on)
        finally:
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _engine_error(self, st: _State, exc: Exception, fail: Callable[[], None], handed_on: bool) -> None:
        """Something raised in the engine's own handling of a step: the run must still end.

        Before the step was handed on, it fails with the error; after, the whole run fails,
        since the graph's bookkeeping can no longer be trusted.
        """
        self._log.error("engine error handling a step", step=st.sid, error=describe_repr(exc))
        if not handed_on:
            st.fail(exc)
            st.error_message = f"engine error while handling the step: {describe(exc)}"
            st.ended = st.ended or time()
            try:
                fail()
                return
            except Exception as again:
                exc = again
        self._abort(RunStatus.FAILED, f"EngineError: handling step {st.sid!r} raised {describe_repr(exc)}")

    async def _attempts(self, node: Node, st: _State, args: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """Run a step with its retry policy, timeout and fallback; (True, value) on success."""
        step = node.step
        assert step is not None
        limits = self._limits
        acquired = 0
        try:
            for sem in limits:
                await sem.acquire()
                acquired += 1
            st.status = _S.RUNNING
            st.started = time()
            if self.store is not None:
                self._queue_started(st)
            listening = bool(self.events.listeners)
            if listening:
                self.events.emit(Event(EventKind.STEP_STARTED, self.run_id, st.sid, 1))
            policy = step.retry
            timeout = step.timeout
            attempt = 0
            while True:
                attempt += 1
                st.attempts = attempt
                token = _CURRENT.set(StepContext(self.run_id, st.sid, attempt, self._record_usage))
                t0 = time() if attempt > 1 else st.started
                try:
                    if timeout is None:
                        value = await self._call(step, st, args, kwargs)
                    else:
                        abandoned = st.abandoned
                        async with asyncio.timeout(timeout):
                            value = await self._call(step, st, args, kwargs)
                except asyncio.CancelledError:
                    st.status = _S.CANCELLED
                    st.ended = time()
                    st.skip_reason = self._aborted[1] if self._aborted else "cancelled"
                    raise
                except Exception as exc:
                    t1 = time()
                    message = describe(exc)
                    if isinstance(exc, TimeoutError) and timeout is not None and not message:
                        message = f"attempt {attempt} exceeded the step's {timeout}s timeout"
                        if st.abandoned > abandoned:
                            message += "; its thread was abandoned, still running the function"
                        elif getattr(step.executor, "cancel_note", None):
                            message += f"; {step.executor.cancel_note}"
                        exc = TimeoutError(message)
                    if st.history is None:
                        st.history = []
                    st.history.append([attempt, t0, t1, type(exc).__name__, message])
                    if policy.should_retry(exc, attempt):
                        delay = policy.backoff(attempt)
                        self._log.info("step retrying", step=st.sid, attempt=attempt, error=describe_repr(exc), delay_s=round(delay, 3))
                        if listening or self.events.listeners:
                            self.events.emit(Event(EventKind.STEP_RETRIED, self.run_id, st.sid, attempt, error=describe_repr(exc)))
                        await asyncio.sleep(delay)
                        continue
                    if step.fallback is not NO_FALLBACK:
                        try:
                            value = await self._fallback(step, args, kwargs, exc)
                        except Exception as fexc:
                            exc = fexc
                        else:
                            st.fallback_used = True
                            return self._succeeded(st, value)
                    st.fail(exc)
                    st.ended = t1
                    self._log.warning("step failed", step=st.sid, attempt=attempt, error_type=st.error_type, error=st.error_message)
                    if self.events.listeners:
                        self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, attempt, "failed", st.error_message))
                    return False, None
                finally:
                    _CURRENT.reset(token)
                return self._succeeded(st, value)
        finally:
            for sem in limits[:acquired]:
                sem.release()

    def _succeeded(self, st: _State, value: Any) -> tuple[bool, Any]:
        st.status = _S.SUCCEEDED
        st.ended = time()
        if st.history is not None:
            st.history.append([st.attempts, st.history[-1][2], st.ended, None, None])
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, st.attempts, "succeeded"))
        if self._debug:
            self._log.debug("step finished", step=st.sid, attempt=st.attempts, fallback=st.fallback_used)
        return True, value

    async def _call(self, step: Any, st: _State, args: Any, kwargs: dict[str, Any]) -> Any:
        if step.executor is not None:
            return await step.executor.run(step.fn, tuple(args), kwargs)
        if step.is_async:
            return await step.fn(*args, **kwargs)
        return await run_in_thread(step.fn, args, kwargs, functools.partial(self._abandoned, st))

    def _abandoned(self, st: _State) -> None:
        st.abandoned += 1
        text = (
            f"step {st.sid!r}, attempt {st.attempts}: its thread was abandoned while still running the "
            f"function ({abandoned_threads()} abandoned thread(s) in this process); a thread cannot be "
            "interrupted: use @step(executor='process') for a step that must be stopped"
        )
        self.warnings.append(text)
        self._log.warning("step thread abandoned", step=st.sid, attempt=st.attempts, abandoned=abandoned_threads())

    async def _fallback(self, step: Any, args: Any, kwargs: dict[str, Any], exc: BaseException) -> Any:
        fallback = step.fallback
        if not callable(fallback):
            return fallback
        arguments = dict(step.signature.bind(*args, **kwargs).arguments)
        arguments["error"] = exc
        value = self.wf.fallback_caller(step)(arguments)
        if inspect.isawaitable(value):
            value = await value
        return value

    def _record_usage(self, record: UsageRecord) -> None:
        self.usage.append(record)
        if self.store is None:
            return
        if self._loop is None or threading.get_ident() != self._loop_thread:
            self.store.record_usage([record])  # a step's own thread may wait for a busy store
            return
        try:
            self._fast.record_usage([record])  # type: ignore[union-attr]
        except StoreBusy:
            fut = self._loop.run_in_executor(None, self.store.record_usage, [record])
            self._background.add(fut)
            fut.add_done_callback(self._background.discard)

    # ---- .map() ----

    def _launch_map(self, node: Node, lists: Any, kwargs: dict[str, Any]) -> None:
        step = node.step
        assert step is not None
        st = self.states[node.id] = _State(node.id, step.name, node.index)
        st.started = time()
        st.status = _S.RUNNING
        bad = [i for i, v in enumerate(lists) if not isinstance(v, (list, tuple))]
        lengths = {len(v) for v in lists if isinstance(v, (list, tuple))}
        if bad or len(lengths) > 1:
            what = (
                f"argument #{bad[0]} is a {type(lists[bad[0]]).__name__}, not a list"
                if bad
                else f"the lists have different lengths {sorted(lengths)}"
            )
            st.fail(TypeError(f"{step.name}.map(): {what}"))
            st.ended = time()
            self._node_failed(node, st)
            return
        n = lengths.pop() if lengths else 0
        ms = self._maps[node.id] = _MapState(n)
        if n == 0:
            self._map_done(node, st, ms)
            return
        for i in range(n):
            sid = f"{node.id}[{i}]"
            pre = self._preloaded.get(sid)
            ist = self.states[sid] = _State(sid, step.name, node.index, node.id, i)
            if pre is not None and pre.status is _S.SUCCEEDED:
                ist.status = _S.SUCCEEDED
                ms.results[i] = pre.value
                ms.pending -= 1
                continue
            args = [v[i] for v in lists]
            if step.when is not None:
                try:
                    ok = self._when(step, args, kwargs)
                except Exception as exc:
                    ist.fail(exc)
                    ist.error_message = f"when= condition raised: {describe(exc)}"
                    ist.ended = time()
                    self._item_done(node, ist, False, None)
                    continue
                if not ok:
                    ist.status = _S.SKIPPED
                    ist.skip_reason = "condition false"
                    ist.ended = time()
                    self._emit_skip(ist)
                    self._item_done(node, ist, False, None)
                    continue
            self._spawn(self._run_item(node, ist, args, kwargs))
        if ms.pending == 0 and self.states[node.id].status is _S.RUNNING:
            self._map_done(node, st, ms)

    async def _run_item(self, node: Node, st: _State, args: Any, kwargs: dict[str, Any]) -> None:
        handed_on = False
        try:
            ok, value = await self._attempts(node, st, args, kwargs)
            if ok and st.status is _S.SUCCEEDED:
                handed_on = True
                self._item_done(node, st, True, value)
            elif st.status is _S.FAILED:
                handed_on = True
                self._item_done(node, st, False, None)
        except Exception as exc:
            self._engine_error(st, exc, functools.partial(self._item_done, node, st, False, None), handed_on)
        finally:
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _item_done(self, node: Node, st: _State, ok: bool, value: Any) -> None:
        ms = self._maps[node.id]
        output = None
        if ok:
            try:
                output = self._stored_output(node, st, value)
            except UnstorableValueError as exc:
                st.fail(exc)
                ok = False
            if ok:
                ms.results[st.map_index] = value  # type: ignore[index]
        if not ok:
            if st.status is _S.SKIPPED:
                ms.skipped.add(st.map_index)  # type: ignore[arg-type]
            else:
                ms.failed.append(st)
        if self.store is not None:
            self._queue_row(st, output)
        ms.pending -= 1
        if ms.pending == 0:
            self._map_done(node, self.states[node.id], ms)

    def _map_done(self, node: Node, st: _State, ms: _MapState) -> None:
        st.ended = time()
        if ms.failed:
            first = ms.failed[0]
            st.status = _S.FAILED
            st.error_type = first.error_type
            st.error_message = (
                f"{len(ms.failed)} of {len(ms.results)} items failed; first: {first.sid}: {first.error_message}"
            )
            st.traceback = first.traceback
            self._node_failed(node, st)
            return
        st.status = _S.SUCCEEDED
        value = [v for i, v in enumerate(ms.results) if i not in ms.skipped] if ms.skipped else ms.results
        self.values[node.id] = value
        output = None
        if self.store is not None:
            try:
                output = dumps(value, allow_pickle=True, where=f"map {node.id!r} output")
            except UnstorableValueError as exc:
                st.fail(exc)
                self._node_failed(node, st)
                return
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, None, "succeeded"))
        self._node_finished(node, st, output)


def _order(st: _State) -> tuple[float, int]:
    return (st.seq, -1 if st.map_index is None else st.map_index)


def _dt(ts: float | None) -> Any:
    if ts is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
