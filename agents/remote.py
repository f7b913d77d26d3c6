"""An agent that lives behind any OpenAI-compatible endpoint (vLLM, a hosted API, slmflow's ingress).

    big = RemoteAgent(RemoteSpec(name="gpt", base_url="https://api.openai.com/v1",
                                 model="gpt-4o-mini", api_key_env="OPENAI_API_KEY",
                                 pricing=Pricing(usd_per_1k_tokens_in=0.15e-3, usd_per_1k_tokens_out=0.6e-3)))
    resp = await big.extract(text, Invoice)

It speaks the same typed requests and responses as the local agents (`agents.protocol`),
with usage (tokens from the endpoint, wall milliseconds, cost from `pricing`) recorded in
the run store when called inside a step, so a workflow can swap a local specialist for
a remote model, or escalate to one, without changing its code. Task kinds map onto the
API as a caller of that API would: chat/completions for text, embeddings for vectors,
function calling for tool calls, and a forced single function for extraction (the one
structured-output mechanism every OpenAI-compatible server implements).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Sequence
from typing import Any, Literal

import openai
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.errors import AgentError, AgentUnavailable, InvalidOutput, InvalidRequest
from agents.protocol import (
    ChatMessage,
    ChatResponse,
    ClassifyResponse,
    EmbedResponse,
    ExtractResponse,
    GenerateResponse,
    TaskKind,
    Tool,
    ToolCallResponse,
    Usage,
)
from agents.spec import Pricing
from agents.usage import record_call


class RemoteSpec(BaseModel):
    """Where the remote model is and what it costs."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="agent name used in usage records")
    base_url: str = Field(pattern=r"^https?://", description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1, description="model name the endpoint knows")
    api_key: str | None = Field(default=None, repr=False)
    api_key_env: str | None = Field(default=None, description="environment variable holding the key")
    pricing: Pricing = Field(default_factory=Pricing)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0, le=2)
    # Ask for log-probabilities in classify (scores that are probabilities); off for an
    # endpoint that refuses the parameter.
    logprobs: bool = True

    def key(self) -> str:
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise InvalidRequest(f"remote agent {self.name!r}: environment variable {self.api_key_env} is not set")
            return value
        return "not-needed"  # local servers (vLLM, slmflow's ingress without a key) ignore it


# Alternatives per generated token asked of the endpoint (OpenAI's maximum is 20).
TOP_LOGPROBS = 20


class RemoteClassifyResponse(ClassifyResponse):
    """A remote classification; `score_source` says what the scores are.

    - `"logprobs"`: probabilities over the labels from the endpoint's log-probabilities of
      the label's tokens (the chosen label's exactly, the others' from the alternatives at
      its first token), normalised over the labels;
    - `"choice"`: the endpoint returned no log-probabilities, so the scores only mark the
      chosen label (1) and the others (0). They are not a confidence: a threshold on them
      means nothing.
    """

    score_source: Literal["logprobs", "choice"]


