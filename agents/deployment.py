"""The Serve deployment that hosts one agent: a ModelRunner per replica, batched per task kind.

One class serves every agent; `agents.fleet` gives each agent its own copy of it
(name, resources, autoscaling) with `.options(...)`. A replica loads its model once in
its constructor, so a model that cannot load fails the replica and Serve reports the
reason in `serve status` (and `deploy()` surfaces it).

How requests reach the model depends on the agent's engine:

- a serial engine (transformers on an encoder): each task kind has its own `@serve.batch` queue, so
  concurrent calls of one kind, from any number of workflow runs, share one
  `ModelRunner.run_batch` call. Batches run on a single worker thread, so the replica's
  event loop keeps accepting (and queueing) requests while the model computes, and two
  task kinds never run the model at once.
- a concurrent engine (llama_cpp, and transformers on a causal LM): continuous batching
  happens inside the engine, so each request goes straight to it from a thread of its own;
  a request returns the moment it finishes. The pool has `max_ongoing_requests` threads, which is also what Serve lets
  into the replica at once: the engine's waiting queue is bounded by that setting.

`stream()` yields an answer piece by piece (Serve streaming handles); when the caller goes
away, the engine stops that sequence at its next token and frees its slot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve

from agents.errors import AgentError, InvalidRequest, ModelLoadError
from agents.protocol import REQUEST_TYPES, StreamChunk, TaskKind
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from orchestrator.logging import get_logger as _get_logger


class _Queued:
    """A request waiting in a batch queue, with the time it reached the replica."""

    __slots__ = ("arrived", "request")

    def __init__(self, request: Any) -> None:
        self.request = request
        self.arrived = time.perf_counter()


def _batched(task: TaskKind) -> Any:
    """A `@serve.batch` method running `task` over a batch of `_Queued` requests.

    Built per task kind so each kind gets its own queue; the replica sets the real
    batch size and wait from its spec with the batch handler's setters.
    """

    async def batch(self: AgentServer, items: list[_Queued]) -> list[Any]:
        return await self._run_batch(task, items)

    # serve.batch finds `self` by looking the function's name up on the instance.
    batch.__name__ = batch.__qualname__ = f"_batch_{task.value}"
    return serve.batch(max_batch_size=1, batch_wait_timeout_s=0.0)(batch)


class AgentServer:
    """One replica of one agent. Methods return a response or an `AgentError` value.

    Errors travel as values rather than exceptions so they reach the caller with their
    type and fields intact (Ray would wrap a raised exception in RayTaskError).
    """

    _batch_generate = _batched(TaskKind.GENERATE)
    _batch_chat = _batched(TaskKind.CHAT)
    _batch_classify = _batched(TaskKind.CLASSIFY)
    _batch_extract = _batched(TaskKind.EXTRACT)
    _batch_tool_call = _batched(TaskKind.TOOL_CALL)
    _batch_embed = _batched(TaskKind.EMBED)

    def __init__(self, spec: dict[str, Any], gpu_fraction: float = 0.0) -> None:
        self.spec = AgentSpec.model_validate(spec)
        self.gpu_fraction = gpu_fraction
        try:
            self.replica_id = serve.get_replica_context().replica_tag
        except Exception:  # constructed outside Serve (benchmarks, debugging)
            self.replica_id = "local"
        self._log = _get_logger(agent=self.spec.name, replica=self.replica_id)
        started = time.perf_counter()
        try:
            # Ray does not enforce a fractional GPU's memory: the runner caps this process's
            # CUDA memory to the replica's share and fails loudly when the model cannot fit.
            self.runner = ModelRunner(self.spec, gpu_fraction=gpu_fraction or None).load()
        except AgentError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot load model: {type(exc).__name__}: {exc}", agent=self.spec.name) from exc
        self.load_s = time.perf_counter() - started
        workers = self.spec.effective_max_ongoing_requests if self.runner.concurrent else 1
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"agent-{self.spec.name}")
        for task in TaskKind:
            method = getattr(self, f"_batch_{task.value}")
            method.set_max_batch_size(self.spec.batching.max_batch_size)
            method.set_batch_wait_timeout_s(self.spec.batching.batch_wait_timeout_s)
        self._served = 0
        self._errors = 0
        self._batches = 0
        self._batched_requests = 0
        self._pending = 0
        self._last_error: str | None = None
        self._started_at = time.time()
        self._log.info("replica ready", load_s=round(self.load_s, 2), tasks=[t.value for t in self.spec.tasks])

    # -- task methods (what handles call) ---------------------------------------------

    async def generate(self, request: Any) -> Any:
        return await self._submit(TaskKind.GENERATE, request)

    async def chat(self, request: Any) -> Any:
        return await self._submit(TaskKind.CHAT, request)

    async def classify(self, request: Any) -> Any:
        return await self._submit(TaskKind.CLASSIFY, request)

    async def extract(self, request: Any) -> Any:
        return await self._submit(TaskKind.EXTRACT, request)

    async def tool_call(self, request: Any) -> Any:
        return await self._submit(TaskKind.TOOL_CALL, request)

    async def embed(self, request: Any) -> Any:
        return await self._submit(TaskKind.EMBED, request)

    async def bulk(self, task: str, requests: list[Any]) -> list[Any]:
        """Several requests of one kind in one call: the client coalesces its concurrent calls.

        Each request still enters the task's batch queue on its own, so it batches with
        every other caller's; only Serve's per-call overhead is paid once.
        """
        kind = TaskKind(task)
        return list(await asyncio.gather(*(self._submit(kind, r) for r in requests)))

    async def stream(self, task: str, request: Any) -> AsyncIterator[Any]:
        """Yield ``StreamChunk``s of a generate or chat answer, then nothing; an error is
        yielded as an ``AgentError`` value. Call through a handle with ``stream=True``."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        gone = threading.Event()

        def on_text(piece: str) -> bool:
            loop.call_soon_threadsafe(queue.put_nowait, ("text", piece))
            return gone.is_set()

        def work() -> None:
            started = time.perf_counter()
            item = _Queued(request)
            try:
                result = self.runner.stream(task, request, on_text)
            except Exception as exc:  # a bug or a crash of the model: the caller learns why
                result = AgentError(f"stream failed: {type(exc).__name__}: {exc}", agent=self.spec.name)
            result = self._account(item, result, started, (time.perf_counter() - started) * 1000, 1)
            loop.call_soon_threadsafe(queue.put_nowait, ("done", result))

        self._pending += 1
        future = loop.run_in_executor(self._executor, work)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield StreamChunk(text=value)
                    continue
                if isinstance(value, AgentError):
                    yield value
                else:
                    yield StreamChunk(finish_reason=value.finish_reason, usage=value.usage)
                break
        finally:
            # Reached on normal end, and when the caller disconnects (the generator is closed
            # or cancelled): the engine sees `gone` at its next token and frees the slot.
            gone.set()
            self._pending -= 1
            await asyncio.shield(future)

    # -- control-plane methods --------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """What this replica runs: the model runner's description plus its identity."""
        return {**self.runner.info(), "replica_id": self.replica_id, "load_s": self.load_s}

    def stats(self) -> dict[str, Any]:
        """Counters since the replica started (broadcast by `fleet_status()`)."""
        return {
            "replica_id": self.replica_id,
            "served": self._served,
            "errors": self._errors,
            "pending": self._pending,
            "batches": self._batches,
            "mean_batch_size": (self._batched_requests / self._batches) if self._batches else 0.0,
            "last_error": self._last_error,
            "started_at": self._started_at,
            "load_s": self.load_s,
            "engine": self.runner.engine.engine_name,
            # What the engine counts itself (llama_cpp: prefix-cache hits, cancelled streams;
            # both: the admission queue).
            "engine_stats": getattr(self.runner.engine, "stats", dict)(),
        }

    # -- internals --------------------------------------------------------------------

    async def _submit(self, task: TaskKind, request: Any) -> Any:
        if task not in self.spec.tasks:
            return InvalidRequest(
                f"does not serve {task.value!r}; it serves {sorted(t.value for t in self.spec.tasks)}",
                agent=self.spec.name,
            )
        try:
            request = REQUEST_TYPES[task].model_validate(request)
        except Exception as exc:
            return InvalidRequest(f"bad {task.value} request: {exc}", agent=self.spec.name)
        self._pending += 1
        try:
            if self.runner.concurrent:
                [result] = await self._run_batch(task, [_Queued(request)])
                return result
            return await getattr(self, f"_batch_{task.value}")(_Queued(request))
        finally:
            self._pending -= 1

    async def _run_batch(self, task: TaskKind, items: list[_Queued]) -> list[Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_batch_sync, task, items)

    def _run_batch_sync(self, task: TaskKind, items: list[_Queued]) -> list[Any]:
        started = time.perf_counter()
        try:
            results = self.runner.run_batch(task, [item.request for item in items])
            if len(results) != len(items):
                raise RuntimeError(f"runner returned {len(results)} results for {len(items)} requests")
        except Exception as exc:  # a bug or a crash of the model: every caller learns why
            self._log.exception("batch failed", task=task.value, batch_size=len(items))
            err = f"{type(exc).__name__}: {exc}"
            results = [AgentError(f"{task.value} failed: {err}", agent=self.spec.name) for _ in items]
        elapsed_ms = (time.perf_counter() - started) * 1000
        self._batches += 1
        self._batched_requests += len(items)
        return [
            self._account(item, result, started, elapsed_ms, len(items))
            for item, result in zip(items, results, strict=True)
        ]

    def _account(self, item: _Queued, result: Any, started: float, elapsed_ms: float, batch_size: int) -> Any:
        """Fill a response's usage (queue time, replica, cost) or normalise an error; never raises,
        because errors travel to the caller as values."""
        try:
            if isinstance(result, BaseException):
                if not isinstance(result, AgentError):
                    result = AgentError(f"{type(result).__name__}: {result}", agent=self.spec.name)
                if result.agent is None:
                    result.agent = self.spec.name
                self._errors += 1
                self._last_error = str(result)
                return result
            usage = result.usage
            update: dict[str, Any] = {
                "queue_ms": max(0.0, (started - item.arrived) * 1000),
                "replica_id": self.replica_id,
            }
            if not usage.compute_ms:
                update["compute_ms"] = elapsed_ms / batch_size
            if not usage.model:
                update["model"] = self.spec.model
            usage = usage.model_copy(update=update)
            cost = self.spec.cost(usage.tokens_in, usage.tokens_out, usage.compute_ms, self.gpu_fraction)
            usage = usage.model_copy(update={"cost_usd": cost})
            self._served += 1
            return result.model_copy(update={"usage": usage})
        except Exception as exc:
            self._log.exception("accounting failed", batch_size=batch_size)
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            return AgentError(f"result handling failed: {type(exc).__name__}: {exc}", agent=self.spec.name)


# The class Serve deploys; `agents.fleet` specialises it per agent with `.options()`.
AgentDeployment = serve.deployment(AgentServer, name="agent")

__all__ = ["AgentDeployment", "AgentServer"]
