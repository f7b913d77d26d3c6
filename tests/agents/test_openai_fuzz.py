"""Fuzzing the ingress with HTTP bodies: every answer is a 2xx, or a 4xx with an OpenAI-style JSON error.

Never a 5xx and never a hang. Bodies range from random bytes through random JSON to
near-valid requests with one field gone wrong, so most reach the body models and the
agents' own validation; the valid ones run the tiny model with a few tokens.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents import FleetSpec
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(300)

# Per request: a hang shows as a timeout well before the test's own.
REQUEST_TIMEOUT_S = 30

_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
_small_schema = st.sampled_from([
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["a"],
     "additionalProperties": False},
    {"type": "object", "properties": {"s": {"type": "string", "maxLength": 3}}, "additionalProperties": False},
    {"type": "object"},
    {"type": "nonsense"},
    {"type": "array", "items": {"type": "boolean"}, "maxItems": 2},
]) | _json
_tool = st.fixed_dictionaries(
    {"type": st.sampled_from(["function", "other"]),
     "function": st.fixed_dictionaries({"name": st.sampled_from(["get_x", "bad name!", "", "y" * 70]),
                                        "parameters": _small_schema})},
) | _json
_role = st.sampled_from(["system", "user", "assistant", "tool", "developer", "function", ""])
_content = st.text(max_size=30) | st.none() | st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url"]), "text": st.text(max_size=8) | _scalars})
    | _json, max_size=2,
)
_message = st.fixed_dictionaries({"role": _role, "content": _content}) | _json
_model = st.sampled_from(["tinyllm", "tinybert", "nope", ""]) | _scalars
_max_tokens = st.integers(-2, 12) | st.sampled_from([0, 10**6, 2**63]) | _scalars
_response_format = st.sampled_from([{"type": "text"}, {"type": "json_object"}, {"type": "json_schema"}]) | st.builds(
    lambda schema: {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}, _small_schema
) | _json
_tool_choice = st.sampled_from(["auto", "none", "required", "sometimes"]) | st.builds(
    lambda name: {"type": "function", "function": {"name": name}}, st.sampled_from(["get_x", "missing"])
) | _json

_chat = st.fixed_dictionaries(
    {"model": _model, "messages": st.lists(_message, max_size=3) | _json},
    optional={
        "max_tokens": _max_tokens,
        "temperature": st.floats(-1, 3) | _scalars,
        "stop": st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=2) | _scalars,
        "tools": st.lists(_tool, max_size=2) | _json,
        "tool_choice": _tool_choice,
        "response_format": _response_format,
        "n": st.integers(0, 3),
        "stream": st.booleans(),
    },
)
# Requests the agents serve (a few tokens each), with the structured-output options in play.
_valid_chat = st.fixed_dictionaries(
    {"model": st.just("tinyllm"),
     "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user"]),
                                                 "content": st.text(max_size=30)}), min_size=1, max_size=2),
     "max_tokens": st.integers(1, 12)},
    optional={
        "temperature": st.floats(0, 2),
        "tools": st.lists(st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["get_x", "get_y"]), "parameters": _small_schema})}), min_size=1, max_size=2),
        "tool_choice": _tool_choice,
        "response_format": _response_format,
        "stop": st.lists(st.text(max_size=3), max_size=2),
    },
)
_completion = st.fixed_dictionaries(
    {"model": _model, "prompt": st.text(max_size=20) | st.lists(st.text(max_size=8), max_size=3) | _json},
    optional={"max_tokens": _max_tokens, "stop": _scalars, "seed": _scalars},
)
_embedding = st.fixed_dictionaries(
    {"model": _model, "input": st.text(max_size=20) | st.lists(st.text(max_size=8), max_size=3) | _json},
    optional={"encoding_format": st.sampled_from(["float", "base64", "int8"]) | _scalars},
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


_bodies = st.one_of(
    st.binary(max_size=64),
    _json.map(_encode),
    st.tuples(st.just("/chat/completions"), _chat.map(_encode)),
    st.tuples(st.just("/chat/completions"), _valid_chat.map(_encode)),
    st.tuples(st.just("/completions"), _completion.map(_encode)),
    st.tuples(st.just("/embeddings"), _embedding.map(_encode)),
    # Valid bodies cut or corrupted at a random byte: truncated JSON, invalid UTF-8.
    st.tuples(_chat.map(_encode), st.integers(0, 200), st.sampled_from([b"", b"\xff", b"\xc3", b"\x00"])).map(
        lambda t: t[0][: t[1]] + t[2]
    ),
)
_paths = st.sampled_from(["/chat/completions", "/completions", "/embeddings", "/models"])


@pytest.fixture(scope="module")
def http(serve_fleet: FleetSpec) -> httpx.Client:
    from agents.fleet import fleet_status

    url = fleet_status().http_url
    assert url
    with httpx.Client(base_url=f"{url}/v1", timeout=REQUEST_TIMEOUT_S) as client:
        yield client


@settings(
    max_examples=int(os.environ.get("SLMFLOW_FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,
    derandomize=True,  # the same bodies in every run, so CI stays reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
# About one request in six goes without the API key.
@given(body=_bodies, path=_paths, authorized=st.sampled_from([True, True, True, True, True, False]), content_type=st.booleans())
def test_every_answer_is_2xx_or_a_json_4xx(
    http: httpx.Client, body: bytes | tuple[str, bytes], path: str, authorized: bool, content_type: bool
) -> None:
    if isinstance(body, tuple):
        path, body = body
    headers = {"Authorization": f"Bearer {TEST_API_KEY}"} if authorized else {}
    if content_type:
        headers["Content-Type"] = "application/json"
    try:
        if path == "/models":
            resp = http.get(path, headers=headers)
        else:
            resp = http.post(path, content=body, headers=headers)
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {REQUEST_TIMEOUT_S}s to POST {path} {body[:200]!r}")
    assert resp.status_code < 500, (path, body[:300], resp.status_code, resp.text[:500])
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        # stream=true: every event is JSON (an error after the start travels as one), then [DONE].
        events = [line.removeprefix("data: ") for line in resp.text.splitlines() if line.startswith("data: ")]
        assert resp.status_code == 200 and events and events[-1] == "[DONE]", resp.text[-300:]
        assert all(isinstance(json.loads(e), dict) for e in events[:-1]), resp.text[:300]
        return
    payload = resp.json()  # every other answer, error or not, is JSON
    if resp.status_code >= 400:
        error = payload["error"]
        assert isinstance(error["message"], str) and error["message"], payload
        assert isinstance(error["type"], str), payload
    else:
        assert resp.status_code == 200 and isinstance(payload, dict), payload