def label_scores(tokens: Sequence[Any], labels: Sequence[str], chosen: str) -> dict[str, float] | None:
    """Label probabilities from the log-probabilities of an answer's tokens, or None when they say nothing.

    `tokens` are the answer's `ChatCompletionTokenLogprob`s (`token`, `logprob`,
    `top_logprobs`). The chosen label's probability is the product over the tokens that
    spell it; each alternative at its first token counts for the labels it begins (shared
    evenly where several labels begin with it).
    """
    if not tokens:
        return None
    text = "".join(t.token for t in tokens)
    m = re.search(r'"label"\s*:\s*"', text)
    start = m.end() if m and text.startswith(chosen, m.end()) else text.find(chosen)
    if start < 0:
        return None
    end, pos, first = start + len(chosen), 0, None
    chosen_logprob = 0.0
    for t in tokens:
        t_end = pos + len(t.token)
        if t_end > start and pos < end:  # this token spells part of the label
            first = first if first is not None else (t, text[pos:start])
            chosen_logprob += t.logprob
        pos = t_end
    if first is None:
        return None
    token, prefix = first
    if not getattr(token, "top_logprobs", None):
        return None  # the chosen path alone says nothing about the other labels
    probs = dict.fromkeys(labels, 0.0)
    p_chosen = math.exp(chosen_logprob)
    probs[chosen] = p_chosen

    def begins(tok: str) -> list[str]:
        # The part of the alternative after what precedes the label (e.g. a quote), up to a closing quote.
        piece = tok[len(prefix):].split('"')[0] if tok.startswith(prefix) else ""
        return [lab for lab in labels if piece and (lab.startswith(piece) or piece.startswith(lab))]

    for alt in token.top_logprobs:
        p = math.exp(alt.logprob)
        if alt.token == token.token:  # the chosen path: what it leaves over belongs to its other labels
            others, p = [lab for lab in begins(alt.token) if lab != chosen], max(0.0, p - p_chosen)
        else:
            others = begins(alt.token)
        for lab in others:
            probs[lab] += p / len(others)
    total = sum(probs.values())
    return {lab: v / total for lab, v in probs.items()} if total > 0 else None


