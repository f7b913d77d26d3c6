"""Shadow mode and gradual switch-over: a trained specialist beside the LLM it replaces.

    from workflows import shadow

    @step
    async def route(ticket: str) -> str:
        out = await shadow.classify(ticket, specialist="tickets", large=llm)
        return out.value.label

- **shadow** (before the specialist is promoted): the LLM answers, the specialist answers
  the same input side by side, and both answers land in the run store (``shadow_calls``);
  ``slmflow specialists report NAME`` says when agreement is high enough for long enough.
- **live** (once promoted): the specialist answers; the LLM is called only when the
  specialist's confidence is under ``threshold`` (or it fails), as in ``workflows.escalation``.

``mode="auto"`` (the default) picks live when the registry has a promoted version of the
specialist, shadow otherwise; ``"shadow"`` and ``"live"`` force one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from agents.errors import AgentError
from agents.protocol import ClassifyResponse
from orchestrator.logging import get_logger
from workflows.escalation import Escalation, escalate

_log = get_logger(component="shadow")


def _client(specialist: Any) -> Any:
    if isinstance(specialist, str):
        from agents.client import agent

        return agent(specialist)
    return specialist


def _served_version(resp: ClassifyResponse | None, fallback: int | None) -> int | None:
    """The version the replica served, read off the model path in the response's usage."""
    if resp is None or not resp.usage.model:
        return fallback
    from agents.specialists import Registry

    found = Registry().version_of(resp.usage.model)
    return found[1] if found else fallback


async def classify(
    text: str,
    *,
    specialist: Any,
    large: Any,
    name: str | None = None,
    labels: Sequence[str] | None = None,
    label_descriptions: dict[str, str] | None = None,
    mode: Literal["auto", "shadow", "live"] = "auto",
    threshold: float = 0.5,
    store: Any = None,
) -> Escalation[ClassifyResponse]:
    """Classify ``text`` with the specialist agent and/or ``large``; record the comparison.

    ``specialist``: the fleet agent serving the specialist (a name or a client);
    ``name``: its name in the registry (default: the agent's name); ``labels``: default the
    specialist's own (the LLM needs them); ``store``: a ``ShadowStore`` (default: the run
    store's file under ``$SLMFLOW_HOME``).
    """
    from agents.specialists import Registry, RegistryError
    from agents.specialists.shadow import ShadowRecord, default_shadow_store, input_hash
    from orchestrator import current_step

    client = _client(specialist)
    agent_name = getattr(client, "name", str(specialist))
    name = name or agent_name
    registry = Registry()
    try:
        meta = registry.meta(name)
    except RegistryError:
        meta = None
    if labels is None:
        if meta is None:
            raise ValueError(f"shadow.classify: no specialist {name!r} in the registry to take labels from; "
                             "pass labels= or name= (the registry name of the specialist)")
        labels = meta.labels
    labels = list(labels)
    if mode == "auto":
        mode = "live" if meta is not None and registry.promoted(name) is not None else "shadow"
    if mode not in ("shadow", "live"):
        raise ValueError(f"mode must be 'auto', 'shadow' or 'live', got {mode!r}")
    store = store or default_shadow_store()
    ctx = current_step()
    large_name = getattr(large, "name", "large")
    # A specialist with a trained head knows its labels; a zero-shot agent needs them and their descriptions.
    spec_kwargs: dict[str, Any] = {}
    if meta is None:
        spec_kwargs = {"labels": labels, "label_descriptions": label_descriptions}

    def record(spec_resp: ClassifyResponse | None, llm_resp: ClassifyResponse | None, served_by: str,
               escalated: bool, error: str | None) -> None:
        both = spec_resp is not None and llm_resp is not None
        store.record(ShadowRecord(
            specialist=name, version=_served_version(spec_resp, meta.version if meta else None), agent=agent_name,
            target=large_name, mode=mode, run_id=ctx.run_id if ctx else None, step=ctx.step if ctx else None,
            input_sha256=input_hash(text),
            specialist_label=spec_resp.label if spec_resp else None,
            specialist_confidence=max(spec_resp.scores.values()) if spec_resp else None,
            target_label=llm_resp.label if llm_resp else None,
            agree=(spec_resp.label == llm_resp.label) if both else None,  # type: ignore[union-attr]
            served_by=served_by, escalated=escalated, error=error,
        ))

    if mode == "shadow":
        spec_out, llm_out = await asyncio.gather(
            client.classify(text, **spec_kwargs),
            large.classify(text, labels, label_descriptions=label_descriptions),
            return_exceptions=True,
        )
        if isinstance(llm_out, BaseException):
            record(spec_out if isinstance(spec_out, ClassifyResponse) else None, None, large_name, False,
                   f"llm: {type(llm_out).__name__}: {llm_out}")
            raise llm_out
        spec_resp = spec_out if isinstance(spec_out, ClassifyResponse) else None
        error = None if spec_resp is not None else f"specialist: {type(spec_out).__name__}: {spec_out}"
        if isinstance(spec_out, BaseException) and not isinstance(spec_out, AgentError):
            _log.warning("shadow specialist call failed", specialist=name, error=error)
        record(spec_resp, llm_out, large_name, False, error)
        return Escalation(value=llm_out, served_by=large_name, escalated=False, specialist_value=spec_resp,
                          confidence=max(spec_resp.scores.values()) if spec_resp else None)

    out = await escalate(
        lambda: client.classify(text, **spec_kwargs),
        lambda llm: llm.classify(text, labels, label_descriptions=label_descriptions),
        large=large, confidence=lambda r: max(r.scores.values()), threshold=threshold, specialist_name=agent_name,
    )
    spec_resp = out.specialist_value if out.escalated else out.value
    llm_resp = out.value if out.escalated else None
    record(spec_resp, llm_resp, out.served_by, out.escalated,
           f"specialist: {out.detail}" if out.reason == "specialist_failed" else None)
    return out


__all__ = ["classify"]
