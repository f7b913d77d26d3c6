"""The issue's structured-output requests, through the `openai` SDK, against the real default SmolLM2."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import openai
import pytest

from agents import FleetSpec, load_fleet
from agents.fleet import deploy, fleet_status
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def client(serve_fleet: FleetSpec) -> Iterator[openai.OpenAI]:
    """The default agents beside the session's tiny ones (as tests/agents/test_serve_default_fleet.py deploys them)."""
    deploy(FleetSpec(agents=[*serve_fleet.agents, *load_fleet().agents]), api_key=TEST_API_KEY, timeout_s=480)
    yield openai.OpenAI(base_url=f"{fleet_status().http_url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=120)
    deploy(serve_fleet, api_key=TEST_API_KEY)


def test_json_schema_for_a_name_is_json_not_a_rambling_fence(client: openai.OpenAI) -> None:
    # Exactly the request that came back as free text in a Markdown fence, cut at the token limit.
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "My name is Ada Lovelace. What is my name?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
        max_tokens=64,
    )
    data = json.loads(resp.choices[0].message.content)
    jsonschema.validate(data, schema)
    assert "ada" in data["name"].lower(), data
    assert resp.choices[0].finish_reason == "stop" and resp.usage.completion_tokens < 64


def test_tool_choice_auto_calls_the_weather_tool_for_a_weather_question(client: openai.OpenAI) -> None:
    # additionalProperties false: llama.cpp's schema grammar (unlike xgrammar's strict mode)
    # lets the model add properties the schema leaves open, and SmolLM2 then rambles.
    tools = [
        {"type": "function", "function": {
            "name": "get_weather", "description": "Get the current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                           "additionalProperties": False}}},
        {"type": "function", "function": {
            "name": "send_email", "description": "Send an email to a recipient",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                           "required": ["to", "body"], "additionalProperties": False}}},
    ]
    resp = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "What's the weather like in Paris today?"}],
        tools=tools, max_tokens=48,
    )
    msg = resp.choices[0].message
    assert msg.tool_calls, f"answered in text instead: {msg.content!r}"
    call = msg.tool_calls[0].function
    assert call.name == "get_weather" and "paris" in json.loads(call.arguments).get("city", "").lower(), call
