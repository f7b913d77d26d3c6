"""Streaming and continuous batching through real Serve: the tiny transformers agent of the
session fleet, and a tiny GGUF agent on the llama_cpp engine deployed beside it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agents import FleetSpec, agent
from agents.errors import InvalidRequest
from agents.fleet import deploy, fleet_status
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def gguf_fleet(serve_fleet: FleetSpec, tiny_gguf: Path, tiny_loras: dict[str, Path]) -> Iterator[FleetSpec]:
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]
    agents.append({
        "name": "tinygguf",
        "model": str(tiny_gguf),
        "tasks": ["generate", "chat", "extract"],
        "device": "cpu",
        "batching": {"max_batch_size": 4},
        "generation": {"max_new_tokens": 16},
        "adapters": [str(p) for p in tiny_loras.values()],
    })
    fleet = FleetSpec(agents=agents)
    deploy(fleet, api_key=TEST_API_KEY, timeout_s=180)
    yield fleet
    deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=180)


async def _collect(name: str, **kwargs: Any) -> tuple[list[Any], float | None]:
    chunks: list[Any] = []
    first: float | None = None
    t0 = time.perf_counter()
    async for chunk in agent(name).stream(**kwargs):
        if first is None and chunk.text:
            first = time.perf_counter() - t0
        chunks.append(chunk)
    return chunks, first


@pytest.mark.parametrize("name", ["tinyllm", "tinygguf"])
async def test_stream_yields_pieces_then_usage(gguf_fleet: FleetSpec, name: str) -> None:
    chunks, first = await _collect(name, prompt="The quick brown", max_new_tokens=12)
    pieces = [c.text for c in chunks if c.text]
    last = chunks[-1]
    assert len(pieces) >= 2 and first is not None
    assert last.finish_reason in {"stop", "length"} and last.usage is not None
    assert last.usage.tokens_out == 12 and last.usage.replica_id
    # The pieces are the answer: the same request without streaming gives the same text.
    whole = await agent(name).generate("The quick brown", max_new_tokens=12)
    assert "".join(pieces) == whole.text


async def test_chat_streams_through_the_chat_template(gguf_fleet: FleetSpec) -> None:
    chunks, _ = await _collect("tinygguf", messages="hello there", max_new_tokens=6)
    assert chunks[-1].usage is not None and chunks[-1].usage.tokens_in > 3


async def test_a_stream_past_its_deadline_is_cancelled(gguf_fleet: FleetSpec) -> None:
    from agents.client import AgentClient, RetryConfig
    from agents.errors import AgentTimeout

    slow = AgentClient("tinyllm", retry=RetryConfig(deadline_s=0.3))
    with pytest.raises(AgentTimeout, match="deadline"):
        async for _ in slow.stream(prompt="The quick brown", max_new_tokens=1000):
            pass


async def test_stream_needs_exactly_one_of_prompt_or_messages(gguf_fleet: FleetSpec) -> None:
    with pytest.raises(InvalidRequest, match="exactly one"):
        async for _ in agent("tinygguf").stream():
            pass


async def test_leaving_a_stream_early_releases_the_request(gguf_fleet: FleetSpec) -> None:
    got = 0
    async for chunk in agent("tinygguf").stream(prompt="The quick brown", max_new_tokens=1000):
        got += bool(chunk.text)
        if got == 2:
            break
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (fleet_status().agents["tinygguf"].queue_depth or 0) == 0:
            break
        await asyncio.sleep(0.2)
    assert (fleet_status().agents["tinygguf"].queue_depth or 0) == 0
    assert (await agent("tinygguf").generate("Alice", max_new_tokens=2)).usage.tokens_out == 2


def test_status_reports_engine_and_prefix_cache_hits(gguf_fleet: FleetSpec) -> None:
    doc = "Send an email to bob@example.com about the meeting at 3pm. " * 4
    for q in ["Who?", "When?"]:
        agent("tinygguf").chat_sync([{"role": "system", "content": doc}, {"role": "user", "content": q}],
                                    max_new_tokens=2)
    status = fleet_status().agents
    assert status["tinygguf"].engine == "llama_cpp" and status["tinyllm"].engine == "transformers"
    assert status["tinygguf"].prefix_cache_hit_rate is not None and status["tinygguf"].prefix_cache_hit_rate > 0
    assert status["tinyllm"].prefix_cache_hit_rate is None


def test_replicas_run_at_normal_priority(gguf_fleet: FleetSpec) -> None:
    import os

    # Ray starts workers at nice 15; a model server at that priority loses its CPU to the
    # driver and the proxies on a shared machine. They run at the driver's own priority.
    pids = [r.pid for a in fleet_status().agents.values() for r in a.replicas if r.pid]
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert pids and all(os.getpriority(os.PRIO_PROCESS, pid) == mine for pid in pids)


async def test_llama_cpp_agent_returns_short_requests_while_long_ones_decode(gguf_fleet: FleetSpec) -> None:
    client = agent("tinygguf", coalesce=False)
    long_task = asyncio.create_task(client.generate("The quick brown", max_new_tokens=1000))
    await asyncio.sleep(0.05)
    shorts = await asyncio.gather(*(client.generate(f"Alice {i}", max_new_tokens=2) for i in range(3)))
    assert all(r.usage.tokens_out == 2 for r in shorts)
    long = await long_task
    assert long.usage.tokens_out == 1000
    # Each request was its own call into the engine: no request waited for a batch to fill.
    assert all(r.usage.batch_size == 1 for r in [*shorts, long])


# -- the OpenAI ingress: stream=true as server-sent events the official SDK reads ---------------


@pytest.fixture(scope="module")
def sdk(gguf_fleet: FleetSpec) -> Any:
    import openai

    url = fleet_status().http_url
    return openai.OpenAI(base_url=f"{url}/v1", api_key=TEST_API_KEY, max_retries=0, timeout=60)


@pytest.mark.parametrize("model", ["tinyllm", "tinygguf"])
def test_sdk_streams_chat_with_usage_at_the_end(sdk: Any, model: str) -> None:
    stream = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8, temperature=0, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices[0].finish_reason in {"stop", "length"}
    assert last.usage is not None and last.usage.completion_tokens == 8 and last.usage.prompt_tokens > 0
    whole = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hi"}], max_tokens=8, temperature=0
    )
    assert text.strip() == whole.choices[0].message.content


def test_sdk_streams_completions(sdk: Any) -> None:
    chunks = list(sdk.completions.create(model="tinygguf", prompt="The quick brown", max_tokens=6, stream=True))
    assert sum(bool(c.choices and c.choices[0].text) for c in chunks) >= 2
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_sdk_streams_a_structured_answer_whole(sdk: Any) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}}, "required": ["name"],
              "additionalProperties": False}
    chunks = list(sdk.chat.completions.create(
        model="tinygguf", messages=[{"role": "user", "content": "Your name?"}], max_tokens=40, stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    ))
    import json

    from jsonschema import validate

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    validate(json.loads(text), schema)


def test_http_client_disconnect_mid_stream_cancels_the_sequence(gguf_fleet: FleetSpec) -> None:
    import httpx
    from ray import serve

    from agents.fleet import APP_NAME

    handle = serve.get_deployment_handle("tinygguf", APP_NAME)
    before = handle.stats.remote().result()["engine_stats"]["streams_cancelled"]
    url = fleet_status().http_url
    body = {"model": "tinygguf", "prompt": "The quick brown", "max_tokens": 1000, "stream": True}
    with httpx.stream("POST", f"{url}/v1/completions", json=body,
                      headers={"Authorization": f"Bearer {TEST_API_KEY}"}, timeout=60) as resp:
        assert resp.status_code == 200
        events = 0
        for line in resp.iter_lines():
            events += line.startswith("data: ")
            if events == 2:
                break  # the client goes away mid-answer
    deadline = time.monotonic() + 20
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = handle.stats.remote().result()
        if stats["engine_stats"]["streams_cancelled"] > before and stats["pending"] == 0:
            break
        time.sleep(0.2)
    assert stats["engine_stats"]["streams_cancelled"] == before + 1, stats
    assert stats["pending"] == 0


async def test_two_adapters_share_one_replica(gguf_fleet: FleetSpec) -> None:
    client = agent("tinygguf")
    order = [None, "invoice", "support"] * 2
    outs = await asyncio.gather(*(client.generate("The quick brown", max_new_tokens=8, adapter=a) for a in order))
    texts = [o.text for o in outs]
    assert len(set(texts[:3])) == 3 and texts[:3] == texts[3:]
    assert len({o.usage.replica_id for o in outs}) == 1
    status = fleet_status().agents["tinygguf"]
    assert status.replicas_running == 1
