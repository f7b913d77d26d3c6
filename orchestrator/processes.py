"""A process-based executor for steps that must be killable: `@step(executor="process")`.

A thread stuck in a sync function cannot be stopped; a process can. Each call of such a
step runs in a worker process (spawned fresh, so no lock or thread state of the parent is
inherited, and reused for later calls). When the step's timeout fires or its run is
cancelled, the worker is SIGKILLed and a new one takes its place on a later call.

The function travels by reference (its module and qualified name; the module's file too,
for scripts the CLI loaded by path), so it must be defined at module level. Arguments and
results are pickled. Usage recorded inside (agent calls) comes back with the result.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import os
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext, suppress
from multiprocessing.connection import Connection
from typing import Any

from orchestrator.context import current_step, step_context
from orchestrator.errors import DefinitionError, OrchestratorError, describe
from orchestrator.imports import get_qualname, load_module
from orchestrator.logging import get_logger

log = get_logger(component="orchestrator.processes")


class StepProcessDied(OrchestratorError):
    """The worker process running a step exited before it returned a result."""


class RemoteStepError(OrchestratorError):
    """A step raised an exception in its worker process that could not be sent back as is."""


def reference(fn: Callable[..., Any], where: str = "step") -> tuple[str, str, str | None]:
    """(module, qualname, module file) by which a worker process finds `fn`; DefinitionError if none."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname or "<lambda>" in qualname:
        raise DefinitionError(
            f"{where}: executor='process' needs a function defined at module level (a worker process "
            f"imports it by name); {qualname or fn!r} is not"
        )
    mod = sys.modules.get(module)
    path = getattr(mod, "__file__", None)
    return module, qualname, path


def _resolve(ref: tuple[str, str, str | None]) -> Callable[..., Any]:
    module_name, qualname, path = ref
    obj = get_qualname(load_module(module_name, path=path), qualname, module_name)
    # `@step` replaces the function with a Step object under the same name: unwrap it.
    return getattr(obj, "fn", None) or getattr(obj, "__wrapped__", None) or obj


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the worker process
    while True:
        try:
            ref, args, kwargs, where = conn.recv()
        except (EOFError, OSError):
            return
        usage: list[Any] = []
        try:
            fn = _resolve(ref)
            scope = step_context(*where, usage.append) if where else nullcontext()
            with scope:
                value = fn(*args, **kwargs)
                if inspect.iscoroutine(value):
                    value = asyncio.run(value)
            reply: tuple[Any, ...] = ("ok", value, usage)
        except BaseException as exc:  # everything travels back as the step's error
            reply = ("err", exc, "".join(traceback.format_exception(exc)), usage)
        try:
            conn.send(reply)
        except Exception as exc:
            what = "result" if reply[0] == "ok" else f"exception {type(reply[1]).__name__}"
            text = f"the step's {what} could not be pickled back: {describe(exc)}"
            conn.send(("err", RemoteStepError(text), reply[2] if reply[0] == "err" else "", usage))


class _Worker:
    __slots__ = ("conn", "process")

    def __init__(self, context: Any) -> None:
        parent, child = multiprocessing.Pipe(duplex=True)
        self.conn = parent
        self.process = context.Process(target=_serve, args=(child,), name="slmflow-step-process", daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        with suppress(Exception):  # already gone
            self.process.kill()
        self.conn.close()
        # Reap it off the event loop; nothing waits for this thread.
        threading.Thread(target=self.process.join, daemon=True).start()

    async def receive(self) -> Any:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        return self.conn.recv()


class ProcessExecutor:
    """Runs each call of a step in a worker process that is killed on timeout or cancellation."""

    cancel_note = "its worker process was killed"

    def __init__(self, max_workers: int | None = None, start_method: str = "spawn") -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        self.max_workers = max_workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._pid = os.getpid()
        self.killed = 0

    def __repr__(self) -> str:
        return f"ProcessExecutor(max_workers={self.max_workers})"

    def _reset_after_fork(self) -> None:
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._idle, self._busy, self._waiters = [], 0, deque()

    async def _acquire(self) -> _Worker:
        while True:
            with self._lock:
                self._reset_after_fork()
                while self._idle:
                    worker = self._idle.pop()
                    if worker.process.is_alive():
                        self._busy += 1
                        return worker
                    worker.kill()
                if self._busy < self.max_workers:
                    self._busy += 1
                    break
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append((asyncio.get_running_loop(), waiter))
            await waiter
        try:
            # Spawning takes a few milliseconds of fork/exec: keep it off the event loop.
            return await asyncio.to_thread(_Worker, self._context)
        except BaseException:
            self._release(None)
            raise

    def _release(self, worker: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if worker is not None:
                self._idle.append(worker)
            while self._waiters:
                loop, waiter = self._waiters.popleft()
                if not waiter.done():
                    loop.call_soon_threadsafe(lambda w=waiter: w.done() or w.set_result(None))
                    break

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        ref = reference(fn)
        ctx = current_step()
        where = (ctx.run_id, ctx.step, ctx.attempt) if ctx is not None else None
        worker = await self._acquire()
        try:
            try:
                worker.conn.send((ref, tuple(args), kwargs, where))
            except Exception as exc:
                raise TypeError(f"executor='process': the step's arguments cannot be pickled: {describe(exc)}") from exc
            reply = await worker.receive()
        except asyncio.CancelledError:
            self.killed += 1
            log.warning("killed a step's worker process", pid=worker.process.pid, step=where and where[1])
            worker.kill()
            self._release(None)
            raise
        except (EOFError, OSError) as exc:
            worker.kill()
            self._release(None)
            code = worker.process.exitcode
            raise StepProcessDied(
                f"the worker process (pid {worker.process.pid}) running the step died"
                f"{f' with exit code {code}' if code is not None else ''}: {describe(exc) or type(exc).__name__}"
            ) from None
        except BaseException:
            worker.kill()
            self._release(None)
            raise
        self._release(worker)
        usage = reply[-1]
        if ctx is not None:
            for record in usage:
                ctx.record_usage(record)
        if reply[0] == "ok":
            return reply[1]
        exc = reply[1]
        if isinstance(exc, BaseException) and not isinstance(exc, Exception):
            # SystemExit or KeyboardInterrupt inside the worker is the step's failure, not ours.
            raise RemoteStepError(f"the step raised {type(exc).__name__} in its worker process:\n{reply[2]}")
        raise exc


_DEFAULT: dict[int, ProcessExecutor] = {}


def process_executor() -> ProcessExecutor:
    """The process-wide executor behind `@step(executor="process")` (one worker per CPU at most)."""
    executor = _DEFAULT.get(os.getpid())
    if executor is None:
        executor = _DEFAULT[os.getpid()] = ProcessExecutor()
    return executor
