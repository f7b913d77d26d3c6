"""Executing one step (or map item): its attempts, their timeout, retries and the fallback.

`Attempts.run` takes a step whose inputs are ready to its outcome, recorded on its
`StepState`: it waits for a concurrency slot, calls the step's executor once per attempt
under the step's timeout, backs off and retries what the step's `RetryPolicy` retries,
and falls back to `fallback=` once the retries are spent. Scheduling what runs next and
writing the outcome to the store are the run's business (`_engine`, `_persist`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from time import time
from typing import TYPE_CHECKING, Any

from orchestrator._graph import NO_FALLBACK, Node
from orchestrator._plan import Plan
from orchestrator._state import StepState
from orchestrator.context import _CURRENT, StepContext
from orchestrator.errors import describe, describe_repr
from orchestrator.events import Event, EventKind, EventStream
from orchestrator.executor import DEFAULT_EXECUTOR, abandoned_threads
from orchestrator.records import UsageRecord

if TYPE_CHECKING:
    from orchestrator._persist import StepWriter


class Attempts:
    """Runs the steps of one run, one `run` call per step or map item."""

    __slots__ = ("_cancel_reason", "_debug", "_fallback", "_limits", "_log", "_on_usage", "_writer",
                 "events", "run_id", "warnings")  # fmt: skip

    def __init__(
        self,
        run_id: str,
        plan: Plan,
        events: EventStream,
        limits: list[asyncio.Semaphore],
        writer: StepWriter | None,
        log: Any,
        debug: bool,
        *,
        on_usage: Callable[[UsageRecord], None],
        warnings: list[str],
        cancel_reason: Callable[[], str],
    ) -> None:
        self.run_id = run_id
        self.events = events
        self.warnings = warnings
        self._fallback = plan.fallback
        self._limits = limits
        self._writer = writer
        self._log = log
        self._debug = debug
        self._on_usage = on_usage
        self._cancel_reason = cancel_reason

    async def run(self, node: Node, st: StepState, args: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """(True, value) when the step (or its fallback) produced a value; (False, None) when it
        failed (`st` says why). Raises CancelledError when the run stops it."""
        limits = self._limits
        acquired = 0
        try:
            for sem in limits:
                await sem.acquire()
                acquired += 1
            st.start(time())
            if self._writer is not None:
                self._writer.started(st)
            if self.events.listeners:
                self.events.emit(Event(EventKind.STEP_STARTED, self.run_id, st.sid, 1))
            return await self._attempts(node, st, args, kwargs)
        finally:
            for sem in limits[:acquired]:
                sem.release()

    async def _attempts(self, node: Node, st: StepState, args: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        step = node.step
        assert step is not None
        policy = step.retry
        timeout = step.timeout
        attempt = 0
        while True:
            attempt += 1
            st.attempts = attempt
            token = _CURRENT.set(StepContext(self.run_id, st.sid, attempt, self._on_usage))
            t0 = time() if attempt > 1 else st.started
            abandoned = st.abandoned
            try:
                if timeout is None:
                    value = await self._call(step, st, args, kwargs)
                else:
                    async with asyncio.timeout(timeout):
                        value = await self._call(step, st, args, kwargs)
            except asyncio.CancelledError:
                st.cancel(self._cancel_reason(), time())
                raise
            except Exception as exc:
                t1 = time()
                if isinstance(exc, TimeoutError) and timeout is not None and not describe(exc):
                    exc = self._timed_out(step, st, attempt, abandoned)
                message = describe(exc)
                if st.history is None:
                    st.history = []
                st.history.append([attempt, t0, t1, type(exc).__name__, message])
                if policy.should_retry(exc, attempt):
                    delay = policy.backoff(attempt)
                    self._log.info("step retrying", step=st.sid, attempt=attempt, error=describe_repr(exc), delay_s=round(delay, 3))
                    if self.events.listeners:
                        self.events.emit(Event(EventKind.STEP_RETRIED, self.run_id, st.sid, attempt, error=describe_repr(exc)))
                    await asyncio.sleep(delay)
                    continue
                if step.fallback is not NO_FALLBACK:
                    try:
                        value = await self._fall_back(node, args, kwargs, exc)
                    except Exception as fexc:
                        exc = fexc
                    else:
                        st.fallback_used = True
                        return self._succeeded(st, value)
                st.fail(exc, t1)
                self._log.warning("step failed", step=st.sid, attempt=attempt, error_type=st.error_type, error=st.error_message)
                if self.events.listeners:
                    self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, attempt, "failed", st.error_message))
                return False, None
            finally:
                _CURRENT.reset(token)
            return self._succeeded(st, value)

    def _succeeded(self, st: StepState, value: Any) -> tuple[bool, Any]:
        st.succeed(time())
        if self.events.listeners:
            self.events.emit(Event(EventKind.STEP_FINISHED, self.run_id, st.sid, st.attempts, "succeeded"))
        if self._debug:
            self._log.debug("step finished", step=st.sid, attempt=st.attempts, fallback=st.fallback_used)
        return True, value

    def _call(self, step: Any, st: StepState, args: Any, kwargs: dict[str, Any]) -> Any:
        """One attempt's call, as an awaitable, on the step's executor (the thread one by default)."""
        if step.executor is not None:
            return step.executor.run(step.fn, tuple(args), kwargs)
        on_abandon = None if step.is_async else functools.partial(self._abandoned, st)
        return DEFAULT_EXECUTOR.start(step.fn, args, kwargs, is_async=step.is_async, on_abandon=on_abandon)

    @staticmethod
    def _timed_out(step: Any, st: StepState, attempt: int, abandoned: int) -> TimeoutError:
        message = f"attempt {attempt} exceeded the step's {step.timeout}s timeout"
        if st.abandoned > abandoned:
            message += "; its thread was abandoned, still running the function"
        elif getattr(step.executor, "cancel_note", None):
            message += f"; {step.executor.cancel_note}"
        return TimeoutError(message)

    def _abandoned(self, st: StepState) -> None:
        st.abandoned += 1
        text = (
            f"step {st.sid!r}, attempt {st.attempts}: its thread was abandoned while still running the "
            f"function ({abandoned_threads()} abandoned thread(s) in this process); a thread cannot be "
            "interrupted: use @step(executor='process') for a step that must be stopped"
        )
        self.warnings.append(text)
        self._log.warning("step thread abandoned", step=st.sid, attempt=st.attempts, abandoned=abandoned_threads())

    async def _fall_back(self, node: Node, args: Any, kwargs: dict[str, Any], exc: BaseException) -> Any:
        step = node.step
        assert step is not None
        caller = self._fallback[node.index]
        if caller is None:  # a value, not a callable
            return step.fallback
        arguments = dict(step.signature.bind(*args, **kwargs).arguments)
        arguments["error"] = exc
        value = caller(arguments)
        if inspect.isawaitable(value):
            value = await value
        return value
