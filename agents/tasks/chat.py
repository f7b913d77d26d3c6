"""``chat``: the assistant's next message, under the model's own chat template."""

from __future__ import annotations

from typing import Any

from agents.errors import AgentError
from agents.protocol import ChatMessage, ChatRequest, ChatResponse, Usage
from agents.tasks._params import job


def jobs(ctx: Any, requests: list[ChatRequest]) -> list[Any]:
    return [job(ctx, req, messages=[m.model_dump() for m in req.messages]) for req in requests]


def response(res: Any) -> ChatResponse:
    return ChatResponse(
        message=ChatMessage(role="assistant", content=res.text.strip()),
        finish_reason=res.finish_reason,
        usage=Usage(tokens_in=res.tokens_in, tokens_out=res.tokens_out, cached_tokens=res.cached_tokens),
    )


def run(ctx: Any, requests: list[ChatRequest]) -> list[ChatResponse | AgentError]:
    return [r if isinstance(r, AgentError) else response(r) for r in ctx.generate(jobs(ctx, requests))]
