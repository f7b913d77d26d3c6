"""Typed requests and responses of every task kind an agent serves.

These models cross every boundary (workflow step -> Serve handle -> replica -> model
runner), so they validate their inputs and carry usage. Generation parameters left as
``None`` take the agent spec's generation defaults.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TaskKind(StrEnum):
    GENERATE = "generate"
    CHAT = "chat"
    CLASSIFY = "classify"
    EXTRACT = "extract"
    TOOL_CALL = "tool_call"
    EMBED = "embed"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Usage(_Model):
    """What one request cost. The runtime fills tokens, compute and batch size; Serve the rest."""

    model: str = ""
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    queue_ms: float = Field(default=0.0, ge=0)
    # The batch's compute time split evenly across its requests.
    compute_ms: float = Field(default=0.0, ge=0)
    replica_id: str | None = None
    cost_usd: float = Field(default=0.0, ge=0)
    # Prompt tokens served from a reused KV cache (prefix reuse) instead of recomputed.
    cached_tokens: int = Field(default=0, ge=0)
    batch_size: int = Field(default=1, ge=1)


class _GenerationParams(_Model):
    # A LoRA adapter the agent serves (its `adapters`), or None for the base model.
    adapter: str | None = None
    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    # 0 means greedy decoding.
    temperature: float | None = Field(default=None, ge=0, le=5)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None
    seed: int | None = None

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and any(s == "" for s in v):
            raise ValueError("stop strings must not be empty")
        return v


FinishReason = Literal["stop", "length"]


class GenerateRequest(_GenerationParams):
    # An empty prompt leaves a tokenizer without BOS no token to start from.
    prompt: str = Field(min_length=1)


class GenerateResponse(_Model):
    text: str
    finish_reason: FinishReason
    usage: Usage = Field(default_factory=Usage)


class StreamChunk(_Model):
    """A piece of a streamed generate or chat answer; the last chunk has ``finish_reason`` and ``usage``."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


class ChatMessage(_Model):
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ChatRequest(_GenerationParams):
    messages: list[ChatMessage] = Field(min_length=1)


class ChatResponse(_Model):
    message: ChatMessage
    finish_reason: FinishReason
    usage: Usage = Field(default_factory=Usage)

    @property
    def text(self) -> str:
        return self.message.content


class ClassifyExample(_Model):
    text: str
    label: str


class ClassifyRequest(_Model):
    """Pick one of ``labels`` for ``text``.

    Similarity: compares the text with each label's description (default: the label
    itself) and with the few-shot ``examples``. Likelihood: scores each label as the
    continuation of a prompt built from ``instruction``, examples and text.
    ``labels`` may be left out only for an agent with a trained head (a specialist),
    which knows its labels; given to such an agent, they must be a subset of them.
    """

    text: str
    labels: list[str] | None = Field(default=None, min_length=2)
    label_descriptions: dict[str, str] | None = None
    examples: list[ClassifyExample] | None = None
    instruction: str | None = None
    method: Literal["similarity", "likelihood"] | None = None

    @model_validator(mode="after")
    def _labels_consistent(self) -> ClassifyRequest:
        if self.labels is None:
            if self.label_descriptions or self.examples:
                raise ValueError("label_descriptions and examples need labels")
            return self
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be unique, got {self.labels}")
        if any(not lab.strip() for lab in self.labels):
            raise ValueError("labels must not be blank")
        known = set(self.labels)
        for lab in self.label_descriptions or {}:
            if lab not in known:
                raise ValueError(f"label_descriptions has {lab!r}, which is not one of labels {self.labels}")
        for i, ex in enumerate(self.examples or []):
            if ex.label not in known:
                raise ValueError(f"examples[{i}].label {ex.label!r} is not one of labels {self.labels}")
        return self


class RequestLimits(_Model):
    """What one request may cost an agent (an agent's ``limits`` in the fleet file).

    Likelihood classification reads the whole prompt once per label, so its cost grows
    with the label count (50 labels held a 135M model's replica for 71 s on 2 cores);
    similarity embeds each label text once and caches it. Characters bound tokens from
    above for every tokenizer, so ``max_label_chars`` bounds label tokens without one.
    """

    max_labels: int = Field(default=64, ge=2, le=10_000)
    max_likelihood_labels: int = Field(default=16, ge=2, le=10_000)
    max_label_chars: int = Field(default=4096, ge=1)

    def classify_problem(self, req: ClassifyRequest, method: str) -> str | None:
        """Why ``req`` (classified by ``method``) exceeds these limits, naming the limit; None when within."""
        if not req.labels:
            return None
        n = len(req.labels)
        if method == "likelihood" and n > self.max_likelihood_labels:
            return (
                f"{n} labels exceed limits.max_likelihood_labels={self.max_likelihood_labels} (likelihood "
                "classification reads the prompt once per label); send fewer labels, use method='similarity' "
                "on an encoder, or raise the agent's limit in the fleet file"
            )
        if n > self.max_labels:
            return f"{n} labels exceed limits.max_labels={self.max_labels}; send fewer labels or raise the agent's limit"
        chars = sum(len(lab) for lab in req.labels) + sum(len(d) for d in (req.label_descriptions or {}).values())
        if chars > self.max_label_chars:
            return (
                f"labels and their descriptions are {chars} characters, over limits.max_label_chars="
                f"{self.max_label_chars}; shorten them or raise the agent's limit"
            )
        return None


