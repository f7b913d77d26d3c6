"""Calls to analyse: an imported LLM call log (OpenAI-style JSONL) or the run store's usage.

Every text is redacted as it is read, so nothing past this module sees raw PII.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflows.migration.pii import redact


class Price(BaseModel):
    """Dollars per 1K tokens, used where a log record carries no cost of its own."""

    model_config = ConfigDict(extra="forbid")
    input_per_1k: float = Field(default=0.01, ge=0)
    output_per_1k: float = Field(default=0.03, ge=0)

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in / 1000 * self.input_per_1k + tokens_out / 1000 * self.output_per_1k


class Call(BaseModel):
    """One model call, redacted. `messages` is empty for store usage (the store keeps no text)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    source: str  # "log" or "store"
    model: str
    messages: list[dict[str, str]] = Field(default_factory=list)
    response: str = ""
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    cost_usd: float = Field(ge=0)
    # For store usage: the agent and task kind the call was made to.
    group_hint: str | None = None

    @property
    def prompt_text(self) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in self.messages)


class _Message(BaseModel):
    role: str
    content: str | None = None


class _Request(BaseModel):
    model: str = "unknown"
    messages: list[_Message] | None = None
    prompt: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(default=0, ge=0)


class _Choice(BaseModel):
    message: _Message | None = None
    text: str | None = None


class _Response(BaseModel):
    model: str | None = None
    choices: list[_Choice] = Field(default_factory=list)
    usage: _Usage | None = None


class _Record(BaseModel):
    """The shape of one logged call: request and response as the OpenAI API sends them."""

    id: str | None = None
    request: _Request
    response: _Response
    latency_ms: float | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)


class LogError(ValueError):
    """A log file that cannot be read, naming the file and line."""


def read_log(path: str | Path, *, price: Price | None = None, pii_counts: Counter[str] | None = None) -> list[Call]:
    """Read an OpenAI-style call log (JSONL), redacting PII. Raises LogError naming file:line."""
    price = price or Price()
    path = Path(path)
    if not path.is_file():
        raise LogError(f"{path}: no such log file")
    calls: list[Call] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw: Any = json.loads(line)
                rec = _Record.model_validate(raw)
            except json.JSONDecodeError as exc:
                raise LogError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise LogError(f"{path}:{lineno}: field {where!r}: {first['msg']}") from exc
            calls.append(_to_call(rec, lineno, price, pii_counts))
    if not calls:
        raise LogError(f"{path}: the log holds no calls")
    return calls


def _to_call(rec: _Record, lineno: int, price: Price, pii_counts: Counter[str] | None) -> Call:
    req, resp = rec.request, rec.response
    if req.messages:
        messages = [{"role": m.role, "content": redact(m.content or "", pii_counts)} for m in req.messages]
    elif req.prompt is not None:
        messages = [{"role": "user", "content": redact(req.prompt, pii_counts)}]
    else:
        raise LogError(f"line {lineno}: request has neither messages nor prompt")
    answer = ""
    if resp.choices:
        choice = resp.choices[0]
        answer = (choice.message.content if choice.message else choice.text) or ""
    tokens_in = resp.usage.prompt_tokens if resp.usage else sum(len(m["content"]) // 4 for m in messages)
    tokens_out = resp.usage.completion_tokens if resp.usage else len(answer) // 4
    return Call(
        id=rec.id or f"line-{lineno}",
        source="log",
        model=resp.model or req.model,
        messages=messages,
        response=redact(answer, pii_counts),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=rec.latency_ms or 0.0,
        cost_usd=rec.cost_usd if rec.cost_usd is not None else price.cost(tokens_in, tokens_out),
    )


def read_store(store: Any = None) -> list[Call]:
    """The agent calls recorded in the run store (orchestrator `list_usage`), one Call each."""
    if store is None:
        from orchestrator import default_store

        store = default_store()
    calls = []
    for i, u in enumerate(store.list_usage()):
        calls.append(Call(
            id=f"{u.run_id}/{u.step}/{i}",
            source="store",
            model=u.model or u.agent,
            tokens_in=u.tokens_in,
            tokens_out=u.tokens_out,
            latency_ms=u.queue_ms + u.compute_ms,
            cost_usd=u.cost_usd,
            group_hint=f"{u.agent}:{u.task}",
        ))
    return calls
