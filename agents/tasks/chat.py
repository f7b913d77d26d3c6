"""``chat``: the assistant's next message, under the tokenizer's chat template."""

from __future__ import annotations

from agents.errors import AgentError
from agents.protocol import ChatMessage, ChatRequest, ChatResponse, Usage
from agents.tasks._context import TaskContext
from agents.tasks._generation import GenItem, generate_batch
from agents.tasks._params import first_seed, gen_item


def run(ctx: TaskContext, requests: list[ChatRequest]) -> list[ChatResponse | AgentError]:
    out: list[ChatResponse | AgentError | None] = [None] * len(requests)
    items: list[tuple[int, GenItem]] = []
    for i, req in enumerate(requests):
        try:
            ids = ctx.chat_ids([m.model_dump() for m in req.messages])
            items.append((i, gen_item(ctx, req, ids)))
        except AgentError as exc:
            out[i] = exc
    if items:
        results = generate_batch(ctx.lm, [it for _, it in items], seed=first_seed(requests))
        for (i, _), res in zip(items, results, strict=True):
            out[i] = ChatResponse(
                message=ChatMessage(role="assistant", content=res.text.strip()),
                finish_reason=res.finish_reason,  # type: ignore[arg-type]
                usage=Usage(tokens_in=res.tokens_in, tokens_out=res.tokens_out),
            )
    return out  # type: ignore[return-value]
