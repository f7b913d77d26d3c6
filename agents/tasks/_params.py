"""Request generation parameters merged with the agent's defaults."""

from __future__ import annotations

from typing import Any

from agents.tasks._context import TaskContext
from agents.tasks._generation import GenItem


def gen_item(ctx: TaskContext, req: Any, input_ids: list[int], grammar: Any = None) -> GenItem:
    d = ctx.spec.generation
    max_new = getattr(req, "max_new_tokens", None) or d.max_new_tokens
    ctx.check_length(input_ids, max_new)
    temperature = getattr(req, "temperature", None)
    top_p = getattr(req, "top_p", None)
    stop = getattr(req, "stop", None)
    return GenItem(
        input_ids=input_ids,
        max_new_tokens=max_new,
        temperature=d.temperature if temperature is None else temperature,
        top_p=d.top_p if top_p is None else top_p,
        stop=list(d.stop if stop is None else stop),
        grammar=grammar,
    )


def first_seed(requests: list[Any]) -> int | None:
    for r in requests:
        seed = getattr(r, "seed", None)
        if seed is not None:
            return int(seed)
    return None
