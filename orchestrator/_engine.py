"""The scheduling loop of one run.

Every node waits on a counter of unfinished inputs; when a node finishes, its dependents'
counters drop and those reaching zero start at once. The pieces a run is made of:

- `_plan.Plan`: the workflow compiled for the engine (nodes, output, derived facts);
- `_state.StepState`: each step's status and its transitions (succeed, fail, skip, cancel);
- `_attempt.Attempts`: one step's attempts, timeouts, retries and fallback;
- `_persist.StepWriter`: the run's writes to the store; with one, a finished node's
  dependents are released only once its row is committed (`_durable`), so a step's output
  is durable before anything consumes it.

`Run` here decides what runs when, and settles the run's outcome.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections import deque
from collections.abc import Callable
from time import time
from typing import Any

from orchestrator._attempt import Attempts
from orchestrator._graph import Node, resolve
from orchestrator._persist import StepWriter, stored_output
from orchestrator._plan import Plan
from orchestrator._state import MapState, Preloaded, StepState, to_datetime
from orchestrator.errors import UnstorableValueError, describe, describe_repr
from orchestrator.events import Event, EventKind, EventStream
from orchestrator.logging import get_logger, is_enabled_for
from orchestrator.owners import HOST, claim_token
from orchestrator.records import RunRecord, RunStatus, StepStatus, UsageRecord
from orchestrator.serialization import dumps
from orchestrator.store import RunRow, Store
from orchestrator.watchdog import watch

_S = StepStatus

__all__ = ["Preloaded", "Run"]


class Run:
    """One execution (or resumption) of a compiled workflow."""

    def __init__(
        self,
        plan: Plan,
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
        self.plan = plan
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
        self.values: dict[str, Any] = {}
        self.states: dict[str, StepState] = {}
        self._maps: dict[str, MapState] = {}
        self._bad: set[str] = set()  # nodes whose value is a Failure (failed, skipped, cancelled)
        self._remaining = list(plan.dep_counts)
        self._terminal = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue: deque[Node] = deque()  # finished nodes whose dependents are not released yet
        self._draining = False
        self._aborted: tuple[RunStatus, str] | None = None
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = get_logger(run_id=run_id, workflow=plan.name)
        self._debug = is_enabled_for(logging.DEBUG)
        self._writer = (
            StepWriter(run_id, store, plan, on_durable=self._durable, on_error=self._store_failed)
            if store is not None
            else None
        )
        limits = [s for s in (asyncio.Semaphore(max_concurrency) if max_concurrency else None, engine_limit) if s]
        self._attempts = Attempts(
            run_id, plan, self.events, limits, self._writer, self._log, self._debug,
            on_usage=self._record_usage, warnings=self.warnings, cancel_reason=self._cancel_reason,
        )  # fmt: skip

    # ---- public surface used by RunHandle and the watchdog ----

    def cancel(self, reason: str = "cancelled") -> None:
        self._abort(RunStatus.CANCELLED, reason)

    def record(self) -> RunRecord:
        plan = self.plan
        return RunRecord.model_construct(
            run_id=self.run_id,
            workflow=plan.name,
            target=plan.target,
            graph_hash=plan.graph_hash,
            status=self.status,
            inputs=self.inputs,
            result=self.result,
            error=self.error,
            created_at=to_datetime(self.created),
            started_at=to_datetime(self.started),
            ended_at=to_datetime(self.ended),
            steps=[self._step_record(st) for st in sorted(self.states.values(), key=StepState.order)],
            owner_pid=os.getpid(),
            owner_host=HOST,
            owner_token=self.owner_token,
            warnings=list(self.warnings),
            code_hashes=dict(plan.code_hashes),
            batch=self.batch,
            batch_index=self.batch_index,
        )

    def _step_record(self, st: StepState) -> Any:
        node = self.plan.node_by_id.get(st.parent or st.sid)
        return st.record(self.run_id, [d.id for d in node.deps] if node is not None and st.parent is None else [])

    def step_codes(self) -> Any:
        """Code objects of this run's step functions, by step name (the watchdog's lookup)."""
        return self.plan.step_codes

    def has_step_named(self, name: str) -> bool:
        return name in self.plan.step_names

    # ---- the run ----

    async def execute(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self.started = self.started or time()
        self.status = RunStatus.RUNNING
        writer = self._writer
        if writer is not None:
            writer.bind(loop)
            if not self._claimed:
                plan = self.plan
                await writer.create_run(RunRow(
                    self.run_id, plan.name, plan.target, plan.graph_hash, str(RunStatus.RUNNING),
                    dumps(self.inputs, allow_pickle=True), self.created, self.started, os.getpid(), HOST,
                    plan.code_hashes_json, self.owner_token,
                ))  # fmt: skip
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
            for node in self.plan.nodes:
                if node.kind == "input":
                    self.values[node.id] = self.inputs[node.id]
                    self._queue.append(node)
                elif not node.deps:
                    self._launch(node)
            self._drain()
            if self._terminal == self.plan.steps and not self._done.done():
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
        if writer is not None:
            await writer.settle()  # writes handed to a thread (a busy store) land before the last ones
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

    def _cancel_reason(self) -> str:
        return self._aborted[1] if self._aborted else "cancelled"

    def _finish(self) -> asyncio.Future[None] | None:
        """Settle every step and record the end; a future when the store was busy and the
        last writes went to a thread."""
        self.ended = now = time()
        why = self._aborted[1] if self._aborted else "never started"
        writer = self._writer
        for node in self.plan.nodes:
            if node.kind == "input":
                continue
            st = self.states.get(node.id)
            if st is None:
                st = self.states[node.id] = StepState(node.id, node.step.name, node.index)  # type: ignore[union-attr]
            if st.unfinished:
                st.cancel(why, now)
                self._bad.add(node.id)
                self.values[node.id] = st.failure()
                if writer is not None:
                    writer.queue(st, None)
        for st in self.states.values():
            if st.parent is not None and st.unfinished:
                st.cancel(why, now)
                if writer is not None:
                    writer.queue(st, None)
        self.result = resolve(self.plan.output, self.values)
        self.status, self.error = self._aborted if self._aborted is not None else self._final_status()
        deferred = None
        if writer is not None:
            self.error, deferred = writer.end(self.status, self.result, self.error, now, self.warnings)
        if self.events.listeners:
            self.events.emit(Event(EventKind.RUN_FINISHED, self.run_id, status=str(self.status), error=self.error))
        if self.status is RunStatus.SUCCEEDED:
            if self._debug:
                self._log.debug("run finished", status=str(self.status), seconds=round(now - self.started, 4))
        else:
            self._log.warning("run finished", status=str(self.status), error=self.error)
        return deferred

    def _final_status(self) -> tuple[RunStatus, str | None]:
        failed = [st for st in self.states.values() if st.status is _S.FAILED and st.parent is None]
        if not failed:
            return RunStatus.SUCCEEDED, None
        summary = "; ".join(f"{st.sid}: {st.error_type}: {st.error_message}" for st in failed[:3])
        if len(failed) > 3:
            summary += f"; and {len(failed) - 3} more"
        produced = not (self.plan.output_ids & self._bad)
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
        if self._terminal == self.plan.steps and self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _launch(self, node: Node) -> None:
        """All of `node`'s inputs are in: start it, or settle it without running it."""
        if self._aborted is not None:
            return
        step = node.step
        assert step is not None
        pre = self._preloaded.get(node.id)
        if pre is not None:
            st = self.states[node.id] = StepState(node.id, step.name, node.index)
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
                    st = self.states[node.id] = StepState(node.id, step.name, node.index)
                    self._skip(node, st, f"upstream {dep.id!r} {why}", time())
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
        st = self.states[node.id] = StepState(node.id, step.name, node.index)
        if step.when is not None:
            now = time()
            ok = self._when(node, st, args, kwargs, now)
            if not ok:
                st.started = now
                if ok is False:
                    self._skip(node, st, "condition false", now)
                else:
                    self._node_failed(node, st)
                return
        self._spawn(self._run_node(node, st, args, kwargs))

    def _spawn(self, coro: Any) -> None:
        assert self._loop is not None
        # The step's coroutine takes itself out of `_tasks` when it ends (a done callback
        # would cost one more loop callback per step).
        self._tasks.add(self._loop.create_task(coro))

    def _when(self, node: Node, st: StepState, args: Any, kwargs: dict[str, Any], now: float) -> bool | None:
        """The step's `when=` on these arguments (plain steps and map items alike): True to run,
        False to skip, None when the predicate raised (`st` has failed then)."""
        step = node.step
        try:
            arguments = step.signature.bind(*args, **kwargs).arguments  # type: ignore[union-attr]
            ok = self.plan.when[node.index](arguments)  # type: ignore[misc]
            if inspect.isawaitable(ok):
                # A coroutine is truthy: taking it as the answer would run every item unasked.
                if inspect.iscoroutine(ok):
                    ok.close()
                raise TypeError("when= must be a plain function returning a bool, not async")
            return bool(ok)
        except Exception as exc:
            st.fail(exc, now, f"when= condition raised: {describe(exc)}")
            return None

    def _skip(self, node: Node, st: StepState, reason: str, now: float) -> None:
        st.skip(reason, now)
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_SKIPPED, self.run_id, st.sid, status="skipped", error=reason))
        if self._debug:
            self._log.debug("step skipped", step=st.sid, reason=reason)
        if st.parent is not None:
            self._item_done(node, st, False, None)
        else:
            self._node_failed(node, st)

    def _node_failed(self, node: Node, st: StepState) -> None:
        """`node` produced no value (failed or skipped): its dependents get its Failure."""
        self._bad.add(node.id)
        self.values[node.id] = st.failure()
        self._node_finished(node, st, None)

    def _node_finished(self, node: Node, st: StepState, output: str | None, alone: bool = False) -> None:
        if self._writer is None:
            self._queue.append(node)
            self._drain()
        else:
            self._writer.finished(node, st, output, alone)

    def _durable(self, nodes: list[Node]) -> None:
        """The rows of these finished nodes are committed: release their dependents."""
        if self._aborted is None:
            self._queue.extend(nodes)
            self._drain()

    def _store_failed(self, exc: BaseException) -> None:
        self._log.error("writing step records failed", error=describe_repr(exc))
        self._abort(RunStatus.FAILED, f"StoreError: writing step records failed: {describe_repr(exc)}")

    def _record_usage(self, record: UsageRecord) -> None:
        self.usage.append(record)
        if self._writer is not None:
            self._writer.record_usage(record)

    # ---- running a step ----

    async def _run_node(self, node: Node, st: StepState, args: Any, kwargs: dict[str, Any]) -> None:
        handed_on = False
        try:
            ok, value = await self._attempts.run(node, st, args, kwargs)
            if ok:
                output = None
                if self._writer is not None:
                    try:
                        output = stored_output(self.plan, node, st.sid, value)
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

    def _engine_error(self, st: StepState, exc: Exception, fail: Callable[[], None], handed_on: bool) -> None:
        """Something raised in the engine's own handling of a step: the run must still end.

        Before the step was handed on, it fails with the error; after, the whole run fails,
        since the graph's bookkeeping can no longer be trusted.
        """
        self._log.error("engine error handling a step", step=st.sid, error=describe_repr(exc))
        if not handed_on:
            st.fail(exc, st.ended or time(), f"engine error while handling the step: {describe(exc)}")
            try:
                fail()
                return
            except Exception as again:
                exc = again
        self._abort(RunStatus.FAILED, f"EngineError: handling step {st.sid!r} raised {describe_repr(exc)}")

    # ---- .map() ----

    def _launch_map(self, node: Node, lists: Any, kwargs: dict[str, Any]) -> None:
        step = node.step
        assert step is not None
        st = self.states[node.id] = StepState(node.id, step.name, node.index)
        st.start(time())
        bad = [i for i, v in enumerate(lists) if not isinstance(v, (list, tuple))]
        lengths = {len(v) for v in lists if isinstance(v, (list, tuple))}
        if bad or len(lengths) > 1:
            what = (
                f"argument #{bad[0]} is a {type(lists[bad[0]]).__name__}, not a list"
                if bad
                else f"the lists have different lengths {sorted(lengths)}"
            )
            st.fail(TypeError(f"{step.name}.map(): {what}"), time())
            self._node_failed(node, st)
            return
        n = lengths.pop() if lengths else 0
        ms = self._maps[node.id] = MapState(n)
        if n == 0:
            self._map_done(node, st, ms)
            return
        for i in range(n):
            sid = f"{node.id}[{i}]"
            pre = self._preloaded.get(sid)
            ist = self.states[sid] = StepState(sid, step.name, node.index, node.id, i)
            if pre is not None and pre.status is _S.SUCCEEDED:
                ist.status = _S.SUCCEEDED
                ms.results[i] = pre.value
                ms.pending -= 1
                continue
            args = [v[i] for v in lists]
            if step.when is not None:
                now = time()
                ok = self._when(node, ist, args, kwargs, now)
                if ok is False:
                    self._skip(node, ist, "condition false", now)
                elif ok is None:
                    self._item_done(node, ist, False, None)
                if not ok:
                    continue
            self._spawn(self._run_item(node, ist, args, kwargs))
        if ms.pending == 0 and st.status is _S.RUNNING:
            self._map_done(node, st, ms)

    async def _run_item(self, node: Node, st: StepState, args: Any, kwargs: dict[str, Any]) -> None:
        handed_on = False
        try:
            ok, value = await self._attempts.run(node, st, args, kwargs)
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

    def _item_done(self, node: Node, st: StepState, ok: bool, value: Any) -> None:
        ms = self._maps[node.id]
        output = None
        if ok:
            if self._writer is not None:
                try:
                    output = stored_output(self.plan, node, st.sid, value)
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
        if self._writer is not None:
            self._writer.queue(st, output)
        ms.pending -= 1
        if ms.pending == 0:
            self._map_done(node, self.states[node.id], ms)

    def _map_done(self, node: Node, st: StepState, ms: MapState) -> None:
        now = time()
        if ms.failed:
            first = ms.failed[0]
            st.status = _S.FAILED
            st.ended = now
            st.error_type = first.error_type
            st.error_message = (
                f"{len(ms.failed)} of {len(ms.results)} items failed; first: {first.sid}: {first.error_message}"
            )
            st.traceback = first.traceback
            self._node_failed(node, st)
            return
        st.succeed(now)
        value = [v for i, v in enumerate(ms.results) if i not in ms.skipped] if ms.skipped else ms.results
        self.values[node.id] = value
        output = None
        if self._writer is not None:
            try:
                output = dumps(value, allow_pickle=True, where=f"map {node.id!r} output")
            except UnstorableValueError as exc:
                st.fail(exc)
                self._node_failed(node, st)
                return
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, None, "succeeded"))
        self._node_finished(node, st, output)