class RemoteAgent:
    """Async client of one model behind an OpenAI-compatible endpoint, typed like `AgentClient`.

    `escalated=True` marks every call's usage record as an escalation (see
    `workflows.escalation`); `with_escalated()` returns such a view of the same agent.
    """

    def __init__(self, spec: RemoteSpec, *, escalated: bool = False, record_usage: bool = True) -> None:
        self.spec = spec
        self.name = spec.name
        self.escalated = escalated
        self._record_usage = record_usage
        self._client: openai.AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"RemoteAgent({self.spec.name!r}, {self.spec.base_url}, model={self.spec.model!r})"

    def with_escalated(self, escalated: bool = True) -> RemoteAgent:
        other = RemoteAgent(self.spec, escalated=escalated, record_usage=self._record_usage)
        return other

    def _api(self) -> openai.AsyncOpenAI:
        # One client per event loop would be ideal; a client is cheap, and steps run on
        # different loops (sync steps in threads), so build it per call when needed.
        return openai.AsyncOpenAI(base_url=self.spec.base_url, api_key=self.spec.key(),
                                  timeout=self.spec.timeout_s, max_retries=self.spec.max_retries)

    async def _call(self, task: TaskKind, fn: Any) -> Any:
        """Run `fn(api)`; map transport and HTTP errors to typed agent errors; account usage."""
        started = time.perf_counter()
        try:
            async with self._api() as api:
                resp, parse = await fn(api)
        except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as exc:
            err: AgentError = AgentUnavailable(f"{task.value} call to {self.spec.base_url} failed: {exc}", agent=self.name)
            self._account(task, None, str(err))
            raise err from exc
        except openai.APIStatusError as exc:
            body = getattr(exc, "body", None)
            err = (InvalidOutput(f"{task.value}: endpoint says the model output was invalid: {exc.message}", agent=self.name)
                   if exc.status_code == 422 else
                   AgentUnavailable(f"{task.value}: endpoint overloaded ({exc.status_code}): {exc.message}", agent=self.name)
                   if exc.status_code in (429, 503) else
                   InvalidRequest(f"{task.value}: endpoint refused the request ({exc.status_code}): {exc.message} {body or ''}",
                                  agent=self.name))
            self._account(task, None, str(err))
            raise err from exc
        ms = (time.perf_counter() - started) * 1000
        u = getattr(resp, "usage", None)
        tokens_in = int(getattr(u, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(u, "completion_tokens", 0) or 0)
        usage = Usage(model=getattr(resp, "model", None) or self.spec.model, tokens_in=tokens_in, tokens_out=tokens_out,
                      compute_ms=ms, replica_id=self.spec.base_url,
                      cost_usd=self.spec.pricing.cost(tokens_in, tokens_out, ms))
        try:
            result = parse(resp, usage)
        except InvalidOutput as exc:
            exc.agent = exc.agent or self.name
            self._account(task, usage, str(exc))
            raise
        self._account(task, usage, None)
        return result

    def _account(self, task: TaskKind, usage: Usage | None, error: str | None) -> None:
        if self._record_usage:
            record_call(self.name, task, usage, error, escalated=self.escalated)

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        out = {"max_tokens": params.pop("max_new_tokens", None) or params.pop("max_tokens", None) or self.spec.max_tokens,
               "temperature": params.pop("temperature", None)}
        if out["temperature"] is None:
            out["temperature"] = self.spec.temperature
        for key in ("top_p", "stop", "seed"):
            if params.get(key) is not None:
                out[key] = params.pop(key)
        return out

    # -- task kinds ---------------------------------------------------------------------

    async def generate(self, prompt: str, **params: Any) -> GenerateResponse:
        kw = self._params(dict(params))

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.completions.create(model=self.spec.model, prompt=prompt, **kw)
            return resp, lambda r, u: GenerateResponse(
                text=r.choices[0].text, finish_reason="length" if r.choices[0].finish_reason == "length" else "stop", usage=u)

        return await self._call(TaskKind.GENERATE, fn)

    async def chat(self, messages: str | Sequence[ChatMessage | dict[str, str]], **params: Any) -> ChatResponse:
        msgs = _messages(messages)
        kw = self._params(dict(params))

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.chat.completions.create(model=self.spec.model, messages=msgs, **kw)
            return resp, lambda r, u: ChatResponse(
                message=ChatMessage(role="assistant", content=r.choices[0].message.content or ""),
                finish_reason="length" if r.choices[0].finish_reason == "length" else "stop", usage=u)

        return await self._call(TaskKind.CHAT, fn)

    async def classify(self, text: str, labels: Sequence[str], *, label_descriptions: dict[str, str] | None = None,
                       instruction: str | None = None, **params: Any) -> RemoteClassifyResponse:
        """Ask the model for one label through a forced function whose argument is an enum of `labels`.

        Servers that constrain function arguments (vLLM, slmflow's ingress, hosted APIs with
        strict tools) then always answer a valid label. The scores come from the endpoint's
        log-probabilities of the label's tokens when it returns them (`score_source="logprobs"`);
        an endpoint that returns none gives no confidence at all, and then the chosen label
        scores 1 with `score_source="choice"`: a record of the choice, not a probability.
        """
        labels = list(labels)
        desc = "\n".join(f"- {lab}: {(label_descriptions or {}).get(lab, lab)}" for lab in labels)
        prompt = f"{instruction or 'Classify the text into exactly one of these labels.'}\n{desc}\n\nText: {text}"
        tool = {"type": "function", "function": {
            "name": "choose_label", "description": "Record the label of the text.",
            "parameters": {"type": "object", "properties": {"label": {"type": "string", "enum": labels}},
                           "required": ["label"]}}}
        kw = self._params({"max_new_tokens": 32, **params})
        if self.spec.logprobs:
            kw.update(logprobs=True, top_logprobs=TOP_LOGPROBS)

        def parse(r: Any, u: Usage) -> RemoteClassifyResponse:
            msg = r.choices[0].message
            raw = msg.tool_calls[0].function.arguments if msg.tool_calls else (msg.content or "")
            try:
                label = json.loads(raw)["label"]
            except (json.JSONDecodeError, KeyError, TypeError):
                # A server without function calling answered in text: accept one unambiguous label.
                found = [lab for lab in labels if re.search(rf"(?<!\w){re.escape(lab)}(?!\w)", raw, re.IGNORECASE)]
                label = found[0] if len(found) == 1 else None
            if label not in labels:
                raise InvalidOutput(f"classify: answer {raw[:120]!r} is not one of the labels {labels}", raw=raw)
            logprobs = getattr(r.choices[0], "logprobs", None)
            scores = label_scores(getattr(logprobs, "content", None) or [], labels, label)
            if scores is not None:
                return RemoteClassifyResponse(label=label, scores=scores, score_source="logprobs", usage=u)
            return RemoteClassifyResponse(label=label, scores={lab: float(lab == label) for lab in labels},
                                          score_source="choice", usage=u)

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.chat.completions.create(
                model=self.spec.model, messages=[{"role": "user", "content": prompt}], tools=[tool],
                tool_choice={"type": "function", "function": {"name": "choose_label"}}, **kw)
            return resp, parse

        return await self._call(TaskKind.CLASSIFY, fn)

    async def extract(self, text: str, schema: dict[str, Any] | type[BaseModel], *, instruction: str | None = None,
                      **params: Any) -> ExtractResponse:
        """Structured output through one forced function whose parameters are `schema`."""
        json_schema = schema.model_json_schema() if isinstance(schema, type) else schema
        tool = {"type": "function", "function": {"name": "record", "description": "Record the extracted fields.",
                                                 "parameters": json_schema}}
        prompt = f"{instruction or 'Extract the fields from the text.'}\n\nText: {text}"
        kw = self._params(dict(params))

        def parse(r: Any, u: Usage) -> ExtractResponse:
            msg = r.choices[0].message
            raw = msg.tool_calls[0].function.arguments if msg.tool_calls else (msg.content or "")
            data = _json(raw)
            if isinstance(schema, type):
                try:
                    data = schema.model_validate(data)
                except ValidationError as exc:
                    raise InvalidOutput(f"extract output does not validate: {exc}", raw=raw) from exc
            return ExtractResponse(data=data, raw=raw, usage=u)

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.chat.completions.create(
                model=self.spec.model, messages=[{"role": "user", "content": prompt}], tools=[tool],
                tool_choice={"type": "function", "function": {"name": "record"}}, **kw)
            return resp, parse

        return await self._call(TaskKind.EXTRACT, fn)

    async def tool_call(self, request: str | Sequence[ChatMessage | dict[str, str]],
                        tools: Sequence[Tool | dict[str, Any]], **params: Any) -> ToolCallResponse:
        msgs = _messages(request)
        specs = [t if isinstance(t, Tool) else Tool.model_validate(t) for t in tools]
        api_tools = [{"type": "function", "function": t.model_dump()} for t in specs]
        kw = self._params(dict(params))

        def parse(r: Any, u: Usage) -> ToolCallResponse:
            msg = r.choices[0].message
            if not msg.tool_calls:
                raise InvalidOutput("tool_call: the model called no tool", raw=msg.content or "")
            call = msg.tool_calls[0].function
            if call.name not in {t.name for t in specs}:
                raise InvalidOutput(f"tool_call: unknown tool {call.name!r}", raw=call.arguments)
            args = _json(call.arguments)
            if not isinstance(args, dict):
                raise InvalidOutput("tool_call: arguments are not a JSON object", raw=call.arguments)
            return ToolCallResponse(name=call.name, arguments=args, raw=call.arguments, usage=u)

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.chat.completions.create(model=self.spec.model, messages=msgs, tools=api_tools,
                                                     tool_choice="required", **kw)
            return resp, parse

        return await self._call(TaskKind.TOOL_CALL, fn)

    async def embed(self, texts: str | Sequence[str], **_: Any) -> EmbedResponse:
        items = [texts] if isinstance(texts, str) else list(texts)

        async def fn(api: openai.AsyncOpenAI) -> Any:
            resp = await api.embeddings.create(model=self.spec.model, input=items)
            return resp, lambda r, u: EmbedResponse(embeddings=[d.embedding for d in r.data], usage=u)

        return await self._call(TaskKind.EMBED, fn)


def _messages(messages: str | Sequence[ChatMessage | dict[str, str]]) -> list[dict[str, str]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return [m.model_dump() if isinstance(m, ChatMessage) else dict(m) for m in messages]


def _json(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"output is not valid JSON ({exc.msg})", raw=raw) from exc


__all__ = ["RemoteAgent", "RemoteClassifyResponse", "RemoteSpec", "label_scores"]
