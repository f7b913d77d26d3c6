"""The fleet's OpenAI-compatible endpoint answers the official `openai` client."""

from __future__ import annotations

import json
import os

import httpx
import jsonschema
import openai
import pytest

from agents import FleetSpec
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def base_url(serve_fleet: FleetSpec) -> str:
    from agents.fleet import fleet_status

    url = fleet_status().http_url
    assert url and url.startswith("http://127.0.0.1:"), f"must bind loopback by default, got {url}"
    assert url.endswith(f":{os.environ['SLMFLOW_HTTP_PORT']}")
    return f"{url}/v1"


@pytest.fixture(scope="module")
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=TEST_API_KEY, max_retries=0, timeout=60)


def test_models_lists_the_agents(client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {"tinyllm", "tinybert"}


def test_chat_completion(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm", messages=[{"role": "user", "content": "Say hi"}], max_tokens=5, temperature=0
    )
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in {"stop", "length"}
    assert resp.usage.prompt_tokens > 0 and 0 < resp.usage.completion_tokens <= 5


def test_chat_with_tools_returns_a_tool_call(client: openai.OpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "weather for a city",
                # Bounded, so a random tiny model decoding under the grammar finishes.
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "maxLength": 5}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    resp = client.chat.completions.create(
        model="tinyllm", messages=[{"role": "user", "content": "weather in Paris?"}], tools=tools, max_tokens=120,
        tool_choice="required",
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments), dict)


def test_completions_batch_of_prompts(client: openai.OpenAI) -> None:
    resp = client.completions.create(model="tinyllm", prompt=["one", "two", "three"], max_tokens=3)
    assert [c.index for c in resp.choices] == [0, 1, 2]
    assert all(isinstance(c.text, str) for c in resp.choices)


def test_embeddings_float_and_base64(client: openai.OpenAI) -> None:
    # The official client asks for base64 by default and decodes it.
    default = client.embeddings.create(model="tinybert", input=["alpha", "beta"])
    floats = client.embeddings.create(model="tinybert", input=["alpha", "beta"], encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) > 0
    for a, b in zip(default.data[0].embedding, floats.data[0].embedding, strict=True):
        assert abs(a - b) < 1e-5


def test_wrong_or_missing_token_is_rejected(base_url: str) -> None:
    bad = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.get(f"{base_url}/models", timeout=30).status_code == 401


def test_unknown_model_and_wrong_task_are_clear_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="tinyllm"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="does not serve"):
        client.embeddings.create(model="tinyllm", input="x")


def test_bad_bodies_get_openai_style_errors(base_url: str) -> None:
    auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
    cases = [
        (b"{not json", "not JSON"),
        (b'{"model": "tinyllm"}', "messages"),  # the body model names the missing field
        (b'{"model": "tinyllm", "temperature": 9, "messages": [{"role": "user", "content": "x"}]}', "temperature"),
    ]
    for raw, needle in cases:
        resp = httpx.post(f"{base_url}/chat/completions", content=raw, headers=auth, timeout=60)
        assert resp.status_code == 400, (raw, resp.text)
        error = resp.json()["error"]
        assert needle in error["message"] and error["type"] == "invalid_request_error", (raw, error)


# -- structured outputs (response_format, tool_choice) --------------------------------------

# The schema of the issue's `{name}` request; bounded so a random tiny model finishes under the grammar.
NAME_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 8}},
    "required": ["name"],
    "additionalProperties": False,
}
_ARGS = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 5}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "weather for a city", "parameters": _ARGS}},
    # `strict` is part of the OpenAI tool form; the ingress accepts it (it always constrains).
    {"type": "function", "function": {"name": "get_time", "description": "time in a city", "parameters": _ARGS,
                                      "strict": True}},
]
ASK = [{"role": "system", "content": "You extract names."}, {"role": "user", "content": "I am Ada Lovelace."}]


def test_json_schema_response_is_schema_valid_json(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm",
        messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": NAME_SCHEMA, "strict": True}},
        max_tokens=64,
    )
    choice = resp.choices[0]
    data = json.loads(choice.message.content)  # no Markdown fence, no prose
    jsonschema.validate(data, NAME_SCHEMA)
    assert choice.finish_reason == "stop" and resp.usage.completion_tokens > 0


def test_json_object_response_is_a_json_object(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm", messages=ASK, response_format={"type": "json_object"}, max_tokens=64, temperature=0
    )
    assert isinstance(json.loads(resp.choices[0].message.content), dict)


def test_response_format_text_is_plain_chat(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm", messages=ASK, response_format={"type": "text"}, max_tokens=4, temperature=0
    )
    assert isinstance(resp.choices[0].message.content, str) and resp.choices[0].finish_reason in {"stop", "length"}


