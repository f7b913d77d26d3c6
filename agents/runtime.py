"""In-process model runtime: one agent's model, loaded once, serving batches of typed requests.

No Ray here: the Serve deployment wraps a ``ModelRunner`` and calls ``run_batch`` from its
``@serve.batch`` handler; tests and benchmarks use it directly.

    runner = ModelRunner(spec).load()
    [resp] = runner.run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=..., labels=[...])])
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from agents.errors import AgentError, AgentUnavailable, InvalidRequest
from agents.protocol import REQUEST_TYPES, TaskKind
from agents.spec import AgentSpec

log = structlog.get_logger("agents.runtime")


class ModelRunner:
    """One agent's model and task execution. Thread-safe: batches run one at a time."""

    def __init__(self, spec: AgentSpec, *, gpu_fraction: float | None = None, threads: int | None = None) -> None:
        """``threads``: CPU threads for the engine and grammar compilation; None takes the
        spec's ``threads``, else its ``resources.num_cpus`` (at least 1); 0 leaves the process
        settings alone.

        More threads than the replica's cores is ruinous on a busy machine: torch's thread
        barriers spin, and small batches ran 20x slower with 2 threads on 2 shared cores.
        """
        self.spec = spec
        self.gpu_fraction = gpu_fraction
        if threads is None:
            threads = spec.threads or max(1, int(spec.resources.num_cpus))
        self.threads = threads
        self._ctx: Any = None
        self._lock = threading.Lock()
        self._info: dict[str, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self._ctx is not None

    def load(self) -> ModelRunner:
        """Load weights once (later calls return at once); raises ModelLoadError/SpecError with the reason."""
        with self._lock:
            if self._ctx is not None:
                return self
            from agents.engines import load_engine

            self._ctx = load_engine(self.spec, threads=self.threads, gpu_fraction=self.gpu_fraction)
            self._info = None
        return self

    @property
    def concurrent(self) -> bool:
        """True when the engine batches concurrent callers itself (continuous batching)."""
        return bool(self._ctx is not None and self._ctx.concurrent)

    @property
    def engine(self) -> Any:
        if self._ctx is None:
            raise AgentUnavailable("model not loaded; call load() first", agent=self.spec.name)
        return self._ctx

    def info(self) -> dict[str, Any]:
        """Model id, parameter count, weight bytes, device, dtype, tasks, load time, engine."""
        info = self.engine.info()
        if self._info is None:
            self._info = info
        return dict(info)

    def stream(self, task: TaskKind | str, request: Any, on_text: Any) -> Any:
        """Run one generate or chat request, passing each new piece of text to ``on_text``
        (which returns True to stop early); returns the typed response or an AgentError."""
        kind = TaskKind(task)
        if kind not in (TaskKind.GENERATE, TaskKind.CHAT):
            return InvalidRequest(f"streaming serves generate and chat, not {kind.value!r}", agent=self.spec.name)
        if kind not in self.spec.tasks:
            return InvalidRequest(f"does not serve task {kind.value!r}", agent=self.spec.name)
        try:
            req = _coerce(kind, request)
        except InvalidRequest as exc:
            exc.agent = self.spec.name
            return exc
        from agents.tasks import chat, generate

        module = generate if kind is TaskKind.GENERATE else chat
        [job] = module.jobs(self.engine, [req])
        t0 = time.perf_counter()
        try:
            with contextlib.nullcontext() if self.concurrent else self._lock:
                res = self.engine.stream(job, on_text)
        except AgentError as exc:
            exc.agent = exc.agent or self.spec.name
            return exc
        out = module.response(res)
        out.usage.compute_ms = (time.perf_counter() - t0) * 1000
        out.usage.model = self.spec.model
        return out

    def run_batch(self, task: TaskKind | str, requests: list[Any]) -> list[Any]:
        """Serve ``requests`` of one task kind together; one result (response or AgentError) per request.

        Requests may be typed models or dicts. Usage gets tokens, this batch's compute time
        split evenly, the batch size and the model; Serve fills queue time, replica and cost.
        """
        if self._ctx is None:
            raise AgentUnavailable("model not loaded; call load() first", agent=self.spec.name)
        try:
            kind = TaskKind(task)
        except ValueError:
            err = InvalidRequest(f"unknown task {task!r}", agent=self.spec.name)
            return [err for _ in requests]
        if kind not in self.spec.tasks:
            err = InvalidRequest(
                f"does not serve task {kind.value!r}; it serves {', '.join(t.value for t in self.spec.tasks)}",
                agent=self.spec.name,
            )
            return [err for _ in requests]
        results: list[Any] = [None] * len(requests)
        valid: list[tuple[int, BaseModel]] = []
        for i, req in enumerate(requests):
            try:
                valid.append((i, _coerce(kind, req)))
            except InvalidRequest as exc:
                exc.agent = self.spec.name
                results[i] = exc
        if not valid:
            return results
        from agents.tasks import handler

        batch = [r for _, r in valid]
        # A serial engine runs one batch at a time; a concurrent one batches its callers itself.
        with contextlib.nullcontext() if self.concurrent else self._lock:
            t0 = time.perf_counter()
            try:
                outs = handler(kind)(self._ctx, batch)
            except AgentError as exc:
                exc.agent = exc.agent or self.spec.name
                outs = [exc] * len(batch)
            except Exception as exc:
                # Keep the contract (one result per request) and say what failed.
                log.exception("batch_failed", agent=self.spec.name, task=kind.value, batch_size=len(batch))
                err = AgentError(f"{kind.value} failed: {type(exc).__name__}: {exc}", agent=self.spec.name)
                outs = [err] * len(batch)
            compute_ms = (time.perf_counter() - t0) * 1000
        share = compute_ms / len(batch)
        for (i, _), out in zip(valid, outs, strict=True):
            if isinstance(out, BaseModel) and hasattr(out, "usage"):
                out.usage.compute_ms = share
                out.usage.batch_size = len(batch)
                out.usage.model = self.spec.model
            results[i] = out
        log.debug(
            "batch_done", agent=self.spec.name, task=kind.value, batch_size=len(batch), compute_ms=round(compute_ms, 1)
        )
        return results


def _coerce(kind: TaskKind, req: Any) -> BaseModel:
    cls = REQUEST_TYPES[kind]
    if isinstance(req, cls):
        return req
    try:
        if isinstance(req, BaseModel):
            req = req.model_dump()
        return cls.model_validate(req)
    except ValidationError as exc:
        raise InvalidRequest(f"invalid {kind.value} request: {exc}") from exc


__all__ = ["ModelRunner"]
