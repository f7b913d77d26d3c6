"""``tool_call``: pick one of the given tools and fill its arguments, grammar-constrained."""

from __future__ import annotations

import json
from typing import Any

from agents.errors import AgentError, InvalidOutput, InvalidRequest
from agents.protocol import Tool, ToolCallRequest, ToolCallResponse
from agents.tasks._json import check_schema
from agents.tasks._params import job
from agents.tasks._spans import extractive_schema, use_spans
from agents.tasks.extract import finish, usage_of

DEFAULT_INSTRUCTION = (
    "You can call exactly one of the tools below. Choose the tool that fulfils the user's request "
    'and reply with only a JSON object {"name": <tool name>, "arguments": {...}}.'
)


def call_schema(tools: list[Tool]) -> dict[str, Any]:
    """One alternative per tool: its name as a constant and its parameters as the arguments."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": t.name}, "arguments": t.parameters},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def messages(req: ToolCallRequest) -> list[dict[str, str]]:
    listing = "\n".join(
        json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters}) for t in req.tools
    )
    system = f"{req.instruction or DEFAULT_INSTRUCTION}\nTools:\n{listing}"
    convo = [m.model_dump() for m in req.messages] if req.messages else [{"role": "user", "content": req.text or ""}]
    return [{"role": "system", "content": system}, *convo]


def user_text(req: ToolCallRequest) -> str:
    """What the user said: the words extractive arguments are copied from."""
    if req.messages is None:
        return req.text or ""
    return "\n".join(m.content for m in req.messages if m.role == "user")


def grammar_schema(ctx: Any, req: ToolCallRequest, schema: dict[str, Any]) -> dict[str, Any] | None:
    if not req.constrained:
        return None
    return extractive_schema(schema, user_text(req)) if use_spans(ctx, req) else schema


def routed(ctx: Any, requests: list[ToolCallRequest], todo: list[int]) -> dict[int, str]:
    """Request index -> the tool its adapter's router is sure of (``agents.specialists.router``):
    the grammar admits only that tool; the prompt still lists them all."""
    routers = getattr(ctx, "routers", None) or {}
    by_adapter: dict[str, list[int]] = {}
    for i in todo:
        if requests[i].adapter in routers and requests[i].constrained:
            by_adapter.setdefault(requests[i].adapter, []).append(i)  # type: ignore[arg-type]
    out: dict[int, str] = {}
    for adapter, idx in by_adapter.items():
        for i, tool in zip(idx, routers[adapter].choose([requests[i] for i in idx]), strict=True):
            if tool is not None:
                out[i] = tool
    return out


def run(ctx: Any, requests: list[ToolCallRequest]) -> list[ToolCallResponse | AgentError]:
    out: list[ToolCallResponse | AgentError | None] = [None] * len(requests)
    todo: list[int] = []
    schemas: dict[int, dict[str, Any]] = {}
    for i, req in enumerate(requests):
        problems = [(t.name, check_schema(t.parameters)) for t in req.tools]
        bad = [(name, p) for name, p in problems if p]
        if bad:
            name, problem = bad[0]
            out[i] = InvalidRequest(
                f"tool {name!r} parameters are not a valid JSON schema: {problem}", agent=ctx.name
            )
            continue
        schemas[i] = call_schema(req.tools)
        todo.append(i)
    for i, tool in routed(ctx, requests, todo).items():
        schemas[i] = call_schema([t for t in requests[i].tools if t.name == tool])
    jobs = [job(ctx, requests[i], messages=messages(requests[i]), json_schema=grammar_schema(ctx, requests[i], schemas[i]))
            for i in todo]
    for i, res in zip(todo, ctx.generate(jobs) if jobs else [], strict=True):
        if isinstance(res, AgentError):
            out[i] = res
            continue
        try:
            data, raw = finish(ctx, res, schemas[i], requests[i].constrained)
            if not isinstance(data, dict) or not isinstance(data.get("arguments"), dict):
                raise InvalidOutput("tool call is not a JSON object with object arguments", raw=raw, agent=ctx.name)
            out[i] = ToolCallResponse(name=data["name"], arguments=data["arguments"], raw=raw, usage=usage_of(res))
        except InvalidOutput as exc:
            out[i] = exc
    return out  # type: ignore[return-value]
