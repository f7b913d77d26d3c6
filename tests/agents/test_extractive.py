"""Extractive decoding: free string fields held to verbatim spans of the input, on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from agents.protocol import ExtractRequest, ExtractResponse, ToolCallRequest, ToolCallResponse
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from agents.specialists.adapters import Row, copies_input
from agents.tasks._spans import extractive_schema, spans

ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "product": {"type": "string", "maxLength": 12},
        "urgency": {"enum": ["low", "high"]},
        "code": {"type": "string", "pattern": "^[A-Z]+$"},
        "quantity": {"type": "integer"},
    },
    "required": ["customer", "product"],
}
TEXTS = ["Hey, order #A95082 - 6 pieces of monitor arm. Ines Costa",
         "I (Siobhan O'Neill) want 2 USB-C docks for RK-889.",
         "Ship the kettle to Wei Zhang, urgent!",
         "Ben Ortiz: 3 lamps please."]


def test_spans_are_whole_words_as_written() -> None:
    got = spans("Hey, order #A95082 - (Ines Costa) got 2 USB-C docks from O'Neill.")
    for span in ("A95082", "Ines Costa", "USB-C docks", "O'Neill", "order #A95082", "Hey,"):
        assert span in got
    for not_a_span in (" A95082", "A9508", "Ines Cost", "USB", "Neill", "Costa "):
        assert not_a_span not in got
    assert len(spans(" ".join(f"w{i}" for i in range(30)), max_tokens=3)) == 30 + 29 + 28


def test_only_free_string_fields_are_narrowed() -> None:
    text = "Hey, order #A95082 - 6 pieces of monitor arm. Ines Costa"
    out = extractive_schema(ORDER, text)["properties"]
    assert "Ines Costa" in out["customer"]["enum"] and "A95082" in out["customer"]["enum"]
    # maxLength keeps its meaning: no span longer than 12 characters is offered.
    assert "monitor arm" in out["product"]["enum"] and max(map(len, out["product"]["enum"])) <= 12
    for untouched in ("urgency", "code", "quantity"):
        assert out[untouched] == ORDER["properties"][untouched]
    assert ORDER["properties"]["customer"] == {"type": "string"}, "the caller's schema is not modified"


def test_nested_and_optional_strings_of_a_pydantic_schema_are_narrowed() -> None:
    class Item(BaseModel):
        name: str

    class Order(BaseModel):
        items: list[Item]
        note: str | None = None

    out = extractive_schema(Order.model_json_schema(), "two lamps and a desk")
    assert "two lamps" in out["$defs"]["Item"]["properties"]["name"]["enum"]
    string, null = out["properties"]["note"]["anyOf"]
    assert "a desk" in string["enum"] and null == {"type": "null"}


def test_extractive_needs_the_grammar() -> None:
    with pytest.raises(ValidationError, match="extractive=True needs constrained=True"):
        ExtractRequest(text="a", json_schema=ORDER, constrained=False, extractive=True)
    with pytest.raises(ValidationError, match="extractive=True needs constrained=True"):
        ToolCallRequest(text="a", tools=[{"name": "t"}], constrained=False, extractive=True)


def test_copies_input_decides_from_the_answers() -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}
    copied = [Row(ExtractRequest(text="Al is 3.", json_schema=schema), {"name": "Al", "n": 3}),
              Row(ExtractRequest(text="Bo Li is 4.", json_schema=schema), {"name": "Bo Li", "n": 4})]
    assert copies_input("extract", copied)
    paraphrased = Row(ExtractRequest(text="ALICE is 5.", json_schema=schema), {"name": "Alice", "n": 5})
    assert not copies_input("extract", [*copied, paraphrased])
    tools = [{"name": "ship", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    call = Row(ToolCallRequest(messages=[{"role": "user", "content": "send it to Oslo"}], tools=tools),
               {"name": "ship", "arguments": {"city": "Oslo"}})
    assert copies_input("tool_call", [call]) and not copies_input("chat", [call])


def _runner(path: Path, engine: str) -> ModelRunner:
    spec = AgentSpec(name=f"spans-{engine.replace('_', '-')}", model=str(path), engine=engine,
                     tasks=["extract", "tool_call"], device="cpu", generation={"max_new_tokens": 200})
    return ModelRunner(spec).load()


@pytest.fixture(scope="module", params=["transformers", "llama_cpp"])
def runner(request: pytest.FixtureRequest, tiny_gguf: Path, tiny_llm_dir: Path) -> Any:
    r = _runner(tiny_gguf if request.param == "llama_cpp" else tiny_llm_dir, request.param)
    yield r
    close = getattr(r.engine, "close", None)
    if close:
        close()


def test_a_random_model_can_only_copy(runner: ModelRunner) -> None:
    # A randomly initialised model writes arbitrary tokens: only the grammar makes its answers
    # spans of the text.
    schema = {"type": "object", "properties": {"customer": {"type": "string"}, "product": {"type": "string"}},
              "required": ["customer", "product"], "additionalProperties": False}
    outs = runner.run_batch("extract", [ExtractRequest(text=t, json_schema=schema, extractive=True) for t in TEXTS])
    # Any two spans of these short texts fit the token budget, so every answer ends (a random
    # model unconstrained never does: it writes until the budget runs out).
    assert all(isinstance(o, ExtractResponse) for o in outs), outs
    for text, out in zip(TEXTS, outs, strict=True):
        assert out.data["customer"] in spans(text) and out.data["product"] in spans(text), (text, out.data)
    tools = [{"name": "ship", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                             "required": ["city"], "additionalProperties": False}}]
    [call] = runner.run_batch("tool_call", [ToolCallRequest(messages=[{"role": "user", "content": "send it to Oslo"}],
                                                            tools=tools, extractive=True)])
    assert isinstance(call, ToolCallResponse) and call.arguments["city"] in spans("send it to Oslo")
