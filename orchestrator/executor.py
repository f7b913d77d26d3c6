"""Executors: where a step's function body runs.

The default runs async steps on the event loop and sync steps in a thread pool, copying
the context so `current_step()` works in the thread. Other packages plug in their own
(cluster provides a Ray task executor) by implementing `Executor.run`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run `fn(*args, **kwargs)` (sync or async) and return its result."""
        ...


_POOL: ThreadPoolExecutor | None = None
_POOL_PID: int | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL, _POOL_PID
    if _POOL is None or os.getpid() != _POOL_PID:
        workers = int(os.environ.get("SLMFLOW_THREADS", "0")) or min(64, (os.cpu_count() or 1) * 8)
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slmflow-step")
        _POOL_PID = os.getpid()
    return _POOL


class ThreadExecutor:
    """Sync functions in a shared thread pool (context copied), async ones on the loop."""

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(fn):
            return await fn(*args, **kwargs)
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_pool(), call)


DEFAULT_EXECUTOR = ThreadExecutor()