class ClassifyResponse(_Model):
    label: str
    # Probability-like scores over the labels, summing to 1.
    scores: dict[str, float]
    usage: Usage = Field(default_factory=Usage)


def _check_extractive(req: ExtractRequest | ToolCallRequest) -> None:
    if req.extractive and not req.constrained:
        # The spans are enforced by the grammar; without one the flag would silently do nothing.
        raise ValueError("extractive=True needs constrained=True (the spans are enforced by the grammar)")


class ExtractRequest(_Model):
    """Extract data matching ``json_schema`` from ``text``.

    ``constrained=True`` decodes under the schema's grammar, so the output always
    parses; ``False`` generates freely and validates, raising ``InvalidOutput``.
    ``extractive=True`` (with ``constrained``) lets every free string field take only a
    verbatim span of ``text``, whole words as written there: for answers that are copied
    from the input (names, products, ids), never paraphrased. ``None``: as the ``adapter``
    was trained (on for a specialist whose training answers all copied their input).
    """

    text: str
    json_schema: dict[str, Any]
    instruction: str | None = None
    adapter: str | None = None
    constrained: bool = True
    extractive: bool | None = None
    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0, le=5)

    @field_validator("json_schema")
    @classmethod
    def _schema_is_object(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v, dict) or not v:
            raise ValueError("json_schema must be a non-empty JSON schema object")
        return v

    @model_validator(mode="after")
    def _extractive_needs_grammar(self) -> ExtractRequest:
        _check_extractive(self)
        return self


class ExtractResponse(_Model):
    data: Any
    raw: str
    usage: Usage = Field(default_factory=Usage)


class Tool(_Model):
    """A function the model may call. Accepts the OpenAI ``{"type": "function", "function": {...}}`` form."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    @model_validator(mode="before")
    @classmethod
    def _openai_form(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "function" and "function" in data:
            return data["function"]
        return data


class ToolCallRequest(_Model):
    """Pick one of ``tools`` for the request in ``text`` (or ``messages``) and fill its arguments.

    ``extractive=True``: free string arguments take only a verbatim span of the user's words
    (as ``ExtractRequest.extractive``).
    """

    text: str | None = None
    messages: list[ChatMessage] | None = None
    tools: list[Tool] = Field(min_length=1)
    instruction: str | None = None
    adapter: str | None = None
    constrained: bool = True
    extractive: bool | None = None
    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0, le=5)

    @model_validator(mode="after")
    def _has_input(self) -> ToolCallRequest:
        if (self.text is None) == (self.messages is None):
            raise ValueError("give exactly one of text or messages")
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            raise ValueError(f"tool names must be unique, got {names}")
        _check_extractive(self)
        return self


class ToolCallResponse(_Model):
    name: str
    arguments: dict[str, Any]
    raw: str
    usage: Usage = Field(default_factory=Usage)


class EmbedRequest(_Model):
    texts: list[str] = Field(min_length=1)
    normalize: bool = True

    @model_validator(mode="before")
    @classmethod
    def _single_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("texts"), str):
            return {**data, "texts": [data["texts"]]}
        return data


class EmbedResponse(_Model):
    embeddings: list[list[float]]
    usage: Usage = Field(default_factory=Usage)

    @property
    def dim(self) -> int:
        return len(self.embeddings[0]) if self.embeddings else 0


Request = GenerateRequest | ChatRequest | ClassifyRequest | ExtractRequest | ToolCallRequest | EmbedRequest
Response = (
    GenerateResponse | ChatResponse | ClassifyResponse | ExtractResponse | ToolCallResponse | EmbedResponse
)

REQUEST_TYPES: dict[TaskKind, type[BaseModel]] = {
    TaskKind.GENERATE: GenerateRequest,
    TaskKind.CHAT: ChatRequest,
    TaskKind.CLASSIFY: ClassifyRequest,
    TaskKind.EXTRACT: ExtractRequest,
    TaskKind.TOOL_CALL: ToolCallRequest,
    TaskKind.EMBED: EmbedRequest,
}
RESPONSE_TYPES: dict[TaskKind, type[BaseModel]] = {
    TaskKind.GENERATE: GenerateResponse,
    TaskKind.CHAT: ChatResponse,
    TaskKind.CLASSIFY: ClassifyResponse,
    TaskKind.EXTRACT: ExtractResponse,
    TaskKind.TOOL_CALL: ToolCallResponse,
    TaskKind.EMBED: EmbedResponse,
}

__all__ = [
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ClassifyExample",
    "ClassifyRequest",
    "ClassifyResponse",
    "EmbedRequest",
    "EmbedResponse",
    "ExtractRequest",
    "ExtractResponse",
    "FinishReason",
    "GenerateRequest",
    "GenerateResponse",
    "Request",
    "RequestLimits",
    "Response",
    "StreamChunk",
    "TaskKind",
    "Tool",
    "ToolCallRequest",
    "ToolCallResponse",
    "Usage",
]
