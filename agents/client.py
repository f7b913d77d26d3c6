"""The client workflow steps use to call agents, over Serve deployment handles.

    resp = await agent("minilm").classify("great product", labels=["positive", "negative"])
    resp = agent("smollm2").generate_sync("Once upon a time")

Every call returns the typed response (usage included) or raises a typed `AgentError`.
Ray Serve does not retry a request whose replica died, and its routers may keep picking
a dead replica for a few seconds; the client retries those calls itself with backoff and
raises `AgentUnavailable` (retryable, a ConnectionError) when the retry budget is spent,
so the engine's retry policy sees it. Inside an orchestrator step, each call's usage is
recorded in the run store tagged with the run and the step.

No call waits without a bound. Every call has an overall deadline (`RetryConfig.deadline_s`,
default 300 s or `SLMFLOW_CALL_TIMEOUT_S`), past which it is cancelled and raises
`AgentTimeout` (an `AgentUnavailable`). An agent that is down fails its calls fast: Serve
refuses new requests to a deployment that failed to deploy (`DeploymentUnavailableError`,
not retried), and a call still waiting after `down_check_s` asks the controller whether the
agent has any running replica; none, with the deployment's deploy failed, ends the call
with `AgentUnavailable` at once instead of leaving it queued for a replica that never comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

from agents.errors import (
    AgentError,
    AgentNotFound,
    AgentTimeout,
    AgentUnavailable,
    InvalidOutput,
    InvalidRequest,
)
from agents.protocol import (
    REQUEST_TYPES,
    ChatMessage,
    ChatResponse,
    ClassifyResponse,
    EmbedResponse,
    ExtractResponse,
    GenerateResponse,
    StreamChunk,
    TaskKind,
    Tool,
    ToolCallResponse,
)
from agents.usage import record_call
from orchestrator.logging import get_logger as _get_logger

R = TypeVar("R", bound=BaseModel)
log = _get_logger(component="agents.client")


def _retryable_exceptions() -> tuple[type[BaseException], ...]:
    """What a lost replica looks like to a caller in Ray 2.60 (checked against its source).

    RayActorError covers ActorDiedError (killed, crashed, OOM) and ActorUnavailableError
    (unreachable, restarting); BackPressureError is per-caller queue overflow. Not here:
    DeploymentUnavailableError, which Serve raises only for a deployment that failed to
    deploy with no replica left (or was deleted); retrying it would only wait (see `_down`).
    """
    from ray.exceptions import NodeDiedError, ObjectLostError, RayActorError, WorkerCrashedError
    from ray.serve.exceptions import BackPressureError

    found: list[type[BaseException]] = [
        RayActorError,
        WorkerCrashedError,
        NodeDiedError,
        ObjectLostError,
        BackPressureError,
    ]
    try:
        from ray.serve.exceptions import ReplicaUnavailableError

        found.append(ReplicaUnavailableError)
    except ImportError:  # pragma: no cover - older Ray
        pass
    return tuple(found)


def _down_exceptions() -> tuple[type[BaseException], ...]:
    from ray.serve.exceptions import DeploymentUnavailableError

    return (DeploymentUnavailableError,)


CALL_TIMEOUT_ENV = "SLMFLOW_CALL_TIMEOUT_S"
DEFAULT_CALL_TIMEOUT_S = 300.0


def _default_deadline() -> float:
    raw = os.environ.get(CALL_TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_CALL_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InvalidRequest(f"{CALL_TIMEOUT_ENV}={raw!r}: expected a positive number of seconds")
    return value


class RetryConfig(BaseModel):
    """How long the client keeps retrying calls lost with a replica, and how long any call may take."""

    timeout_s: float = 60.0
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    # The whole call, retries and queueing included; then it is cancelled (AgentTimeout).
    deadline_s: float = Field(default_factory=_default_deadline, gt=0)
    # A call still waiting this long checks (then every as long) that the agent has a replica.
    down_check_s: float = Field(default=2.0, gt=0)

    def backoff(self, attempt: int) -> float:
        base = min(self.max_backoff_s, self.initial_backoff_s * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # jitter: callers that lost the same replica spread out


_handles: dict[tuple[str, str], Any] = {}
# Most requests one coalesced call carries (each still batches on the replica by itself).
COALESCE_MAX = 64


class _Coalescer:
    """Sends the calls a process makes to one agent's task in the same loop tick as one `bulk` call.

    Serve's per-call cost (routing, serialisation, an actor call each way) is milliseconds
    of CPU, as much as a small model's share of a batch; on a few cores it, not the model,
    capped throughput. Coalescing pays it once per tick instead of once per request.
    """

    def __init__(self, client: AgentClient, task: TaskKind) -> None:
        self.client = client
        self.task = task
        self.pending: list[tuple[BaseModel, asyncio.Future[Any]]] = []
        self.scheduled = False
        self.sending: set[asyncio.Task[None]] = set()  # strong references until done

    async def submit(self, request: BaseModel) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self.pending.append((request, fut))
        if not self.scheduled:
            self.scheduled = True
            # Callers resumed in this tick (e.g. by the previous bulk's results) all join.
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        self.scheduled = False
        items, self.pending = self.pending, []
        for i in range(0, len(items), COALESCE_MAX):
            sent = asyncio.ensure_future(self._send(items[i : i + COALESCE_MAX]))
            self.sending.add(sent)
            sent.add_done_callback(self.sending.discard)

    async def _send(self, items: list[tuple[BaseModel, asyncio.Future[Any]]]) -> None:
        client, task = self.client, self.task
        requests = [req for req, _ in items]

        def send(deadline: float) -> Awaitable[Any]:
            return client._await(task, client._method_handle("bulk").remote(task.value, requests), deadline)

        try:
            # Not recorded here: each caller records its own call (see `AgentClient.call`).
            results = await client._with_retries(task, send, record=False)
        except BaseException as exc:  # every caller gets the error, typed as it came
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, fut), result in zip(items, results, strict=True):
            if not fut.done():
                fut.set_result(result)


_coalescers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Coalescer]] = (
    weakref.WeakKeyDictionary()
)


def _coalescer(client: AgentClient, task: TaskKind) -> _Coalescer:
    per_loop = _coalescers.setdefault(asyncio.get_running_loop(), {})
    # Callers share a bulk call, hence its deadline: only those with the same bounds share one.
    key = (client.app_name, client.name, task, client.retry.deadline_s, client.retry.down_check_s)
    if key not in per_loop:
        per_loop[key] = _Coalescer(client, task)
    return per_loop[key]


def _handle(name: str, app_name: str) -> Any:
    """A cached deployment handle; AgentNotFound (listing what is deployed) for unknown names."""
    key = (name, app_name)
    if key in _handles:
        return _handles[key]
    from ray import serve

    from agents._ray import ensure_connected
    from agents.fleet import INGRESS_NAME, deployed_agents

    ensure_connected()
    deployed = deployed_agents() if app_name == _app_name() else _deployments_of(app_name)
    if name not in deployed or name == INGRESS_NAME:
        hint = f"deployed agents: {', '.join(deployed)}" if deployed else "no agents are deployed (run `slmflow agents deploy`)"
        raise AgentNotFound(f"no agent {name!r} in application {app_name!r}; {hint}")
    handle = serve.get_deployment_handle(name, app_name)
    _handles[key] = handle
    return handle


def _app_name() -> str:
    from agents.fleet import APP_NAME

    return APP_NAME


def _deployments_of(app_name: str) -> list[str]:
    from agents._serve import app_details

    app = app_details(app_name)
    return sorted(app.deployments) if app else []


# Many callers waiting on one agent share one controller question per this many seconds.
_DOWN_CACHE_S = 1.0
_down_cache: dict[tuple[str, str], tuple[float, str | None]] = {}


def _judge(details: Any) -> str | None:
    """Why the deployment cannot serve (no running replica, and its deploy failed), or None."""
    if any(str(getattr(r.state, "value", r.state)) == "RUNNING" for r in details.replicas):
        return None
    status = str(getattr(details.status, "value", details.status))
    if status != "DEPLOY_FAILED":
        # Starting, updating, or UNHEALTHY while Serve replaces a lost replica: one may still
        # come. Only a failed deploy is terminal (Serve stops trying until the next deploy).
        return None
    lines = [ln.strip() for ln in str(details.message).splitlines() if ln.strip()]
    return f"the agent is down: no replica running, deployment {status}" + (f" ({lines[-1]})" if lines else "")


def _controller() -> Any:
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=False)
    return None if client is None else client._controller


def _down_cached(app_name: str, name: str) -> tuple[bool, str | None]:
    hit = _down_cache.get((app_name, name))
    if hit is not None and time.monotonic() - hit[0] < _DOWN_CACHE_S:
        return True, hit[1]
    return False, None


_GONE = "the agent's deployment no longer exists (deleted, or redeployed without it)"
# Right after a deploy is submitted the controller may not know the deployment yet, and
# says so exactly as it does for a deleted one: "gone" is a verdict only once it persists.
_GONE_GRACE_S = 3.0
_gone_since: dict[tuple[str, str], float] = {}


def _remember(app_name: str, name: str, reason: str | None) -> str | None:
    _down_cache[(app_name, name)] = (time.monotonic(), reason)
    return reason


def _unknown(name: str, exc: Exception) -> None:
    # An unanswered question decides nothing; the call's deadline still holds.
    log.debug("agent health unknown", agent=name, error=f"{type(exc).__name__}: {exc}"[:200])


async def _down_reason(app_name: str, name: str, *, sync: bool = False) -> str | None:
    """Why the agent cannot serve now (cached briefly), or None when it can or nobody knows.

    `sync`: for a synchronous caller, which drives this with `_drive`: the controller's answer
    is waited for with `ray.get` instead of awaited, so the coroutine never suspends.
    """
    import ray

    cached, reason = _down_cached(app_name, name)
    if cached:
        return reason
    controller = _controller()
    if controller is None:
        return _remember(app_name, name, "Serve is not running on this cluster")
    ref = controller.get_deployment_details.remote(app_name, name)
    try:
        details = ray.get(ref, timeout=5) if sync else await asyncio.wait_for(ref, 5)
    except KeyError:  # Ray re-raises the controller's KeyError as one
        first = _gone_since.setdefault((app_name, name), time.monotonic())
        return _remember(app_name, name, _GONE if time.monotonic() - first >= _GONE_GRACE_S else None)
    except Exception as exc:
        _unknown(name, exc)
        return _remember(app_name, name, None)
    _gone_since.pop((app_name, name), None)
    return _remember(app_name, name, _judge(details))


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run to its end, in this thread, a coroutine that never suspends (the `sync=True` path
    of `AgentClient._with_retries` or `_down_reason`); its result, or its exception raised."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("a synchronous agent call suspended")  # a bug: the sync path awaited something real


async def _result_of(response: Any) -> Any:
    return await response


def _quiet(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: an abandoned call's late error is not "never retrieved"


class AgentClient:
    """Calls one agent. Async methods (`classify`, ...) and sync twins (`classify_sync`, ...)."""

    def __init__(
        self,
        name: str,
        *,
        app_name: str | None = None,
        retry: RetryConfig | None = None,
        handle: Any = None,
        record_usage: bool = True,
        coalesce: bool = True,
    ) -> None:
        self.name = name
        self.app_name = app_name or _app_name()
        self.retry = retry or RetryConfig()
        self._handle = handle
        self._method_handles: dict[str, Any] = {}
        self._record_usage = record_usage
        self.coalesce = coalesce

    def __repr__(self) -> str:
        return f"AgentClient({self.name!r})"

    # -- generic call -------------------------------------------------------------------

    def _get_handle(self) -> Any:
        if self._handle is None:
            self._handle = _handle(self.name, self.app_name)
        return self._handle

    def _method_handle(self, method: str) -> Any:
        if method not in self._method_handles:
            self._method_handles[method] = self._get_handle().options(method_name=method)
        return self._method_handles[method]

    def _finish(self, task: TaskKind, result: Any, started: float) -> Any:
        if isinstance(result, AgentError):
            if result.agent is None:
                result.agent = self.name
            if self._record_usage:
                record_call(self.name, task, None, str(result))
            raise result
        if self._record_usage:
            record_call(self.name, task, result.usage, None)
        log.debug("agent call", agent=self.name, task=task.value, ms=round((time.perf_counter() - started) * 1000, 1))
        return result

    def _lost(
        self, task: TaskKind, attempt: int, exc: BaseException, started: float, deadline: float | None = None
    ) -> float | None:
        """Backoff before the next try, or None when the retry budget (or the call's deadline) is spent."""
        elapsed = time.perf_counter() - started
        delay = self.retry.backoff(attempt)
        if elapsed + delay > self.retry.timeout_s:
            return None
        if deadline is not None and time.monotonic() + delay > deadline:
            return None
        log.warning(
            "agent call lost, retrying",
            agent=self.name,
            task=task.value,
            attempt=attempt,
            error=f"{type(exc).__name__}: {exc}"[:300],
            backoff_s=round(delay, 2),
        )
        return delay

    def _unavailable(self, task: TaskKind, attempt: int, exc: BaseException, record: bool = True) -> AgentUnavailable:
        err = AgentUnavailable(
            f"{task.value} call lost after {attempt} attempts over {self.retry.timeout_s:.0f}s: "
            f"{type(exc).__name__}: {str(exc)[:500]}",
            agent=self.name,
        )
        if record and self._record_usage:
            record_call(self.name, task, None, str(err))
        return err

    def _record_failure(self, task: TaskKind, err: AgentError) -> AgentError:
        if self._record_usage:
            record_call(self.name, task, None, str(err))
        return err

    def _down(self, task: TaskKind, reason: str, record: bool = True) -> AgentUnavailable:
        """Serve refused the call and the controller confirms the agent is down (or gone)."""
        err = AgentUnavailable(f"{task.value} call refused: {reason}; see `slmflow agents status`", agent=self.name)
        if record:
            self._record_failure(task, err)
        return err

    def _stale_handle(self, exc: BaseException) -> None:
        """Serve refused the call, but the controller says the agent can serve (or may soon).

        A handle's router keeps the "unavailable" it was told for a deployment that was then
        deleted and created again, until that deployment has a replica. A fresh handle asks anew.
        """
        log.info("handle saw the agent unavailable, controller did not; renewing it", agent=self.name)
        self._handle = None
        self._method_handles.clear()
        _handles.pop((self.name, self.app_name), None)

    def _timed_out(self, task: TaskKind) -> AgentTimeout:
        return AgentTimeout(
            f"{task.value} call cancelled after its {self.retry.deadline_s:g}s deadline "
            f"(RetryConfig.deadline_s, env {CALL_TIMEOUT_ENV})",
            agent=self.name,
        )

    async def _await(self, task: TaskKind, response: Any, deadline: float) -> Any:
        """Await a Serve response by `deadline` (monotonic), checking the agent is up while waiting.

        Serve queues a request until a replica takes it, and one that entered while the agent
        had no replica is not failed when the deployment fails: without a bound it waits forever.
        """
        waiter = asyncio.ensure_future(_result_of(response))
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out(task)
                done, _ = await asyncio.wait({waiter}, timeout=min(remaining, self.retry.down_check_s))
                if done:
                    return waiter.result()
                reason = await _down_reason(self.app_name, self.name)
                if reason is not None:
                    raise AgentUnavailable(f"{task.value} call ended: {reason}", agent=self.name)
        finally:
            if not waiter.done():
                with contextlib.suppress(Exception):
                    response.cancel()
                waiter.cancel()
                waiter.add_done_callback(_quiet)

    def _wait_sync(self, task: TaskKind, response: Any, deadline: float) -> Any:
        """`_await` for synchronous callers."""
        from ray.exceptions import RayTaskError

        finished = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out(task)
                try:
                    result = response.result(timeout_s=min(remaining, self.retry.down_check_s))
                except TimeoutError as exc:
                    if isinstance(exc, RayTaskError):  # the replica's own TimeoutError, not our wait
                        finished = True
                        raise
                else:
                    finished = True
                    return result
                reason = _drive(_down_reason(self.app_name, self.name, sync=True))
                if reason is not None:
                    raise AgentUnavailable(f"{task.value} call ended: {reason}", agent=self.name)
        except BaseException:
            if not finished:
                with contextlib.suppress(Exception):
                    response.cancel()
            raise

    # -- retries ----------------------------------------------------------------------

    async def _with_retries(
        self, task: TaskKind, send: Callable[[float], Awaitable[Any]], *, record: bool, sync: bool = False
    ) -> Any:
        """`await send(deadline)` until it returns, retrying calls lost with a replica.

        The one retry loop of the client: coalesced, direct and synchronous calls all run it.
        A lost replica is retried with backoff until `RetryConfig.timeout_s` or the call's
        deadline; a refusal by Serve is retried only when the controller says the agent can
        still serve (then the handle is renewed), else it ends the call as down. `record`:
        failures are recorded as this client's calls. `sync`: a synchronous caller drives this
        coroutine with `_drive`, so it waits with blocking calls and never suspends.
        """
        started, deadline = time.perf_counter(), time.monotonic() + self.retry.deadline_s
        down = _down_exceptions()
        lost = _retryable_exceptions() + down
        attempt = 0
        while True:
            attempt += 1
            try:
                return await send(deadline)
            except AgentUnavailable as exc:  # its deadline passed, or the agent went down meanwhile
                raise (self._record_failure(task, exc) if record else exc) from None
            except lost as exc:
                if isinstance(exc, down):
                    reason = await _down_reason(self.app_name, self.name, sync=sync)
                    if reason is not None:
                        raise self._down(task, reason, record) from exc
                    self._stale_handle(exc)
                delay = self._lost(task, attempt, exc, started, deadline)
                if delay is None:
                    raise self._unavailable(task, attempt, exc, record) from exc
                if sync:
                    time.sleep(delay)
                else:
                    await asyncio.sleep(delay)

    def _request(self, task: TaskKind, request: BaseModel | dict[str, Any]) -> BaseModel:
        """The typed request for `task`, validated here, once per call: the typed methods pass
        their fields, and the replica takes the instance as it is (pydantic does not validate
        an instance of the model again)."""
        cls = REQUEST_TYPES[task]
        if isinstance(request, cls):
            return request
        try:
            return cls.model_validate(request)
        except ValidationError as exc:
            raise InvalidRequest(f"bad {task.value} request: {exc}", agent=self.name) from exc

    async def call(self, task: TaskKind | str, request: BaseModel | dict[str, Any]) -> Any:
        """Send one typed request for `task`; the typed response, or a raised AgentError."""
        task = TaskKind(task)
        req = self._request(task, request)
        started = time.perf_counter()
        if self.coalesce:
            self._get_handle()  # AgentNotFound here, in the caller, not in the shared sender
            try:
                # The shared sender bounds the bulk call by the deadline all its callers share.
                result = await _coalescer(self, task).submit(req)
            except AgentUnavailable as exc:  # AgentTimeout included, typed as it came
                if self._record_usage:
                    record_call(self.name, task, None, str(exc))
                raise type(exc)(exc.message, agent=self.name) from exc
            return self._finish(task, result, started)

        def send(deadline: float) -> Awaitable[Any]:
            return self._await(task, self._method_handle(task.value).remote(req), deadline)

        return self._finish(task, await self._with_retries(task, send, record=True), started)

    def call_sync(self, task: TaskKind | str, request: BaseModel | dict[str, Any]) -> Any:
        """`call` for synchronous code (not from inside a running event loop: await `call` there)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                f"{self!r}: the *_sync methods block, so they cannot run inside an event loop; await the async method"
            )
        task = TaskKind(task)
        req = self._request(task, request)
        started = time.perf_counter()

        async def send(deadline: float) -> Any:  # blocks: see `_with_retries`
            return self._wait_sync(task, self._method_handle(task.value).remote(req), deadline)

        return self._finish(task, _drive(self._with_retries(task, send, record=True, sync=True)), started)

    async def stream(
        self,
        prompt: str | None = None,
        *,
        messages: str | Sequence[ChatMessage | dict[str, str]] | None = None,
        **params: Any,
    ) -> AsyncIterator[StreamChunk]:
        """Stream a generate answer (``prompt``) or a chat reply (``messages``) piece by piece.

        Yields ``StreamChunk``s; the last one has ``finish_reason`` and ``usage``. Leaving the
        loop early cancels the request on the replica, which frees its sequence slot. A stream
        is not retried: a replica lost mid-answer raises ``AgentUnavailable``; one that has not
        ended by the call's deadline (``RetryConfig.deadline_s``) is cancelled with ``AgentTimeout``.
        """
        if (prompt is None) == (messages is None):
            raise InvalidRequest("stream takes exactly one of prompt= or messages=", agent=self.name)
        if messages is not None:
            task, req = TaskKind.CHAT, self._request(TaskKind.CHAT, self._chat_req(messages, **params))
        else:
            task, req = TaskKind.GENERATE, self._request(TaskKind.GENERATE, self._generate_req(prompt or "", **params))
        started = time.perf_counter()
        deadline = time.monotonic() + self.retry.deadline_s
        gen = self._get_handle().options(method_name="stream", stream=True).remote(task.value, req)
        finished = False
        try:
            while True:
                # The whole answer, not each piece, is bounded by the call's deadline.
                try:
                    chunk = await asyncio.wait_for(gen.__anext__(), max(0.0, deadline - time.monotonic()))
                except StopAsyncIteration:
                    finished = True
                    break
                except TimeoutError:
                    raise self._timed_out(task) from None
                if isinstance(chunk, AgentError):
                    finished = True
                    self._finish(task, chunk, started)  # raises it, recorded
                if chunk.usage is not None:
                    finished = True
                    if self._record_usage:
                        record_call(self.name, task, chunk.usage, None)
                yield chunk
        except _retryable_exceptions() as exc:
            finished = True
            raise self._unavailable(task, 1, exc) from exc
        finally:
            if not finished:
                gen.cancel()

    # -- typed requests -----------------------------------------------------------------
    # The typed methods gather their fields; `_request` validates them, once (InvalidRequest).

    @staticmethod
    def _generate_req(prompt: str, **params: Any) -> dict[str, Any]:
        return {**params, "prompt": prompt}

    @staticmethod
    def _chat_req(messages: str | Sequence[ChatMessage | dict[str, str]], **params: Any) -> dict[str, Any]:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        return {**params, "messages": list(messages)}

    @staticmethod
    def _classify_req(text: str, labels: Sequence[str] | None, **params: Any) -> dict[str, Any]:
        return {**params, "text": text, "labels": list(labels) if labels is not None else None}

    @staticmethod
    def _extract_req(text: str, schema: dict[str, Any] | type[BaseModel], **params: Any) -> dict[str, Any]:
        json_schema = schema.model_json_schema() if isinstance(schema, type) else schema
        return {**params, "text": text, "json_schema": json_schema}

    @staticmethod
    def _tool_req(
        request: str | Sequence[ChatMessage | dict[str, str]], tools: Sequence[Tool | dict[str, Any]], **params: Any
    ) -> dict[str, Any]:
        key = "text" if isinstance(request, str) else "messages"
        value = request if isinstance(request, str) else list(request)
        return {**params, key: value, "tools": list(tools)}

    @staticmethod
    def _embed_req(texts: str | Sequence[str], **params: Any) -> dict[str, Any]:
        return {**params, "texts": [texts] if isinstance(texts, str) else list(texts)}

    def _typed(self, schema: dict[str, Any] | type[BaseModel], resp: ExtractResponse) -> ExtractResponse:
        """With a pydantic model as the schema, `data` comes back as an instance of it."""
        if not isinstance(schema, type):
            return resp
        try:
            return resp.model_copy(update={"data": schema.model_validate(resp.data)})
        except ValidationError as exc:
            raise InvalidOutput(f"extract output does not validate: {exc}", raw=resp.raw, agent=self.name) from exc

    async def generate(self, prompt: str, **params: Any) -> GenerateResponse:
        """Text continuation; params: max_new_tokens, temperature, top_p, stop, seed."""
        return await self.call(TaskKind.GENERATE, self._generate_req(prompt, **params))

    async def chat(self, messages: str | Sequence[ChatMessage | dict[str, str]], **params: Any) -> ChatResponse:
        """A reply to `messages` (a string is one user message), with the tokenizer's chat template."""
        return await self.call(TaskKind.CHAT, self._chat_req(messages, **params))

    async def classify(self, text: str, labels: Sequence[str] | None = None, **params: Any) -> ClassifyResponse:
        """One of `labels` (optional for a specialist, which knows its own); params: label_descriptions,
        examples, instruction, method."""
        return await self.call(TaskKind.CLASSIFY, self._classify_req(text, labels, **params))

    async def extract(self, text: str, schema: dict[str, Any] | type[BaseModel], **params: Any) -> ExtractResponse:
        """JSON matching `schema` (a JSON schema or a pydantic model class)."""
        return self._typed(schema, await self.call(TaskKind.EXTRACT, self._extract_req(text, schema, **params)))

    async def tool_call(
        self,
        request: str | Sequence[ChatMessage | dict[str, str]],
        tools: Sequence[Tool | dict[str, Any]],
        **params: Any,
    ) -> ToolCallResponse:
        """Pick one of `tools` (name, description, JSON-schema parameters) and fill its arguments."""
        return await self.call(TaskKind.TOOL_CALL, self._tool_req(request, tools, **params))

    async def embed(self, texts: str | Sequence[str], **params: Any) -> EmbedResponse:
        """One vector per text."""
        return await self.call(TaskKind.EMBED, self._embed_req(texts, **params))

    def generate_sync(self, prompt: str, **params: Any) -> GenerateResponse:
        return self.call_sync(TaskKind.GENERATE, self._generate_req(prompt, **params))

    def chat_sync(self, messages: str | Sequence[ChatMessage | dict[str, str]], **params: Any) -> ChatResponse:
        return self.call_sync(TaskKind.CHAT, self._chat_req(messages, **params))

    def classify_sync(self, text: str, labels: Sequence[str] | None = None, **params: Any) -> ClassifyResponse:
        return self.call_sync(TaskKind.CLASSIFY, self._classify_req(text, labels, **params))

    def extract_sync(self, text: str, schema: dict[str, Any] | type[BaseModel], **params: Any) -> ExtractResponse:
        return self._typed(schema, self.call_sync(TaskKind.EXTRACT, self._extract_req(text, schema, **params)))

    def tool_call_sync(
        self,
        request: str | Sequence[ChatMessage | dict[str, str]],
        tools: Sequence[Tool | dict[str, Any]],
        **params: Any,
    ) -> ToolCallResponse:
        return self.call_sync(TaskKind.TOOL_CALL, self._tool_req(request, tools, **params))

    def embed_sync(self, texts: str | Sequence[str], **params: Any) -> EmbedResponse:
        return self.call_sync(TaskKind.EMBED, self._embed_req(texts, **params))


def agent(name: str, **options: Any) -> AgentClient:
    """A client for the deployed agent `name` (options: app_name, retry, record_usage)."""
    return AgentClient(name, **options)


def forget_handles() -> None:
    """Drop cached handles (after a redeploy that removed agents, or a reconnect)."""
    _handles.clear()


__all__ = ["CALL_TIMEOUT_ENV", "DEFAULT_CALL_TIMEOUT_S", "AgentClient", "RetryConfig", "agent", "forget_handles"]
