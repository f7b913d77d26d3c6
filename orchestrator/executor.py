"""Executors: where a step's function body runs.

The default runs async steps on the event loop and sync steps in a pool of daemon
threads, copying the context so `current_step()` works in the thread. A thread cannot be
interrupted: when a step's timeout fires (or its run is cancelled) while the thread is
still in the function, the pool gives the thread up ("abandons" it), starts a replacement
so that other steps keep their capacity, and lets the old thread finish or hang on its
own; being a daemon thread, it never keeps the process from exiting. Steps that must be
stoppable for real use `executor="process"` (see `orchestrator.processes`). Other
packages plug in their own (cluster provides a Ray task executor) by implementing
`Executor.run`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run `fn(*args, **kwargs)` (sync or async) and return its result."""
        ...


class _Call(Future):  # type: ignore[type-arg]
    """One function call queued on the pool; `abandoned` once its awaiter gave up on it."""

    __slots__ = ("abandoned", "fn")

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.abandoned = False


class StepThreads:
    """A pool of daemon threads for sync steps that can give up on a hung call.

    Unlike `ThreadPoolExecutor`, its threads are daemons that nothing joins at exit, and a
    thread whose call was abandoned stops counting against `max_workers` at once.
    """

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers
        self._work: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = 0  # threads counting against max_workers
        self.abandoned = 0  # given-up threads still inside a call

    def submit(self, fn: Callable[[], Any]) -> _Call:
        call = _Call(fn)
        self._work.put(call)
        if not self._idle.acquire(blocking=False):
            self._maybe_spawn()
        return call

    def _maybe_spawn(self) -> None:
        with self._lock:
            if self._threads >= self.max_workers:
                return
            self._threads += 1
        thread = threading.Thread(target=self._serve, name="slmflow-step", daemon=True)
        thread.start()

    def abandon(self, call: _Call) -> bool:
        """Give up on a running call: its thread no longer counts, and a replacement may start.

        Returns False when the call already finished (nothing was abandoned).
        """
        with self._lock:
            if call.done() or call.abandoned:
                return False
            call.abandoned = True
            self._threads -= 1
            self.abandoned += 1
        if not self._work.empty():
            self._maybe_spawn()  # queued calls must not wait for the abandoned thread
        return True

    def _serve(self) -> None:
        while True:
            call = self._work.get()
            if call.set_running_or_notify_cancel():
                try:
                    result = call.fn()
                except BaseException as exc:
                    call.set_exception(exc)
                else:
                    call.set_result(result)
            with self._lock:
                if call.abandoned:
                    # Replaced already: this thread leaves rather than exceed max_workers.
                    self.abandoned -= 1
                    return
            self._idle.release()


_POOL: StepThreads | None = None
_POOL_PID: int | None = None


def _pool() -> StepThreads:
    global _POOL, _POOL_PID
    if _POOL is None or os.getpid() != _POOL_PID:
        workers = int(os.environ.get("SLMFLOW_THREADS", "0")) or min(64, (os.cpu_count() or 1) * 8)
        _POOL = StepThreads(workers)
        _POOL_PID = os.getpid()
    return _POOL


def abandoned_threads() -> int:
    """Threads of this process's step pool that were given up on and are still running."""
    return _POOL.abandoned if _POOL is not None and os.getpid() == _POOL_PID else 0


async def run_in_thread(
    fn: Callable[..., Any],
    args: Any,
    kwargs: dict[str, Any],
    on_abandon: Callable[[], None] | None = None,
) -> Any:
    """`fn(*args, **kwargs)` in the step thread pool, context copied.

    If the awaiting task is cancelled (a timeout, a cancelled run) while the function still
    runs, its thread is abandoned and `on_abandon` is called.
    """
    pool = _pool()
    call = pool.submit(functools.partial(contextvars.copy_context().run, fn, *args, **kwargs))
    try:
        return await asyncio.wrap_future(call)
    except asyncio.CancelledError:
        if not call.cancel() and pool.abandon(call) and on_abandon is not None:
            on_abandon()
        raise


class ThreadExecutor:
    """Sync functions in the shared step thread pool (context copied), async ones on the loop."""

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await self.start(fn, args, kwargs, is_async=inspect.iscoroutinefunction(fn))

    @staticmethod
    def start(
        fn: Callable[..., Any],
        args: Any,
        kwargs: dict[str, Any],
        *,
        is_async: bool,
        on_abandon: Callable[[], None] | None = None,
    ) -> Awaitable[Any]:
        """`run` for a caller that knows whether `fn` is async (the engine, per step), as an
        awaitable; `on_abandon` as in `run_in_thread`."""
        if is_async:
            return fn(*args, **kwargs)
        return run_in_thread(fn, args, kwargs, on_abandon)


DEFAULT_EXECUTOR = ThreadExecutor()
"""Where a step without `executor=` runs."""
