"""The fleet's HTTP ingress, speaking the OpenAI-compatible API (the model name is the agent's name).

    GET  /v1/models             the deployed agents
    POST /v1/chat/completions   chat (with `tools`: the agent's tool_call task)
    POST /v1/completions        generate
    POST /v1/embeddings         embed (float or base64, as the official client asks)

It is the ingress deployment of the `slmflow` application and calls the agent
deployments through handles with the same retrying client workflow steps use. Serve's
proxy binds 127.0.0.1 unless `deploy(host=...)` says otherwise; with an API key
configured every request needs `Authorization: Bearer <key>`.
"""


import asyncio
import base64
import hashlib
import hmac
import json
import struct
import time
import uuid
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from agents.client import AgentClient
from agents.errors import AgentError, AgentUnavailable, InvalidOutput, InvalidRequest

api = FastAPI(title="slmflow", description="OpenAI-compatible API over the slmflow agent fleet")


class _Body(BaseModel):
    # Unknown OpenAI parameters (user, logprobs, ...) are accepted and ignored.
    model_config = ConfigDict(extra="allow")


class _Message(_Body):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.get("text", "") for part in self.content if part.get("type") == "text")


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
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


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
        return _error(422, str(exc), "invalid_output")
    return _error(500, str(exc), "server_error")


def _stops(stop: str | list[str] | None) -> list[str] | None:
    return [stop] if isinstance(stop, str) else stop


def _gen_params(body: ChatCompletionBody | CompletionBody, max_tokens: int | None) -> dict[str, Any]:
    params = {
        "max_new_tokens": max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "stop": _stops(body.stop),
        "seed": body.seed,
    }
    return {k: v for k, v in params.items() if v is not None}


def _usage(tokens_in: int, tokens_out: int) -> dict[str, int]:
    return {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}


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
        """The authorized request's body as `cls`; streaming is refused here for every endpoint."""
        self._authorize(request)
        try:
            body = cls.model_validate(await request.json())
        except json.JSONDecodeError as exc:
            raise _APIError(400, f"request body is not JSON: {exc}") from exc
        if getattr(body, "stream", False):
            raise _APIError(400, "stream=true is not supported", code="unsupported")
        return body

    def _client(self, model: str, task: str) -> AgentClient:
        if model not in self._clients:
            raise _APIError(
                404, f"model {model!r} does not exist; models: {', '.join(sorted(self._clients))}", code="model_not_found"
            )
        if task not in self._tasks.get(model, []):
            raise _APIError(400, f"model {model!r} does not serve {task}; it serves {', '.join(self._tasks[model])}")
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
        use_tools = bool(body.tools) and body.tool_choice != "none"
        client = self._client(body.model, "tool_call" if use_tools else "chat")
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        max_tokens = body.max_completion_tokens or body.max_tokens
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if use_tools:
            tools = body.tools or []
            forced = body.tool_choice.get("function", {}).get("name") if isinstance(body.tool_choice, dict) else None
            if forced:
                tools = [t for t in tools if (t.get("function") or t).get("name") == forced] or tools
            params = {"max_new_tokens": max_tokens, "temperature": body.temperature}
            call = await client.tool_call(messages, tools, **{k: v for k, v in params.items() if v is not None})
            message: dict[str, Any] = {
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
            finish, usage = "tool_calls", call.usage
        else:
            resp = await client.chat(messages, **_gen_params(body, max_tokens))
            message = {"role": "assistant", "content": resp.message.content}
            finish, usage = resp.finish_reason, resp.usage
        return {
            "id": rid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": _usage(usage.tokens_in, usage.tokens_out),
        }

    @api.post("/v1/completions")
    async def completions(self, request: Request) -> Any:
        body = await self._parse(request, CompletionBody)
        client = self._client(body.model, "generate")
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        params = _gen_params(body, body.max_tokens)
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

__all__ = ["OpenAIDeployment", "OpenAIServer", "api"]
