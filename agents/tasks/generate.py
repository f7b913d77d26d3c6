"""``generate``: text continuation of a raw prompt (no chat template)."""

from __future__ import annotations

from typing import Any

from agents.errors import AgentError
from agents.protocol import GenerateRequest, GenerateResponse, Usage
from agents.tasks._params import job


def jobs(ctx: Any, requests: list[GenerateRequest]) -> list[Any]:
    return [job(ctx, req, prompt=req.prompt) for req in requests]


def response(res: Any) -> GenerateResponse:
    return GenerateResponse(
        text=res.text,
        finish_reason=res.finish_reason,
        usage=Usage(tokens_in=res.tokens_in, tokens_out=res.tokens_out, cached_tokens=res.cached_tokens),
    )


def run(ctx: Any, requests: list[GenerateRequest]) -> list[GenerateResponse | AgentError]:
    return [r if isinstance(r, AgentError) else response(r) for r in ctx.generate(jobs(ctx, requests))]
