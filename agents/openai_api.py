"""The fleet's HTTP ingress, speaking the OpenAI-compatible API (the model name is the agent's name).

    GET  /v1/models             the deployed agents
    POST /v1/chat/completions   chat; `response_format` and `tools`/`tool_choice` under a grammar
    POST /v1/completions        generate
    POST /v1/embeddings         embed (float or base64, as the official client asks)

It is the ingress deployment of the `slmflow` application and calls the agent
deployments through handles with the same retrying client workflow steps use. Serve's
proxy binds 127.0.0.1 unless `deploy(host=...)` says otherwise; with an API key
configured every request needs `Authorization: Bearer <key>`.

Structured outputs run on the agent's own grammar-constrained tasks, as the typed client
does (`chat_plan` turns a chat completion body into those task requests):

- `response_format` `json_object` / `json_schema` -> the `extract` task (json_object is the
  permissive schema `{"type": "object"}`); the reply's content is JSON valid under the schema.
- `tool_choice` `"required"` or a named function -> the `tool_call` task over all tools or
  just the named one; the reply is one tool call whose arguments follow its parameters.
- `tool_choice` `"auto"` (the default when tools are given) -> one `tool_call` over the
  tools plus a stand-in `reply_in_text` tool without arguments: under the grammar the model
  either calls a real tool with arguments valid for it (the reply, in one step) or picks
  `reply_in_text`, and then answers in a second step (chat, or extract under
  `response_format`), with that step's own finish reason.
- `tool_choice` `"none"` -> the tools are ignored and the model answers.

Output that cannot satisfy the grammar (out of tokens) is a 422 `invalid_output` error, never
free text. Bodies are read with a size cap, must be UTF-8 JSON nested at most
`MAX_JSON_DEPTH` deep, and every refusal is an OpenAI-style JSON error (4xx), not a 500.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import struct
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ray import serve

from agents.client import AgentClient
from agents.errors import AgentError, AgentUnavailable, InvalidOutput, InvalidRequest
from agents.protocol import (
    ChatMessage,
    ChatRequest,
    ExtractRequest,
    TaskKind,
    Tool,
    ToolCallRequest,
    ToolCallResponse,
)

api = FastAPI(title="slmflow", description="OpenAI-compatible API over the slmflow agent fleet")

# A body larger than this is refused (413) before it is parsed.
MAX_BODY_BYTES = 8 * 2**20
# Deeper JSON is refused (400): nothing in the API nests this deep, and deeper structures
# would only reach recursion limits in the parser, the validators or the grammar compiler.
MAX_JSON_DEPTH = 64
# `tool_choice="auto"`: the stand-in tool that means "reply in text"; renamed if a real tool has the name.
ANSWER_CHOICE = "reply_in_text"
AUTO_INSTRUCTION = (
    "You can call exactly one of the tools below. Choose the tool that fulfils the user's request, "
    "or {answer!r} to reply in text when no tool fits, and reply with only a JSON object "
    '{{"name": <tool name>, "arguments": {{...}}}}.'
)
# `response_format` without a system message: what the extract task is asked to do.
JSON_INSTRUCTION = "Respond to the conversation."


class _Body(BaseModel):
    # Unknown OpenAI parameters (user, logprobs, ...) are accepted and ignored.
    model_config = ConfigDict(extra="allow")


class _ContentPart(_Body):
    type: str
    text: str | None = None


class _FunctionCall(_Body):
    name: str
    arguments: str | dict[str, Any] = ""


class _ToolCallParam(_Body):
    function: _FunctionCall


class _Message(_Body):
    role: str
    content: str | list[_ContentPart] | None = None
    tool_calls: list[_ToolCallParam] | None = None

    def text(self) -> str:
        if self.content is None:
            text = ""
        elif isinstance(self.content, str):
            text = self.content
        else:
            others = sorted({p.type for p in self.content if p.type != "text"})
            if others:
                raise _APIError(400, f"message content parts of type {', '.join(others)} are not supported; send text")
            text = "".join(p.text or "" for p in self.content)
        # An assistant's earlier tool calls, written the way the tool_call task writes them.
        for call in self.tool_calls or []:
            args = call.function.arguments
            try:
                parsed = json.loads(args) if isinstance(args, str) and args else args or {}
            except json.JSONDecodeError:
                parsed = args
            text += ("\n" if text else "") + json.dumps({"name": call.function.name, "arguments": parsed})
        return text


class _FunctionDef(_Body):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _ToolParam(_Body):
    type: Literal["function"] = "function"
    function: _FunctionDef

    def tool(self) -> Tool:
        f = self.function
        params = f.parameters if f.parameters is not None else {"type": "object", "properties": {}}
        params = _object_schema(params, f"tools: function {f.name!r} parameters")
        return Tool(name=f.name, description=f.description or "", parameters=params)


def _object_schema(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """`schema` restricted to JSON objects, as OpenAI requires of parameters and response schemas.

    The tasks parse an object (a tool's arguments, extract's reply); a schema that also
    allows strings or numbers would let the grammar produce output they cannot take.
    """
    kind = schema.get("type", "object")
    if kind != "object":
        raise _APIError(400, f"{where}: the schema must describe a JSON object (\"type\": \"object\"), got type {kind!r}")
    return {**schema, "type": "object"}


class _NamedFunction(_Body):
    name: str


class _NamedToolChoice(_Body):
    type: Literal["function"] = "function"
    function: _NamedFunction


class _JSONSchemaFormat(_Body):
    name: str = "response"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class _ResponseFormat(_Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: _JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> "_ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type 'json_schema' needs a 'json_schema' object")
        return self


_B = TypeVar("_B", bound=_Body)


class ChatCompletionBody(_Body):
    model: str
    messages: list[_Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    tools: list[_ToolParam] | None = None
    tool_choice: Literal["none", "auto", "required"] | _NamedToolChoice | None = None
    response_format: _ResponseFormat | None = None


class CompletionBody(_Body):
    model: str
    prompt: str | list[str]
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False


class EmbeddingBody(_Body):
    model: str
    input: str | list[str]
    encoding_format: str = "float"


# -- errors ---------------------------------------------------------------------------------


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


class _APIError(Exception):
    """An OpenAI-style error response, raised from anywhere in a request's handling."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


