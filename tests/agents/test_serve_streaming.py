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
def gguf_fleet(serve_fleet: FleetSpec, tiny_gguf: Path) -> Iterator[FleetSpec]:
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]
    agents.append({
        "name": "tinygguf",
        "model": str(tiny_gguf),
        "tasks": ["generate", "chat", "extract"],
        "device": "cpu",
        "batching": {"max_batch_size": 4},
        "generation": {"max_new_tokens": 16},
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
