"""The public face of the engine: `@step`, `@workflow`, running, batches and resuming."""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import os
import secrets
import sys
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import TypeAdapter, ValidationError

from orchestrator._engine import Run
from orchestrator._graph import NO_FALLBACK, Node, Step, _first_error, build, mermaid
from orchestrator._plan import compile_plan
from orchestrator._state import Preloaded
from orchestrator.errors import (
    DefinitionError,
    GraphChangedError,
    InputValidationError,
    OrchestratorError,
    ResumeError,
    RunBusyError,
    RunFailed,
    StepCodeChangedError,
    UnstorableValueError,
)
from orchestrator.events import Event, EventKind, Listener
from orchestrator.executor import Executor
from orchestrator.imports import BadReference, get_qualname, load_module, split_ref
from orchestrator.owners import HOST, claim_token, is_mine, owner_alive
from orchestrator.records import RunRecord, RunStatus, StepStatus
from orchestrator.retry import RetryPolicy
from orchestrator.serialization import dumps, loads
from orchestrator.store import RunRow, Store, StoreBusy, default_store

F = TypeVar("F", bound=Callable[..., Any])


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()


@overload
def step(fn: Callable[..., Any], /) -> Step: ...
@overload
def step(
    *,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    when: Callable[..., Any] | None = None,
    fallback: Any = NO_FALLBACK,
    executor: Executor | str | None = None,
    receive_failures: bool = False,
    allow_pickle: bool = False,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function (sync or async) a workflow step; use bare (`@step`) or with options.

    Options: `retry=RetryPolicy(...)`, `timeout=` seconds per attempt, `when=` a predicate on the
    step's arguments (false: the step is skipped), `fallback=` a value or a callable (called with
    the step's arguments, plus `error=` if it takes one) used once retries are exhausted,
    `executor=` where the body runs ("thread", the default for a sync step; "process", a worker
    process that is killed when the timeout fires, for sync steps that must be stoppable; or an
    Executor such as cluster's `ray_task(...)`), `receive_failures=True` to run even when inputs failed
    (they arrive as `Failure` objects), `allow_pickle=True` to store non-JSON outputs, `name=`.
    """
    if fn is not None:
        if options:
            raise DefinitionError("use @step or @step(option=...), not both")
        return Step(fn)

    def decorate(func: Callable[..., Any]) -> Step:
        return Step(func, **options)

    unknown = set(options) - {
        "name", "retry", "timeout", "when", "fallback", "executor", "receive_failures", "allow_pickle",
    }  # fmt: skip
    if unknown:
        raise DefinitionError(f"@step got unknown option(s) {sorted(unknown)}")
    return decorate


class GraphView:
    """A read-only view of a workflow's graph."""

    def __init__(self, wf: Workflow) -> None:
        self._wf = wf

    @property
    def nodes(self) -> list[str]:
        return [n.id for n in self._wf.nodes]

    @property
    def inputs(self) -> list[str]:
        return [n.id for n in self._wf.nodes if n.kind == "input"]

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(d.id, n.id) for n in self._wf.nodes for d in n.deps]

    @property
    def hash(self) -> str:
        return self._wf.graph_hash

    def mermaid(self) -> str:
        return mermaid(self._wf.nodes, self._wf.output)

    def __repr__(self) -> str:
        return f"<graph of {self._wf.name}: {len(self.nodes)} nodes, {len(self.edges)} edges>"


_RUNS: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()
_ENGINE_LIMIT: dict[str, Any] = {"max_concurrency": None, "per_loop": weakref.WeakKeyDictionary()}


def set_engine_concurrency(max_concurrency: int | None) -> None:
    """Bound the steps running at once across every run of this process (None: unbounded)."""
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError("max_concurrency must be >= 1 or None")
    _ENGINE_LIMIT["max_concurrency"] = max_concurrency
    _ENGINE_LIMIT["per_loop"] = weakref.WeakKeyDictionary()


def _engine_limit() -> asyncio.Semaphore | None:
    limit = _ENGINE_LIMIT["max_concurrency"]
    if limit is None:
        return None
    loop = asyncio.get_running_loop()
    per_loop = _ENGINE_LIMIT["per_loop"]
    sem = per_loop.get(loop)
    if sem is None:
        sem = per_loop[loop] = asyncio.Semaphore(limit)
    return sem


class RunHandle:
    """A run in progress: its id, its event stream, cancellation and its outcome."""

    def __init__(self, run: Run, task: asyncio.Task[None]) -> None:
        self._run = run
        self._task = task

    @property
    def run_id(self) -> str:
        return self._run.run_id

    def events(self) -> AsyncIterator[Event]:
        """Events from now until the run finishes (step started / retried / finished / skipped)."""
        return self._run.events.subscribe()

    def cancel(self) -> None:
        """Stop the run: running steps are cancelled, the rest never start; it can be resumed."""
        self._run.cancel()

    @property
    def done(self) -> bool:
        return self._task.done()

    async def wait(self) -> RunRecord:
        """Wait for the end and return the run's record (never raises for a failed run)."""
        await asyncio.shield(self._task)
        return self._run.record()

    async def result(self) -> Any:
        """Wait for the end; the workflow's result, or RunFailed when the run did not succeed."""
        await asyncio.shield(self._task)
        if self._run.status is not RunStatus.SUCCEEDED:
            raise RunFailed(self._run.record())
        return self._run.result

    def record(self) -> RunRecord:
        return self._run.record()

    def __await__(self) -> Any:
        return self.result().__await__()


class Workflow:
    """A workflow: the graph its function builds, and the ways to run it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        store: Store | None = DEFAULT,
        deadline: float | None = None,
        max_concurrency: int | None = None,
        allow_pickle: bool = False,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if deadline is not None and deadline <= 0:
            raise DefinitionError(f"workflow {self.name!r}: deadline must be a positive number of seconds")
        if max_concurrency is not None and max_concurrency < 1:
            raise DefinitionError(f"workflow {self.name!r}: max_concurrency must be >= 1")
        self._store = store
        self.deadline = deadline
        self.max_concurrency = max_concurrency
        self.allow_pickle = allow_pickle
        self.nodes, self.output, self.input_nodes = build(fn, self.name, allow_pickle)
        self.signature = inspect.signature(fn)
        self.target = _target_of(fn)
        # What the engine runs: the graph and what is derived from it, computed once.
        self.plan = compile_plan(self.name, self.target, self.nodes, self.output, allow_pickle)
        self.graph_hash = self.plan.graph_hash
        self.code_hashes = dict(self.plan.code_hashes)
        self.code_hashes_json = self.plan.code_hashes_json
        self._input_adapters: dict[str, list[tuple[str, TypeAdapter[Any]]]] | None = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<workflow {self.name}: {len(self.nodes)} nodes>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise DefinitionError(
            f"workflow {self.name!r} is not called directly; use {self.name}.run(...), "
            f"await {self.name}.arun(...) or {self.name}.run_many([...])"
        )

    # ---- options ----

    def with_options(
        self,
        *,
        store: Store | None = DEFAULT,
        deadline: float | None = DEFAULT,
        max_concurrency: int | None = DEFAULT,
    ) -> Workflow:
        """A copy sharing this graph with other run options (`store=None`: keep nothing on disk)."""
        clone = object.__new__(Workflow)
        clone.__dict__.update(self.__dict__)
        if store is not DEFAULT:
            clone._store = store
        if deadline is not DEFAULT:
            clone.deadline = deadline
        if max_concurrency is not DEFAULT:
            clone.max_concurrency = max_concurrency
        return clone

    @property
    def store(self) -> Store | None:
        return default_store() if self._store is DEFAULT else self._store

    @property
    def graph(self) -> GraphView:
        return GraphView(self)

    def mermaid(self) -> str:
        return mermaid(self.nodes, self.output)

    # ---- inputs ----

    def _adapters(self) -> dict[str, list[tuple[str, TypeAdapter[Any]]]]:
        """Per input: (who, adapter) for the workflow's annotation and every step argument it feeds."""
        if self._input_adapters is None:
            hints = {}
            try:
                import typing

                hints = typing.get_type_hints(self.fn)
            except Exception:
                hints = {}
            table: dict[str, list[tuple[str, TypeAdapter[Any]]]] = {}
            for node in self.input_nodes.values():
                entries: list[tuple[str, TypeAdapter[Any]]] = []
                hint = hints.get(node.id)
                if hint is not None and hint is not Any:
                    entries.append((f"workflow {self.name!r}, input {node.id!r}", TypeAdapter(hint)))
                for dep in node.dependents:
                    if dep.kind != "step" or dep.step is None:
                        continue
                    try:
                        bound = dep.step.signature.bind(*dep.args, **dep.kwargs).arguments
                    except TypeError:
                        continue
                    for pname, value in bound.items():
                        if value is node:
                            adapter = dep.step.adapter(pname)
                            if adapter is not None:
                                entries.append((f"step {dep.id!r}, argument {pname!r} (from input {node.id!r})", adapter))
                table[node.id] = entries
            self._input_adapters = table
        return self._input_adapters

    def validate_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Check names and types of a run's inputs (pydantic, coercing); raise InputValidationError."""
        params = self.signature.parameters
        extra = sorted(set(inputs) - set(params))
        if extra:
            raise InputValidationError(
                f"workflow {self.name!r} got unexpected input(s) {extra}; its inputs are {list(params)}"
            )
        values: dict[str, Any] = {}
        for pname, param in params.items():
            if pname in inputs:
                values[pname] = inputs[pname]
            elif param.default is not inspect.Parameter.empty:
                values[pname] = param.default
            else:
                raise InputValidationError(
                    f"workflow {self.name!r} is missing required input {pname!r}; its inputs are {list(params)}"
                )
        for pname, entries in self._adapters().items():
            for i, (who, adapter) in enumerate(entries):
                try:
                    validated = adapter.validate_python(values[pname])
                except ValidationError as exc:
                    raise InputValidationError(f"{who}: {_first_error(exc)}") from None
                if i == 0:
                    values[pname] = validated
        if self.store is not None:
            for pname, value in values.items():
                try:
                    dumps(value, allow_pickle=self.allow_pickle, where=f"workflow {self.name!r}, input {pname!r}")
                except UnstorableValueError as exc:
                    raise InputValidationError(str(exc)) from None
        return values

    # ---- running ----

    def start(self, /, inputs: Mapping[str, Any] | None = None, *, run_id: str | None = None,
              on_event: Listener | None = None, **kw_inputs: Any) -> RunHandle:  # fmt: skip
        """Start a run on the running event loop and return its handle at once."""
        values = self.validate_inputs({**(inputs or {}), **kw_inputs})
        run = Run(
            self.plan,
            run_id or new_run_id(),
            values,
            self.store,
            max_concurrency=self.max_concurrency,
            engine_limit=_engine_limit(),
            deadline=self.deadline,
        )
        return _start(run, on_event)

    async def arun(self, /, **inputs: Any) -> Any:
        """Run to the end and return the result; raise RunFailed when the run does not succeed."""
        return await self.start(inputs).result()

    def run(self, /, **inputs: Any) -> Any:
        """Blocking `arun`: run to the end in a fresh event loop and return the result."""
        _no_running_loop(f"{self.name}.run()", f"await {self.name}.arun(...)")
        return asyncio.run(self.arun(**inputs))

    async def arun_many(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 16,
        on_event: Listener | None = None,
        on_done: Callable[[RunRecord], None] | None = None,
        batch: str | None = None,
    ) -> list[RunRecord]:
        """Run once per input mapping, `concurrency` runs at a time; records in input order.

        With a store, every input is recorded (as a `pending` run of batch `batch`, a new id
        when not given) before any run starts, so an interrupted batch can be finished with
        `resume_batch` (`slmflow resume --batch`). `on_done` gets each record as its run ends.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        batch_inputs = list(inputs)
        validated = []
        for i, item in enumerate(batch_inputs):
            try:
                validated.append(self.validate_inputs(item))
            except InputValidationError as exc:
                raise InputValidationError(f"input #{i}: {exc}") from None
        store = self.store
        ids = [new_run_id() for _ in validated]
        # The batch's process owns its pending runs too: if it dies they show interrupted.
        batch_token = claim_token()
        if store is not None and validated:
            batch = batch or new_run_id()
            now = time.time()
            rows = (
                [
                    RunRow(
                        run_id, self.name, self.target, self.graph_hash, str(RunStatus.PENDING),
                        dumps(values, allow_pickle=True), now, None, os.getpid(), HOST, self.code_hashes_json,
                        batch_token, batch, i,
                    )
                    for i, (run_id, values) in enumerate(zip(ids, validated, strict=True))
                ]
            )  # fmt: skip
            await _on_loop_or_thread(store, functools.partial(store.create_runs, rows))
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int, values: dict[str, Any]) -> RunRecord:
            async with sem:
                run = Run(
                    self.plan, ids[i], values, store, max_concurrency=self.max_concurrency,
                    engine_limit=_engine_limit(), deadline=self.deadline, claimed=store is not None,
                    batch=batch, batch_index=i,
                )  # fmt: skip
                if store is not None and not await _claim(store, run, str(RunStatus.PENDING), batch_token):
                    # Someone resumed this batch meanwhile and took this run: it is theirs.
                    record = store.get_run(ids[i])
                else:
                    record = await _start(run, on_event).wait()
                if on_done is not None:
                    on_done(record)
                return record

        return list(await asyncio.gather(*(one(i, v) for i, v in enumerate(validated))))

    def run_many(
        self,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 16,
        on_event: Listener | None = None,
        on_done: Callable[[RunRecord], None] | None = None,
        batch: str | None = None,
    ) -> list[RunRecord]:
        _no_running_loop(f"{self.name}.run_many()", f"await {self.name}.arun_many(...)")
        return asyncio.run(
            self.arun_many(inputs, concurrency=concurrency, on_event=on_event, on_done=on_done, batch=batch)
        )


async def _claim(store: Store, run: Run, expect_status: str, expect_token: str | None) -> bool:
    run.started = time.time()
    claim = functools.partial(
        store.claim_run, run.run_id, expect_status=expect_status, expect_token=expect_token,
        owner_pid=os.getpid(), owner_host=HOST, owner_token=run.owner_token, started_at=run.started,
    )  # fmt: skip
    return await _on_loop_or_thread(store, claim)


async def _on_loop_or_thread(store: Store, call: Any) -> Any:
    """`call` (a bound method of `store`) on the loop, or in a thread if another writer holds
    the store: code on the event loop must not wait for SQLite's lock."""
    try:
        return getattr(store.nowait(), call.func.__name__)(*call.args, **call.keywords)
    except StoreBusy:
        return await asyncio.to_thread(call)


def _start(run: Run, on_event: Listener | None) -> RunHandle:
    if on_event is not None:
        run.events.listeners.append(on_event)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise OrchestratorError("start() needs a running event loop; outside one use run()") from None
    task = loop.create_task(run.execute())
    _RUNS[run.run_id] = run
    return RunHandle(run, task)


def _no_running_loop(what: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise OrchestratorError(f"{what} blocks, so it cannot be called inside a running event loop; use {instead}")


_ID_COUNTER = itertools.count(secrets.randbits(32))


def _reseed_ids() -> None:
    global _ID_COUNTER
    _ID_COUNTER = itertools.count(secrets.randbits(32))


os.register_at_fork(after_in_child=_reseed_ids)  # a forked child must not repeat the parent's ids


def new_run_id() -> str:
    """20 hex digits: milliseconds since the epoch, then a counter that starts at random.

    Time first, so ids sort by creation and a new run's rows land at the end of the store's
    indexes instead of anywhere in them (measured: about 1 us less per stored step of a
    chain). The counter keeps ids from one process apart; two processes collide only by
    starting runs in the same millisecond with the same 32-bit counter value.
    """
    return f"{time.time_ns() // 1_000_000:012x}{next(_ID_COUNTER) & 0xFFFFFFFF:08x}"


@overload
def workflow(fn: Callable[..., Any], /) -> Workflow: ...
@overload
def workflow(
    *,
    name: str | None = None,
    store: Store | None = DEFAULT,
    deadline: float | None = None,
    max_concurrency: int | None = None,
    allow_pickle: bool = False,
) -> Callable[[Callable[..., Any]], Workflow]: ...


def workflow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Make a function that wires steps together a `Workflow`; its graph is built right here.

    Options: `name=`, `store=` (a Store, None for in-memory, default: `default_store()`),
    `deadline=` seconds for a whole run, `max_concurrency=` steps at once per run,
    `allow_pickle=True` to store non-JSON values.
    """
    if fn is not None:
        if options:
            raise DefinitionError("use @workflow or @workflow(option=...), not both")
        return Workflow(fn)
    unknown = set(options) - {"name", "store", "deadline", "max_concurrency", "allow_pickle"}
    if unknown:
        raise DefinitionError(f"@workflow got unknown option(s) {sorted(unknown)}")

    def decorate(func: Callable[..., Any]) -> Workflow:
        return Workflow(func, **options)

    return decorate


# ---- resume ----


def _target_of(fn: Callable[..., Any]) -> str | None:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if not module or "<locals>" in qualname:
        return None
    if module == "__main__":
        path = getattr(sys.modules.get("__main__"), "__file__", None)
        return f"{Path(path).resolve()}:{qualname}" if path else None
    return f"{module}:{qualname}"


def load_target(target: str) -> Workflow:
    """The Workflow at 'module:qualname' (or '/path/to/file.py:qualname')."""
    try:
        module_name, qualname = split_ref(target)
        module = load_module(module_name)
        obj = get_qualname(module, qualname, module_name)
    except BadReference as exc:
        raise ResumeError(f"cannot load workflow {target!r}: {exc}") from exc
    if isinstance(obj, Workflow):
        return obj
    wrapped = [v for v in vars(module).values() if isinstance(v, Workflow) and v.fn is obj]
    if wrapped:
        return wrapped[0]
    raise ResumeError(f"{target!r} is not a workflow")


async def aresume(
    run_id: str, *, store: Store | None = None, workflow: Workflow | None = None, force: bool = False,
    on_event: Listener | None = None, allow_changed_code: bool = False,
) -> Any:  # fmt: skip
    """Finish a run that crashed, was cancelled or failed; steps that succeeded are not run again.

    Returns the workflow's result (RunFailed if the resumed run still does not succeed).
    """
    handle = await start_resume(
        run_id, store=store, workflow=workflow, force=force, on_event=on_event, allow_changed_code=allow_changed_code
    )
    return await handle.result()


async def start_resume(
    run_id: str, *, store: Store | None = None, workflow: Workflow | None = None, force: bool = False,
    on_event: Listener | None = None, allow_changed_code: bool = False,
) -> RunHandle:  # fmt: skip
    """Claim run `run_id` for this process and start finishing it.

    Raises RunBusyError when its owner still runs it or another resumer claimed it first
    (exactly one of several simultaneous resumers wins), GraphChangedError when the graph
    changed, StepCodeChangedError when a step's code changed (unless `allow_changed_code`).
    """
    store = store or default_store()
    try:
        record = store.get_run(run_id)
    except KeyError:
        raise ResumeError(f"no run {run_id!r} in {store!r}") from None
    live = _RUNS.get(run_id)
    if live is not None and live.status in (RunStatus.PENDING, RunStatus.RUNNING):
        raise RunBusyError(f"run {run_id} is still running in this process")
    if record.status in (RunStatus.RUNNING, RunStatus.PENDING) and not force:
        # Ours but not live here (checked just above): nothing runs it any more.
        mine = is_mine(record.owner_token)
        # `interrupted` also covers an owner on another host whose lease expired.
        alive = False if mine or record.interrupted else owner_alive(
            record.owner_pid, record.owner_host, record.owner_token
        )
        if alive:
            raise RunBusyError(
                f"run {run_id} looks still running in process {record.owner_pid}; wait for it, stop it, "
                "or pass force=True (--force) if that process is not running it"
            )
        if alive is None and record.owner_pid is not None:
            raise RunBusyError(
                f"run {run_id} is recorded running by process {record.owner_pid} on host "
                f"{record.owner_host!r}, which cannot be checked from here; if that process is gone, "
                "pass force=True (--force)"
            )
    if workflow is None:
        if not record.target:
            raise ResumeError(
                f"run {run_id} of {record.workflow!r} has no importable workflow reference; pass workflow="
            )
        try:
            workflow = load_target(record.target)
        except ResumeError:
            raise
        except Exception as exc:
            raise ResumeError(f"cannot import workflow {record.target!r} for run {run_id}: {exc!r}") from exc
    if workflow.graph_hash != record.graph_hash:
        raise GraphChangedError(
            f"run {run_id} was recorded with graph {record.graph_hash} of workflow {record.workflow!r}, but "
            f"{workflow.name!r} now has graph {workflow.graph_hash}: its steps or their wiring changed. "
            "Resuming could mix outputs of two different graphs, so it is refused; start a new run"
        )
    changed = sorted(
        name for name, digest in (record.code_hashes or {}).items() if workflow.code_hashes.get(name) != digest
    )
    if changed and not allow_changed_code:
        raise StepCodeChangedError(
            f"run {run_id}: the code of step(s) {', '.join(repr(c) for c in changed)} of workflow "
            f"{record.workflow!r} changed since the run was recorded (or the Python version did). Resuming "
            "would mix outputs of the old and the new code, so it is refused; start a new run, or pass "
            "allow_changed_code=True (--allow-changed-code) to resume anyway"
        )
    outputs = store.load_outputs(run_id)
    preloaded: dict[str, Preloaded] = {}
    for sid, stored in outputs.items():
        if stored.status is StepStatus.SUCCEEDED and stored.output is not None:
            preloaded[sid] = Preloaded(StepStatus.SUCCEEDED, loads(stored.output))
        elif stored.status is StepStatus.SKIPPED and stored.skip_reason == "condition false":
            preloaded[sid] = Preloaded(StepStatus.SKIPPED, None, stored.skip_reason)
    run = Run(
        workflow.plan,
        run_id,
        record.inputs,
        store,
        max_concurrency=workflow.max_concurrency,
        engine_limit=_engine_limit(),
        deadline=workflow.deadline,
        preloaded=preloaded,
        resumed=True,
        claimed=True,
        batch=record.batch,
        batch_index=record.batch_index,
    )
    if changed:
        run.warnings.append(f"resumed with changed code of step(s) {', '.join(changed)} (allow_changed_code)")
    if not await _claim(store, run, str(record.status), record.owner_token):
        now = store.get_run(run_id)
        raise RunBusyError(
            f"run {run_id} was claimed by another process just now (pid {now.owner_pid} on "
            f"{now.owner_host!r}, status {now.status}); only one resume of a run may run at a time"
        )
    return _start(run, on_event)


def resume(
    run_id: str, *, store: Store | None = None, workflow: Workflow | None = None, force: bool = False,
    allow_changed_code: bool = False,
) -> Any:  # fmt: skip
    """Blocking `aresume`."""
    _no_running_loop("resume()", "await aresume(...)")
    return asyncio.run(
        aresume(run_id, store=store, workflow=workflow, force=force, allow_changed_code=allow_changed_code)
    )


async def resume_batch(
    batch: str,
    *,
    store: Store | None = None,
    concurrency: int = 16,
    force: bool = False,
    allow_changed_code: bool = False,
    on_event: Listener | None = None,
    on_done: Callable[[RunRecord], None] | None = None,
    on_busy: Callable[[str, RunBusyError], None] | None = None,
) -> list[RunRecord]:
    """Finish every run of a batch that did not succeed (never started, interrupted, failed).

    Runs another process still owns (or claims first) are left to it and reported to
    `on_busy`; returns the records of the runs resumed here, in input order.
    """
    store = store or default_store()
    runs = store.batch_runs(batch)
    if not runs:
        raise ResumeError(f"no batch {batch!r} in {store!r}")
    sem = asyncio.Semaphore(concurrency)

    async def one(record: RunRecord) -> RunRecord | None:
        async with sem:
            try:
                handle = await start_resume(
                    record.run_id, store=store, force=force, on_event=on_event, allow_changed_code=allow_changed_code
                )
            except RunBusyError as exc:
                if on_busy is not None:
                    on_busy(record.run_id, exc)
                return None
            done = await handle.wait()
            if on_done is not None:
                on_done(done)
            return done

    todo = [r for r in runs if r.status is not RunStatus.SUCCEEDED]
    return [r for r in await asyncio.gather(*(one(r) for r in todo)) if r is not None]


__all__ = [
    "DEFAULT",
    "EventKind",
    "GraphView",
    "Node",
    "RunHandle",
    "Workflow",
    "aresume",
    "resume",
    "resume_batch",
    "set_engine_concurrency",
    "start_resume",
    "step",
    "workflow",
]
