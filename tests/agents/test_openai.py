"""The fleet's OpenAI-compatible endpoint answers the official `openai` client."""

from __future__ import annotations

import os

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
        model="tinyllm", messages=[{"role": "user", "content": "weather in Paris?"}], tools=tools, max_tokens=120
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    import json

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
    import httpx

    assert httpx.get(f"{base_url}/models", timeout=30).status_code == 401


def test_unknown_model_and_wrong_task_are_clear_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="tinyllm"):
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="does not serve"):
        client.embeddings.create(model="tinyllm", input="x")


def test_bad_bodies_and_streaming_get_openai_style_errors(base_url: str) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {TEST_API_KEY}"}
    cases = [
        (b"{not json", "not JSON"),
        (b'{"model": "tinyllm"}', "messages"),  # the body model names the missing field
        (b'{"model": "tinyllm", "stream": true, "messages": [{"role": "user", "content": "x"}]}', "stream"),
        (b'{"model": "tinyllm", "temperature": 9, "messages": [{"role": "user", "content": "x"}]}', "temperature"),
    ]
    for raw, needle in cases:
        resp = httpx.post(f"{base_url}/chat/completions", content=raw, headers=auth, timeout=60)
        assert resp.status_code == 400, (raw, resp.text)
        error = resp.json()["error"]
        assert needle in error["message"] and error["type"] == "invalid_request_error", (raw, error)