@api.exception_handler(_APIError)
async def _on_api_error(_request: Request, exc: _APIError) -> JSONResponse:
    return _error(exc.status, exc.message, exc.kind, exc.code)


@api.exception_handler(AgentError)
async def _on_agent_error(_request: Request, exc: AgentError) -> JSONResponse:
    return _agent_error(exc)


@api.exception_handler(ValidationError)
async def _on_validation_error(_request: Request, exc: ValidationError) -> JSONResponse:
    # Parameters that pass the HTTP body model but not the agent's typed request.
    return _error(400, f"invalid request: {exc}")


def _agent_error(exc: AgentError) -> JSONResponse:
    if isinstance(exc, AgentUnavailable):
        return _error(503, str(exc), "service_unavailable", "agent_unavailable")
    if isinstance(exc, InvalidRequest):
        return _error(400, str(exc))
    if isinstance(exc, InvalidOutput):
        # The model could not produce output valid under the grammar (e.g. it ran out of
        # max_tokens): say so, with the start of what it wrote.
        raw = exc.raw if len(exc.raw) <= 300 else exc.raw[:300] + "..."
        hint = " (raise max_tokens, or bound the schema's strings and arrays)" if "max_new_tokens" in str(exc) else ""
        return _error(422, f"{exc}{hint}; output began: {raw!r}", "invalid_output", "invalid_output")
    return _error(500, str(exc), "server_error")


# -- reading bodies -------------------------------------------------------------------------


