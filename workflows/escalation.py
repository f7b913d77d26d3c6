"""Hybrid SLM-to-LLM escalation: the specialist first, a larger model for the hard cases.

    out = await escalate(
        lambda: agent("minilm").classify(text, labels),
        lambda llm: llm.classify(text, labels),
        large=RemoteAgent(RemoteSpec(name="gpt", base_url=..., model=...)),
        confidence=lambda r: max(r.scores.values()), threshold=0.6,
    )
    out.value, out.escalated, out.reason

A call escalates when, and only when, the specialist's confidence is under the
threshold, its output fails `validate`, or it fails for good (an `AgentError` after the
client's own retries). The larger model's calls are recorded in the run store with
`escalated=True`, so a run's usage shows which calls escalated and what they cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from agents.errors import AgentError
from agents.protocol import ClassifyResponse, ExtractResponse, TaskKind, Usage
from orchestrator.logging import get_logger

R = TypeVar("R")
Reason = Literal["low_confidence", "invalid_output", "specialist_failed"]

_log = get_logger(component="escalation")


@dataclass(frozen=True)
class Escalation(Generic[R]):
    """What a step got, who served it, and why it escalated (if it did)."""

    value: R
    served_by: str
    escalated: bool
    reason: Reason | None = None
    detail: str | None = None
    specialist_value: R | None = None
    confidence: float | None = None


class Invalid(ValueError):
    """Raised by a `validate` callback to reject a specialist's output."""


def escalated_view(large: Any) -> Any:
    """The larger agent with its usage records marked `escalated=True`."""
    if hasattr(large, "with_escalated"):
        return large.with_escalated(True)
    from agents.client import AgentClient

    if isinstance(large, AgentClient):
        return _EscalatedClient(large)
    raise TypeError(f"cannot mark calls of {large!r} as escalated: give a RemoteAgent or an AgentClient")


class _EscalatedClient:
    """A fleet agent used as the larger model: same calls, usage recorded with escalated=True."""

    def __init__(self, client: Any) -> None:
        from agents.client import AgentClient

        self.name = client.name
        self._client = AgentClient(client.name, app_name=client.app_name, retry=client.retry, record_usage=False)

    def __getattr__(self, method: str) -> Any:
        fn = getattr(self._client, method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                resp = await fn(*args, **kwargs)
            except AgentError as exc:
                _record(self.name, method, None, str(exc))
                raise
            _record(self.name, method, getattr(resp, "usage", None), None)
            return resp

        return call


def _record(name: str, method: str, usage: Usage | None, error: str | None) -> None:
    from orchestrator import UsageRecord, current_step

    ctx = current_step()
    if ctx is None:
        return
    usage = usage or Usage()
    task = method if method in {t.value for t in TaskKind} else "chat"
    ctx.record_usage(UsageRecord(
        run_id=ctx.run_id, step=ctx.step, agent=name, task=task, model=usage.model, tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out, queue_ms=usage.queue_ms, compute_ms=usage.compute_ms,
        replica_id=usage.replica_id, cost_usd=usage.cost_usd, escalated=True, error=error))


async def escalate(
    specialist: Callable[[], Awaitable[R]],
    fallback: Callable[[Any], Awaitable[R]],
    *,
    large: Any,
    confidence: Callable[[R], float] | None = None,
    threshold: float = 0.5,
    validate: Callable[[R], Any] | None = None,
    specialist_name: str = "specialist",
) -> Escalation[R]:
    """Run `specialist()`; escalate to `fallback(large)` when it is unsure, invalid or failing.

    `validate` may raise `Invalid` (or ValueError) or return False to reject an output.
    """
    view = escalated_view(large)
    large_name = getattr(large, "name", "large")
    try:
        value = await specialist()
    except AgentError as exc:
        return await _go(fallback, view, large_name, "specialist_failed", f"{type(exc).__name__}: {exc}", None, None)
    conf = confidence(value) if confidence is not None else None
    if conf is not None and conf < threshold:
        return await _go(fallback, view, large_name, "low_confidence",
                         f"confidence {conf:.3f} < threshold {threshold}", value, conf)
    if validate is not None:
        try:
            ok = validate(value)
        except ValueError as exc:
            ok, why = False, str(exc)
        else:
            why = "validation returned False"
        if ok is False:
            return await _go(fallback, view, large_name, "invalid_output", why, value, conf)
    return Escalation(value=value, served_by=specialist_name, escalated=False, confidence=conf)


async def _go(fallback: Callable[[Any], Awaitable[R]], view: Any, large_name: str, reason: Reason, detail: str,
              specialist_value: Any, conf: float | None) -> Escalation[R]:
    _log.info("escalating", to=large_name, reason=reason, detail=detail[:300])
    value = await fallback(view)
    return Escalation(value=value, served_by=large_name, escalated=True, reason=reason, detail=detail,
                      specialist_value=specialist_value, confidence=conf)


async def classify(text: str, labels: Sequence[str], *, specialist: Any, large: Any, threshold: float = 0.5,
                   **params: Any) -> Escalation[ClassifyResponse]:
    """Classify with `specialist`; escalate when its top score is under `threshold` or it fails."""
    return await escalate(
        lambda: specialist.classify(text, labels, **params),
        lambda llm: llm.classify(text, labels, label_descriptions=params.get("label_descriptions")),
        large=large, confidence=_top_score, threshold=threshold,
        specialist_name=getattr(specialist, "name", "specialist"),
    )


def _top_score(resp: ClassifyResponse) -> float:
    # A remote endpoint without log-probabilities scores its choice 1: no confidence to compare.
    if getattr(resp, "score_source", None) == "choice":
        raise ValueError("the specialist's classify scores are not probabilities (its endpoint returned no "
                         "log-probabilities), so a confidence threshold cannot be applied to them")
    return max(resp.scores.values())


async def extract(text: str, schema: dict[str, Any] | type[BaseModel], *, specialist: Any, large: Any,
                  validate: Callable[[Any], Any] | None = None, **params: Any) -> Escalation[ExtractResponse]:
    """Extract with `specialist`; escalate when `validate(data)` rejects it or the call fails."""
    return await escalate(
        lambda: specialist.extract(text, schema, **params),
        lambda llm: llm.extract(text, schema, instruction=params.get("instruction")),
        large=large, validate=(lambda r: validate(r.data)) if validate is not None else None,
        specialist_name=getattr(specialist, "name", "specialist"),
    )