def test_output_that_cannot_fit_the_schema_is_a_422_not_free_text(client: openai.OpenAI) -> None:
    long_name = {"type": "object", "properties": {"name": {"type": "string", "minLength": 40}}, "required": ["name"]}
    with pytest.raises(openai.UnprocessableEntityError, match="raise max_tokens") as info:
        client.chat.completions.create(
            model="tinyllm",
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": long_name}},
            max_tokens=4,
        )
    assert info.value.body["type"] == "invalid_output"


def test_tool_choice_required_calls_one_of_the_tools(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm", messages=[{"role": "user", "content": "weather in Paris?"}], tools=TOOLS,
        tool_choice="required", max_tokens=120,
    )
    choice = resp.choices[0]
    (call,) = choice.message.tool_calls
    assert choice.finish_reason == "tool_calls" and call.function.name in {"get_weather", "get_time"}
    jsonschema.validate(json.loads(call.function.arguments), _ARGS)


def test_tool_choice_named_function_calls_that_function(client: openai.OpenAI) -> None:
    for name in ("get_weather", "get_time"):
        resp = client.chat.completions.create(
            model="tinyllm", messages=[{"role": "user", "content": "Paris?"}], tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": name}}, max_tokens=120,
        )
        (call,) = resp.choices[0].message.tool_calls
        assert call.function.name == name
        jsonschema.validate(json.loads(call.function.arguments), _ARGS)


def test_tool_choice_none_answers_in_text(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="tinyllm", messages=[{"role": "user", "content": "Paris?"}], tools=TOOLS, tool_choice="none",
        max_tokens=4,
    )
    msg = resp.choices[0].message
    assert not msg.tool_calls and isinstance(msg.content, str)


def test_tool_choice_auto_is_a_valid_call_or_a_text_answer(client: openai.OpenAI) -> None:
    """Auto: under the grammar, a call of a real tool or `reply_in_text` (then a chat answer); both well formed."""
    for content in ("weather in Paris?", "hello", "what time is it in Rome?"):
        resp = client.chat.completions.create(
            model="tinyllm", messages=[{"role": "user", "content": content}], tools=TOOLS, max_tokens=60,
        )
        choice = resp.choices[0]
        if choice.message.tool_calls:
            (call,) = choice.message.tool_calls
            assert choice.finish_reason == "tool_calls" and call.function.name in {"get_weather", "get_time"}
            jsonschema.validate(json.loads(call.function.arguments), _ARGS)
        else:
            assert isinstance(choice.message.content, str) and choice.finish_reason in {"stop", "length"}
        # The choice step's tokens are counted with the answer's.
        assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0


def test_bad_structured_output_requests_are_400s(client: openai.OpenAI) -> None:
    user = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="not one of the tools"):
        client.chat.completions.create(
            model="tinyllm", messages=user, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}
        )
    with pytest.raises(openai.BadRequestError, match="tool_choice needs tools"):
        client.chat.completions.create(model="tinyllm", messages=user, tool_choice="required")
    with pytest.raises(openai.BadRequestError, match="json_schema"):
        client.chat.completions.create(model="tinyllm", messages=user, response_format={"type": "json_schema"})
    with pytest.raises(openai.BadRequestError, match="not a valid JSON schema"):
        client.chat.completions.create(
            model="tinyllm", messages=user,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "properties": {"a": {"type": "nonsense"}}}}},
        )
    with pytest.raises(openai.BadRequestError, match="must describe a JSON object"):
        client.chat.completions.create(
            model="tinyllm", messages=user,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string"}}},
        )
    with pytest.raises(openai.BadRequestError, match="must describe a JSON object"):
        client.chat.completions.create(
            model="tinyllm", messages=user, tool_choice="required",
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}],
        )
    with pytest.raises(openai.BadRequestError, match="image_url"):
        client.chat.completions.create(
            model="tinyllm",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}],
        )
    # tinybert serves neither chat nor extract: the error names what the request needs.
    with pytest.raises(openai.BadRequestError, match="does not serve extract"):
        client.chat.completions.create(model="tinybert", messages=user, response_format={"type": "json_object"})


# -- what the ingress reads -----------------------------------------------------------------


def test_invalid_utf8_deep_json_and_huge_bodies_are_4xx(base_url: str) -> None:
    from agents.openai_api import MAX_BODY_BYTES

    auth = {"Authorization": f"Bearer {TEST_API_KEY}", "Content-Type": "application/json"}
    cases = [
        (b'{"model": "tinyllm", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper"),
        (b'{"a":' * 100 + b"1" + b"}" * 100, 400, "nested deeper"),  # parses, but deeper than the limit
        (b"[1, 2]", 400, "JSON object"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "limit"),
    ]
    for raw, status, needle in cases:
        resp = httpx.post(f"{base_url}/chat/completions", content=raw, headers=auth, timeout=60)
        assert resp.status_code == status, (raw[:40], resp.text[:300])
        assert needle in resp.json()["error"]["message"], resp.text[:300]
