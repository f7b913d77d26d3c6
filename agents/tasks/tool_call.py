"""``tool_call``: pick one of the given tools and fill its arguments, grammar-constrained."""

from __future__ import annotations

import json
from typing import Any

from agents.errors import AgentError, InvalidOutput, InvalidRequest
from agents.protocol import Tool, ToolCallRequest, ToolCallResponse, Usage
from agents.tasks._context import TaskContext
from agents.tasks._generation import GenItem, generate_batch
from agents.tasks._json import check_schema
from agents.tasks._params import gen_item
from agents.tasks.extract import finish

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


def run(ctx: TaskContext, requests: list[ToolCallRequest]) -> list[ToolCallResponse | AgentError]:
    out: list[ToolCallResponse | AgentError | None] = [None] * len(requests)
    items: list[tuple[int, GenItem]] = []
    schemas: dict[int, dict[str, Any]] = {}
    for i, req in enumerate(requests):
        try:
            for t in req.tools:
                problem = check_schema(t.parameters)
                if problem:
                    raise InvalidRequest(f"tool {t.name!r} parameters are not a valid JSON schema: {problem}")
            schemas[i] = call_schema(req.tools)
            grammar = ctx.grammar(schemas[i]) if req.constrained else None
            items.append((i, gen_item(ctx, req, ctx.chat_ids(messages(req)), grammar)))
        except AgentError as exc:
            exc.agent = exc.agent or ctx.name
            out[i] = exc
    if items:
        results = generate_batch(ctx.lm, [it for _, it in items])
        for (i, _), res in zip(items, results, strict=True):
            try:
                data, raw = finish(ctx, res, schemas[i], requests[i].constrained)
                if not isinstance(data, dict):
                    raise InvalidOutput("tool call is not a JSON object", raw=raw, agent=ctx.name)
                out[i] = ToolCallResponse(
                    name=data["name"],
                    arguments=data["arguments"],
                    raw=raw,
                    usage=Usage(tokens_in=res.tokens_in, tokens_out=res.tokens_out),
                )
            except InvalidOutput as exc:
                out[i] = exc
    return out  # type: ignore[return-value]
