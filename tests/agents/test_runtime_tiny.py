"""ModelRunner on tiny randomly initialised models: every task kind, batching, usage, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validate

from agents.errors import AgentError, InvalidOutput, InvalidRequest, ModelLoadError
from agents.protocol import (
    ChatRequest,
    ChatResponse,
    ClassifyRequest,
    ClassifyResponse,
    EmbedRequest,
    EmbedResponse,
    ExtractRequest,
    ExtractResponse,
    GenerateRequest,
    GenerateResponse,
    TaskKind,
    ToolCallRequest,
    ToolCallResponse,
)
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from tests.fixtures.models import tiny_agent_dicts

# Bounded strings and numbers: a random model decoding under this grammar must finish.
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 6},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "member": {"type": "boolean"},
        "tier": {"enum": ["gold", "silver"]},
    },
    "required": ["name", "age", "member", "tier"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 5}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    },
    {"name": "ping", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}},
]


def test_info(tiny_llm_runner: ModelRunner, tiny_bert_runner: ModelRunner) -> None:
    info = tiny_llm_runner.info()
    assert info["kind"] == "causal" and info["architecture"] == "LlamaForCausalLM"
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["parameters"] > 0 and info["weight_bytes"] == 4 * info["parameters"]
    assert info["classify_method"] == "likelihood"
    assert tiny_bert_runner.info()["kind"] == "encoder"
    assert tiny_bert_runner.info()["classify_method"] == "similarity"


def test_generate_batch_left_padded_with_usage(tiny_llm_runner: ModelRunner) -> None:
    reqs = [
        GenerateRequest(prompt="The quick brown fox jumps over the lazy dog and", max_new_tokens=7),
        GenerateRequest(prompt="Alice", max_new_tokens=3),
        {"prompt": "Bob is", "max_new_tokens": 5, "temperature": 0.9, "top_p": 0.8, "seed": 1},
    ]
    out = tiny_llm_runner.run_batch(TaskKind.GENERATE, reqs)
    assert all(isinstance(r, GenerateResponse) for r in out)
    tok = tiny_llm_runner._ctx.lm.tokenizer
    for req, r in zip(reqs, out, strict=True):
        prompt = req["prompt"] if isinstance(req, dict) else req.prompt
        limit = req["max_new_tokens"] if isinstance(req, dict) else req.max_new_tokens
        assert r.usage.tokens_in == len(tok(prompt)["input_ids"])
        assert 1 <= r.usage.tokens_out <= limit
        assert r.usage.batch_size == 3 and r.usage.compute_ms > 0
        assert r.finish_reason in ("stop", "length")
    # Each request's compute is its share of one batch.
    assert len({r.usage.compute_ms for r in out}) == 1


def test_greedy_is_deterministic_and_batch_independent(tiny_llm_runner: ModelRunner) -> None:
    alone = tiny_llm_runner.run_batch("generate", [GenerateRequest(prompt="Alice is", max_new_tokens=6)])[0]
    batched = tiny_llm_runner.run_batch(
        "generate",
        [GenerateRequest(prompt="The quick brown fox jumps", max_new_tokens=6), GenerateRequest(prompt="Alice is", max_new_tokens=6)],
    )[1]
    # Left padding with an attention mask leaves a row's greedy output unchanged by its neighbours.
    assert alone.text == batched.text


def test_stop_strings_cut_output(tiny_llm_runner: ModelRunner) -> None:
    free = tiny_llm_runner.run_batch("generate", [GenerateRequest(prompt="Alice is", max_new_tokens=12)])[0]
    assert len(free.text) > 2
    stop = free.text[2:4]
    cut = tiny_llm_runner.run_batch("generate", [GenerateRequest(prompt="Alice is", max_new_tokens=12, stop=[stop])])[0]
    assert stop not in cut.text and free.text.startswith(cut.text)
    assert cut.finish_reason == "stop" and cut.usage.tokens_out < 12


def test_chat_uses_template(tiny_llm_runner: ModelRunner) -> None:
    req = ChatRequest(messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], max_new_tokens=4)
    [r] = tiny_llm_runner.run_batch("chat", [req])
    assert isinstance(r, ChatResponse) and r.message.role == "assistant"
    tok = tiny_llm_runner._ctx.lm.tokenizer
    expected = tok.apply_chat_template([m.model_dump() for m in req.messages], add_generation_prompt=True, tokenize=False)
    assert expected.endswith("<|im_start|>assistant\n")
    assert r.usage.tokens_in == len(tok(expected, add_special_tokens=False)["input_ids"])


def test_constrained_extract_is_schema_valid_from_random_model(tiny_llm_runner: ModelRunner) -> None:
    reqs = [
        ExtractRequest(text=t, json_schema=PERSON, max_new_tokens=120, temperature=temp)
        for t, temp in [("Alice is 31", 0.0), ("Bob, 45, gold member", 1.0), ("nobody", 1.5)]
    ]
    out = tiny_llm_runner.run_batch("extract", reqs)
    for r in out:
        assert isinstance(r, ExtractResponse), r
        validate(r.data, PERSON)
        assert json.loads(r.raw, strict=False) == r.data
        assert r.usage.tokens_out > 0 and r.usage.batch_size == 3


def test_unconstrained_extract_raises_invalid_output_with_raw(tiny_llm_runner: ModelRunner) -> None:
    [r] = tiny_llm_runner.run_batch("extract", [ExtractRequest(text="Alice is 31", json_schema=PERSON, constrained=False)])
    # A random model does not write schema-valid JSON by itself.
    assert isinstance(r, InvalidOutput) and r.retryable
    assert isinstance(r.raw, str) and r.raw != ""
    assert "schema" in str(r) or "JSON" in str(r)
    # Errors cross process boundaries (Ray) with their raw text.
    copy = pickle.loads(pickle.dumps(r))
    assert type(copy) is InvalidOutput and copy.raw == r.raw and copy.agent == "tinyllm"


def test_extract_truncated_output_is_invalid(tiny_llm_runner: ModelRunner) -> None:
    [r] = tiny_llm_runner.run_batch("extract", [ExtractRequest(text="Alice", json_schema=PERSON, max_new_tokens=3)])
    assert isinstance(r, InvalidOutput) and "max_new_tokens" in str(r) and r.raw


def test_tool_call_picks_a_given_tool_with_valid_arguments(tiny_llm_runner: ModelRunner) -> None:
    reqs = [ToolCallRequest(text="weather in Paris?", tools=TOOLS, max_new_tokens=120), ToolCallRequest(
        messages=[{"role": "user", "content": "ping it"}], tools=TOOLS, max_new_tokens=120, temperature=1.0
    )]
    for r in tiny_llm_runner.run_batch("tool_call", reqs):
        assert isinstance(r, ToolCallResponse), r
        params = {"get_weather": TOOLS[0]["function"]["parameters"], "ping": TOOLS[1]["parameters"]}
        assert r.name in params
        validate(r.arguments, params[r.name])


def test_classify_likelihood_scores_every_label(tiny_llm_runner: ModelRunner) -> None:
    reqs = [
        ClassifyRequest(text="I love it", labels=["positive", "negative", "neutral"]),
        ClassifyRequest(text="spam spam", labels=["spam", "ham"], examples=[{"text": "buy now", "label": "spam"}]),
    ]
    out = tiny_llm_runner.run_batch("classify", reqs)
    for req, r in zip(reqs, out, strict=True):
        assert isinstance(r, ClassifyResponse)
        assert list(r.scores) == req.labels and sum(r.scores.values()) == pytest.approx(1.0)
        assert r.label == max(r.scores, key=r.scores.__getitem__)
        assert r.usage.tokens_in > 0 and r.usage.tokens_out == 0
    # Scoring is a forward pass, not sampling: the same request scores the same.
    again = tiny_llm_runner.run_batch("classify", reqs[:1])[0]
    assert again.scores == pytest.approx(out[0].scores)


def test_classify_similarity_and_label_cache(tiny_bert_runner: ModelRunner) -> None:
    req = ClassifyRequest(
        text="I love this product",
        labels=["positive", "negative"],
        label_descriptions={"positive": "I love it, it is great"},
        examples=[{"text": "great product", "label": "positive"}, {"text": "it is terrible", "label": "negative"}],
    )
    [r] = tiny_bert_runner.run_batch("classify", [req])
    assert isinstance(r, ClassifyResponse) and sum(r.scores.values()) == pytest.approx(1.0)
    cache = tiny_bert_runner._ctx.cache("label_embeddings")
    assert {"I love it, it is great", "negative", "great product", "it is terrible"} <= set(cache)
    [again] = tiny_bert_runner.run_batch("classify", [req])
    assert again.scores == pytest.approx(r.scores)
    # Likelihood scoring needs a causal LM.
    [bad] = tiny_bert_runner.run_batch("classify", [req.model_copy(update={"method": "likelihood"})])
    assert isinstance(bad, InvalidRequest) and "causal" in str(bad)


def test_embed_shapes_normalisation_and_batch(tiny_bert_runner: ModelRunner) -> None:
    out = tiny_bert_runner.run_batch(
        "embed", [EmbedRequest(texts=["alice", "bob lives in lyon"]), EmbedRequest(texts="paris", normalize=False)]
    )
    a, b = out
    assert isinstance(a, EmbedResponse) and len(a.embeddings) == 2 and a.dim == 32 and b.dim == 32
    for v in a.embeddings:
        assert sum(x * x for x in v) == pytest.approx(1.0, abs=1e-5)
    assert sum(x * x for x in b.embeddings[0]) != pytest.approx(1.0, abs=1e-3)
    assert a.usage.tokens_in > b.usage.tokens_in and a.usage.batch_size == 2
    # Batched vectors equal vectors computed alone (padding masked out of the mean).
    [alone] = tiny_bert_runner.run_batch("embed", [EmbedRequest(texts=["alice"])])
    assert alone.embeddings[0] == pytest.approx(a.embeddings[0], abs=1e-5)


def test_bad_requests_fail_alone(tiny_llm_runner: ModelRunner) -> None:
    out = tiny_llm_runner.run_batch(
        "generate", [{"prompt": "ok", "max_new_tokens": 2}, {"prompt": "x", "max_new_tokens": 0}, {"nope": 1}]
    )
    assert isinstance(out[0], GenerateResponse) and out[0].usage.batch_size == 1
    assert isinstance(out[1], InvalidRequest) and "max_new_tokens" in str(out[1])
    assert isinstance(out[2], InvalidRequest) and "prompt" in str(out[2])
    [wrong_task] = tiny_llm_runner.run_batch("embed", [EmbedRequest(texts=["a"])])
    assert isinstance(wrong_task, InvalidRequest) and "does not serve task 'embed'" in str(wrong_task)
    long_prompt = "alice " * 3000
    [too_long] = tiny_llm_runner.run_batch("generate", [GenerateRequest(prompt=long_prompt)])
    assert isinstance(too_long, InvalidRequest) and "max_input_tokens" in str(too_long)
    [bad_schema] = tiny_llm_runner.run_batch("extract", [ExtractRequest(text="a", json_schema={"type": "nonsense"})])
    assert isinstance(bad_schema, InvalidRequest) and not bad_schema.retryable


def test_encoder_cannot_serve_generation(tiny_bert_dir: Path, tiny_llm_dir: Path) -> None:
    d: dict[str, Any] = tiny_agent_dicts(tiny_llm_dir, tiny_bert_dir)[1]
    spec = AgentSpec.model_validate({**d, "tasks": ["embed", "generate"]})
    with pytest.raises(ModelLoadError, match=r"\['generate'\] need a causal language model"):
        ModelRunner(spec).load()


def test_not_loaded_and_load_once(tiny_fleet: Any) -> None:
    runner = ModelRunner(tiny_fleet.get("tinybert"))
    with pytest.raises(AgentError, match="not loaded"):
        runner.run_batch("embed", [EmbedRequest(texts=["a"])])
    runner.load()
    model = runner._ctx.lm.model
    assert runner.load()._ctx.lm.model is model
