"""The real default fleet (SmolLM2 from its GGUF wheel, MiniLM from its wheel) gives real answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from jsonschema import validate

from agents.models.cache import cache_root, cached_conversion
from agents.protocol import (
    ClassifyRequest,
    ClassifyResponse,
    EmbedRequest,
    ExtractRequest,
    ExtractResponse,
    ToolCallRequest,
    ToolCallResponse,
)
from agents.runtime import ModelRunner

pytestmark = pytest.mark.slow

SENTIMENT = {"positive": "I love it, it is great", "negative": "I hate it, it is terrible"}
# Few-shot examples (not the test inputs): similarity against labels alone is weaker.
EXAMPLES = [
    {"text": "Works great, very happy with it.", "label": "positive"},
    {"text": "Excellent quality, would recommend to friends.", "label": "positive"},
    {"text": "Poor quality, it broke and I want a refund.", "label": "negative"},
    {"text": "Awful service, very disappointed.", "label": "negative"},
]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "send_email",
            "description": "Send an email to a recipient",
            "parameters": {
                "type": "object",
                # Bounded: greedy SmolLM2 on llama.cpp loops in a free-text body ("at 3pm at 3pm ...")
                # until the token limit; a bounded string is how a caller keeps a small model short.
                "properties": {"to": {"type": "string", "maxLength": 40}, "subject": {"type": "string", "maxLength": 40},
                               "body": {"type": "string", "maxLength": 80}},
                "required": ["to", "subject", "body"],
            },
        },
    },
]


def test_minilm_classifies_clear_reviews(minilm_runner: ModelRunner) -> None:
    reviews = {
        "This blender is fantastic. It crushes ice in seconds and I use it every day. Highly recommend!": "positive",
        "Absolutely love these headphones, the sound is superb and they are so comfortable.": "positive",
        "Broke after two days and the seller ignored my emails. Complete waste of money.": "negative",
    }
    reqs = [
        ClassifyRequest(text=t, labels=["positive", "negative"], label_descriptions=SENTIMENT, examples=EXAMPLES)
        for t in reviews
    ]
    out = minilm_runner.run_batch("classify", reqs)
    for (text, want), r in zip(reviews.items(), out, strict=True):
        assert isinstance(r, ClassifyResponse)
        assert r.label == want, (text, r.scores)
        assert r.scores[want] > 0.6
    assert out[0].usage.batch_size == 3


def test_minilm_positive_review_from_label_descriptions_alone(minilm_runner: ModelRunner) -> None:
    text = "This blender is fantastic. It crushes ice in seconds and I use it every day. Highly recommend!"
    [r] = minilm_runner.run_batch(
        "classify", [ClassifyRequest(text=text, labels=["positive", "negative"], label_descriptions=SENTIMENT)]
    )
    assert r.label == "positive" and r.scores["positive"] > 0.8


def test_minilm_embeddings(minilm_runner: ModelRunner) -> None:
    [r] = minilm_runner.run_batch(
        "embed", [EmbedRequest(texts=["A cat sits on the mat.", "A kitten rests on a rug.", "Quarterly tax filing deadline."])]
    )
    a, b, c = r.embeddings
    assert r.dim == 384

    def cos(x: list[float], y: list[float]) -> float:
        return sum(i * j for i, j in zip(x, y, strict=True))

    assert cos(a, b) > cos(a, c) + 0.2


def test_smollm2_extracts_schema_valid_fields(smollm2_runner: ModelRunner) -> None:
    [r] = smollm2_runner.run_batch(
        "extract", [ExtractRequest(text="Alice is 31 years old and lives in Paris.", json_schema=PERSON, max_new_tokens=48)]
    )
    assert isinstance(r, ExtractResponse), r
    validate(r.data, PERSON)
    assert r.data == {"name": "Alice", "age": 31, "city": "Paris"}
    assert r.usage.tokens_in > 0 and 0 < r.usage.tokens_out <= 48


def test_smollm2_tool_call_picks_the_right_tool(smollm2_runner: ModelRunner) -> None:
    out = smollm2_runner.run_batch(
        "tool_call",
        [
            ToolCallRequest(text="What's the weather like in Berlin today?", tools=TOOLS, max_new_tokens=40),
            ToolCallRequest(text="Email bob@example.com that the meeting moved to 3pm.", tools=TOOLS, max_new_tokens=80),
        ],
    )
    weather, email = out
    assert isinstance(weather, ToolCallResponse) and isinstance(email, ToolCallResponse), out
    assert weather.name == "get_weather" and weather.arguments == {"city": "Berlin"}
    assert email.name == "send_email"
    validate(email.arguments, TOOLS[1]["function"]["parameters"])


def test_default_smollm2_runs_on_llama_cpp(smollm2_runner: ModelRunner) -> None:
    info = smollm2_runner.info()
    assert info["engine"] == "llama_cpp" and smollm2_runner.concurrent
    assert info["slots"] == smollm2_runner.spec.batching.max_batch_size


def test_gguf_conversion_is_cached(smollm2_runner: ModelRunner, default_fleet: object) -> None:
    # The transformers engine still serves a GGUF when asked to: dequantised once, cached.
    spec = smollm2_runner.spec.model_copy(update={"engine": "transformers"})
    first = ModelRunner(spec).load()
    info = first.info()
    assert info["engine"] == "transformers"
    gguf = spec.source().gguf_path
    assert gguf is not None
    cached = cached_conversion(gguf)
    assert cached is not None and str(cached) == info["gguf_cache"]
    assert Path(info["gguf_cache"]).is_relative_to(cache_root())
    assert (cached / "model.safetensors").is_file()
    # A second replica reads the converted weights instead of dequantising again.
    second = ModelRunner(spec).load()
    assert second.info()["gguf_cache_hit"] is True
    assert second.info()["gguf_cache"] == info["gguf_cache"]
    assert second.info()["parameters"] == info["parameters"]