async def read_json(request: Request) -> Any:
    """The body as JSON: at most MAX_BODY_BYTES, UTF-8, nested at most MAX_JSON_DEPTH deep (else 4xx)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _APIError(413, f"request body is {int(declared)} bytes; the limit is {MAX_BODY_BYTES}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _APIError(413, f"request body exceeds the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _APIError(400, f"request body is not valid UTF-8: {exc.reason} at byte {exc.start}") from exc
    too_deep = f"request body is JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _APIError(400, f"request body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise _APIError(400, too_deep) from exc
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise _APIError(400, too_deep)
    return data


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: the value may be deep)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


# -- turning a chat completion into task requests -------------------------------------------


@dataclass
class ChatPlan:
    """What one chat completion asks of the agent, as typed task requests.

    `answer` makes a plain reply (chat, or extract under `response_format`). With
    `tool_choice` "required" the reply is `tool_request`'s call; with "auto" it is
    `auto_request`'s call, unless that picks `answer_choice` (then `answer`).
    """

    messages: list[ChatMessage]
    answer: ChatRequest | ExtractRequest
    tool_choice: Literal["none", "auto", "required"] = "none"
    tools: list[Tool] = field(default_factory=list)
    max_new_tokens: int | None = None
    temperature: float | None = None

    @property
    def tasks(self) -> list[TaskKind]:
        """The task kinds the agent must serve for this request."""
        kinds = [TaskKind.CHAT if isinstance(self.answer, ChatRequest) else TaskKind.EXTRACT]
        if self.tool_choice != "none":
            kinds.append(TaskKind.TOOL_CALL)
        return kinds

    def tool_request(self, tools: list[Tool] | None = None) -> ToolCallRequest:
        return ToolCallRequest(
            messages=self.messages,
            tools=tools or self.tools,
            **_set(max_new_tokens=self.max_new_tokens, temperature=self.temperature),
        )

    @property
    def answer_choice(self) -> str:
        names = {t.name for t in self.tools}
        name = ANSWER_CHOICE
        while name in names:
            name = f"_{name}"
        return name

    def auto_request(self) -> ToolCallRequest:
        """`tool_choice="auto"`: the tools with their parameters, plus "reply in text" without arguments."""
        no_args = {"type": "object", "properties": {}, "additionalProperties": False}
        reply = Tool(name=self.answer_choice, description="Reply to the user in text, calling no tool.", parameters=no_args)
        return ToolCallRequest(
            messages=self.messages,
            tools=[*self.tools, reply],
            instruction=AUTO_INSTRUCTION.format(answer=self.answer_choice),
            **_set(max_new_tokens=self.max_new_tokens, temperature=self.temperature),
        )


def _set(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}


def _messages(body: ChatCompletionBody) -> list[ChatMessage]:
    out = []
    for i, m in enumerate(body.messages):
        role = _ROLES.get(m.role)
        if role is None:
            raise _APIError(400, f"messages[{i}].role {m.role!r} is not one of {', '.join(_ROLES)}")
        out.append(ChatMessage(role=role, content=m.text()))  # type: ignore[arg-type]
    return out


def _extract_request(messages: list[ChatMessage], fmt: _ResponseFormat, max_new_tokens: int | None,
                     temperature: float | None) -> ExtractRequest:
    """`response_format` as the extract task: system messages become its instruction, the rest its text."""
    if fmt.type == "json_schema" and fmt.json_schema and fmt.json_schema.schema_ is not None:
        schema = _object_schema(fmt.json_schema.schema_, "response_format.json_schema.schema")
    else:
        schema = {"type": "object"}
    system = [m.content for m in messages if m.role == "system" and m.content]
    instruction = "\n".join(system) or JSON_INSTRUCTION
    if fmt.json_schema and fmt.json_schema.description:
        instruction += f"\n{fmt.json_schema.description}"
    convo = [m for m in messages if m.role != "system"]
    if len(convo) == 1 and convo[0].role == "user":
        text = convo[0].content
    else:
        text = "\n".join(f"{m.role}: {m.content}" for m in convo)
    return ExtractRequest(
        text=text,
        json_schema=schema,
        instruction=instruction,
        **_set(max_new_tokens=max_new_tokens, temperature=temperature),
    )


def chat_plan(body: ChatCompletionBody) -> ChatPlan:
    """The one place a chat completion body becomes task requests (refusing bad combinations with 400)."""
    messages = _messages(body)
    max_new_tokens = body.max_completion_tokens or body.max_tokens
    fmt = body.response_format
    if fmt is not None and fmt.type != "text":
        answer: ChatRequest | ExtractRequest = _extract_request(messages, fmt, max_new_tokens, body.temperature)
    else:
        answer = ChatRequest(
            messages=messages,
            **_set(
                max_new_tokens=max_new_tokens,
                temperature=body.temperature,
                top_p=body.top_p,
                stop=[body.stop] if isinstance(body.stop, str) else body.stop,
                seed=body.seed,
            ),
        )
    tools = [t.tool() for t in body.tools or []]
    choice = body.tool_choice
    if choice is not None and choice != "none" and not tools:
        raise _APIError(400, "tool_choice needs tools: give 'tools' or drop 'tool_choice'")
    if isinstance(choice, _NamedToolChoice):
        named = [t for t in tools if t.name == choice.function.name]
        if not named:
            raise _APIError(
                400, f"tool_choice names {choice.function.name!r}, which is not one of the tools: "
                f"{', '.join(t.name for t in tools)}"
            )
        mode: Literal["none", "auto", "required"] = "required"
        tools = named
    elif not tools:
        mode = "none"
    else:
        mode = choice or "auto"
    return ChatPlan(
        messages=messages,
        answer=answer,
        tool_choice=mode,
        tools=tools if mode != "none" else [],
        max_new_tokens=max_new_tokens,
        temperature=body.temperature,
    )


def _usage(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


def _gen_params(body: CompletionBody) -> dict[str, Any]:
    return _set(
        max_new_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=[body.stop] if isinstance(body.stop, str) else body.stop,
        seed=body.seed,
    )


def _tool_message(call: ToolCallResponse) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
        ],
    }


# -- streaming (server-sent events, as the OpenAI SDKs read them) --------------------------------


def _sse(events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        async for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _error_event(exc: AgentError) -> dict[str, Any]:
    """An error after the stream started: the status line is gone, so it travels as an event."""
    return {"error": {"message": str(exc), "type": type(exc).__name__, "code": None}}


async def _stream_chat(client: AgentClient, model: str, request: ChatRequest) -> AsyncIterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    first = True
    params = request.model_dump(exclude_none=True, exclude={"messages"})
    try:
        # Leaving this loop (the HTTP client went away) closes the agent stream, which
        # cancels the request on the replica and frees its sequence slot.
        async for chunk in client.stream(messages=request.messages, **params):
            if chunk.text:
                delta = {"role": "assistant", "content": chunk.text} if first else {"content": chunk.text}
                first = False
                yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
            if chunk.finish_reason is not None:
                usage = chunk.usage
                yield {
                    **base,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": chunk.finish_reason, "logprobs": None}],
                    "usage": _usage(usage.tokens_in, usage.tokens_out) if usage else None,
                }
    except AgentError as exc:
        yield _error_event(exc)


async def _stream_completion(
    client: AgentClient, model: str, prompt: str, params: dict[str, Any]
) -> AsyncIterator[dict[str, Any]]:
    base = {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion", "created": int(time.time()),
            "model": model}
    try:
        async for chunk in client.stream(prompt=prompt, **params):
            if chunk.text:
                yield {**base, "choices": [{"index": 0, "text": chunk.text, "finish_reason": None, "logprobs": None}]}
            if chunk.finish_reason is not None:
                usage = chunk.usage
                yield {
                    **base,
                    "choices": [{"index": 0, "text": "", "finish_reason": chunk.finish_reason, "logprobs": None}],
                    "usage": _usage(usage.tokens_in, usage.tokens_out) if usage else None,
                }
    except AgentError as exc:
        yield _error_event(exc)


async def _whole_as_stream(
    model: str, message: dict[str, Any], finish: str, usage: dict[str, int]
) -> AsyncIterator[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}
    delta = dict(message)
    for i, call in enumerate(delta.get("tool_calls") or []):
        call["index"] = i
    yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish, "logprobs": None}], "usage": usage}


@serve.ingress(api)
class OpenAIServer:
    def __init__(
        self, agents: dict[str, Any], tasks: dict[str, list[str]], api_key_sha256: str | None = None
    ) -> None:
        # Usage is recorded by workflow steps, not by HTTP callers (there is no step here).
        self._clients = {name: AgentClient(name, handle=h, record_usage=False) for name, h in agents.items()}
        self._tasks = tasks
        self._key_hash = api_key_sha256
        self._created = int(time.time())

    def _authorize(self, request: Request) -> None:
        if self._key_hash is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        given = hashlib.sha256(token.strip().encode()).hexdigest() if scheme.lower() == "bearer" else ""
        if not given or not hmac.compare_digest(given, self._key_hash):
            raise _APIError(401, "invalid or missing API key (send Authorization: Bearer <key>)", code="invalid_api_key")

    async def _parse(self, request: Request, cls: type[_B]) -> _B:
        """The authorized request's body as `cls`."""
        self._authorize(request)
        data = await read_json(request)
        if not isinstance(data, dict):
            raise _APIError(400, f"request body must be a JSON object, got {type(data).__name__}")
        return cls.model_validate(data)

    def _client(self, model: str, *tasks: str) -> AgentClient:
        if model not in self._clients:
            raise _APIError(
                404, f"model {model!r} does not exist; models: {', '.join(sorted(self._clients))}", code="model_not_found"
            )
        served = self._tasks.get(model, [])
        missing = [t for t in tasks if t not in served]
        if missing:
            raise _APIError(
                400, f"model {model!r} does not serve {', '.join(missing)}; it serves {', '.join(served)}"
            )
        return self._clients[model]

    @api.get("/v1/models")
    async def models(self, request: Request) -> Any:
        self._authorize(request)
        data = [
            {"id": name, "object": "model", "created": self._created, "owned_by": "slmflow", "tasks": self._tasks[name]}
            for name in sorted(self._clients)
        ]
        return {"object": "list", "data": data}

    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Any:
        body = await self._parse(request, ChatCompletionBody)
        plan = chat_plan(body)
        client = self._client(body.model, *(t.value for t in plan.tasks))
        if body.stream and isinstance(plan.answer, ChatRequest) and plan.tool_choice == "none":
            return _sse(_stream_chat(client, body.model, plan.answer))
        tokens_in = tokens_out = 0
        call: ToolCallResponse | None = None
        if plan.tool_choice == "required":
            call = await client.call(TaskKind.TOOL_CALL, plan.tool_request())
        elif plan.tool_choice == "auto":
            call = await client.call(TaskKind.TOOL_CALL, plan.auto_request())
            if call.name == plan.answer_choice:
                # The model chose to reply in text: the answer is a second step; both steps' tokens count.
                tokens_in, tokens_out = call.usage.tokens_in, call.usage.tokens_out
                call = None
        if call is not None:
            message, finish, usage = _tool_message(call), "tool_calls", call.usage
        elif isinstance(plan.answer, ExtractRequest):
            data = await client.call(TaskKind.EXTRACT, plan.answer)
            message = {"role": "assistant", "content": json.dumps(data.data, ensure_ascii=False)}
            finish, usage = "stop", data.usage
        else:
            resp = await client.call(TaskKind.CHAT, plan.answer)
            message = {"role": "assistant", "content": resp.message.content}
            finish, usage = resp.finish_reason, resp.usage
        total = _usage(tokens_in + usage.tokens_in, tokens_out + usage.tokens_out)
        if body.stream:
            # A grammar-constrained answer (JSON or a tool call) is sent whole, as one delta.
            return _sse(_whole_as_stream(body.model, message, finish, total))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": total,
        }

    @api.post("/v1/completions")
    async def completions(self, request: Request) -> Any:
        body = await self._parse(request, CompletionBody)
        client = self._client(body.model, "generate")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        params = _gen_params(body)
        if body.stream:
            if len(prompts) != 1:
                raise _APIError(400, f"stream=true takes one prompt, got {len(prompts)}")
            return _sse(_stream_completion(client, body.model, prompts[0], params))
        # Several prompts go out together, so the agent batches them.
        results = await asyncio.gather(*(client.generate(p, **params) for p in prompts))
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [
                {"index": i, "text": r.text, "finish_reason": r.finish_reason, "logprobs": None}
                for i, r in enumerate(results)
            ],
            "usage": _usage(sum(r.usage.tokens_in for r in results), sum(r.usage.tokens_out for r in results)),
        }

    @api.post("/v1/embeddings")
    async def embeddings(self, request: Request) -> Any:
        body = await self._parse(request, EmbeddingBody)
        if body.encoding_format not in ("float", "base64"):
            raise _APIError(400, f"encoding_format must be 'float' or 'base64', got {body.encoding_format!r}")
        client = self._client(body.model, "embed")
        texts = [body.input] if isinstance(body.input, str) else body.input
        resp = await client.embed(texts)

        def encode(vec: list[float]) -> Any:
            if body.encoding_format == "float":
                return vec
            return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()

        return {
            "object": "list",
            "model": body.model,
            "data": [
                {"object": "embedding", "index": i, "embedding": encode(vec)} for i, vec in enumerate(resp.embeddings)
            ],
            "usage": {"prompt_tokens": resp.usage.tokens_in, "total_tokens": resp.usage.tokens_in},
        }


OpenAIDeployment = serve.deployment(OpenAIServer, name="OpenAIIngress")

__all__ = ["ChatPlan", "OpenAIDeployment", "OpenAIServer", "api", "chat_plan", "read_json"]
