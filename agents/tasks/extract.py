"""``extract``: JSON matching a schema, decoded under the schema's grammar and validated."""

from __future__ import annotations

import json
from typing import Any

from agents.engines.base import GenResult
from agents.errors import AgentError, InvalidOutput, InvalidRequest
from agents.protocol import ExtractRequest, ExtractResponse, Usage
from agents.tasks._json import check_schema, parse_json, schema_errors
from agents.tasks._params import job
from agents.tasks._spans import extractive_schema, use_spans

DEFAULT_INSTRUCTION = "Extract the requested information from the user's text."


def messages(req: ExtractRequest) -> list[dict[str, str]]:
    system = (
        f"{req.instruction or DEFAULT_INSTRUCTION}\n"
        f"Reply with only a JSON object that follows this JSON schema:\n{json.dumps(req.json_schema)}"
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": req.text}]


def finish(ctx: Any, res: GenResult, schema: dict, constrained: bool) -> tuple[object, str]:
    """Parse and validate one output; raises InvalidOutput carrying the raw text."""
    raw = res.text
    if res.grammar_failed:
        raise InvalidOutput("grammar-constrained decoding failed (token rejected)", raw=raw, agent=ctx.name)
    try:
        data = parse_json(raw)
    except ValueError as exc:
        why = "output ran out of max_new_tokens" if res.finish_reason == "length" else "output is not JSON"
        mode = "constrained" if constrained else "unconstrained"
        raise InvalidOutput(f"{why} ({mode} decoding): {exc}", raw=raw, agent=ctx.name) from exc
    errors = schema_errors(data, schema)
    if errors:
        raise InvalidOutput(f"output does not match the schema: {'; '.join(errors[:5])}", raw=raw, agent=ctx.name)
    return data, raw


def run(ctx: Any, requests: list[ExtractRequest]) -> list[ExtractResponse | AgentError]:
    out: list[ExtractResponse | AgentError | None] = [None] * len(requests)
    todo: list[int] = []
    for i, req in enumerate(requests):
        problem = check_schema(req.json_schema)
        if problem:
            out[i] = InvalidRequest(f"json_schema is not a valid JSON schema: {problem}", agent=ctx.name)
        else:
            todo.append(i)
    jobs = [job(ctx, requests[i], messages=messages(requests[i]), json_schema=grammar_schema(ctx, requests[i])) for i in todo]
    for i, res in zip(todo, ctx.generate(jobs) if jobs else [], strict=True):
        req = requests[i]
        if isinstance(res, AgentError):
            out[i] = res
            continue
        try:
            data, raw = finish(ctx, res, req.json_schema, req.constrained)
            out[i] = ExtractResponse(data=data, raw=raw, usage=usage_of(res))
        except InvalidOutput as exc:
            out[i] = exc
    return out  # type: ignore[return-value]


def grammar_schema(ctx: Any, req: ExtractRequest) -> dict[str, Any] | None:
    """The schema the decoder is held to (None: unconstrained). The prompt always shows
    ``req.json_schema`` itself, as training does; the spans live only in the grammar."""
    if not req.constrained:
        return None
    return extractive_schema(req.json_schema, req.text) if use_spans(ctx, req) else req.json_schema


def usage_of(res: GenResult) -> Usage:
    return Usage(tokens_in=res.tokens_in, tokens_out=res.tokens_out, cached_tokens=res.cached_tokens)
