"""Request generation parameters merged with the agent's defaults, as an engine ``Job``."""

from __future__ import annotations

from typing import Any

from agents.engines.base import Job

MIN_TEMPERATURE = 1e-4


def job(
    ctx: Any,
    req: Any,
    *,
    messages: list[dict[str, str]] | None = None,
    prompt: str | None = None,
    json_schema: dict[str, Any] | None = None,
) -> Job:
    d = ctx.spec.generation
    temperature = getattr(req, "temperature", None)
    temperature = d.temperature if temperature is None else temperature
    if temperature < MIN_TEMPERATURE:
        # Sampling at a temperature this close to 0 divides the logits into infinities: it is
        # greedy decoding, so decode greedily.
        temperature = 0.0
    top_p = getattr(req, "top_p", None)
    stop = getattr(req, "stop", None)
    return Job(
        messages=messages,
        prompt=prompt,
        max_new_tokens=getattr(req, "max_new_tokens", None) or d.max_new_tokens,
        temperature=temperature,
        top_p=d.top_p if top_p is None else top_p,
        stop=list(d.stop if stop is None else stop),
        json_schema=json_schema,
        seed=getattr(req, "seed", None),
        adapter=getattr(req, "adapter", None),
    )
