"""The agent client: sync variants, typed extraction, usage recorded per run and step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from agents import FleetSpec, agent

pytestmark = pytest.mark.timeout(180)


class Person(BaseModel):
    # Bounded, so a random tiny model decoding under the grammar finishes.
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=6)
    age: int = Field(ge=0, le=120)


def test_sync_calls_outside_an_event_loop(serve_fleet: FleetSpec) -> None:
    client = agent("tinyllm")
    assert isinstance(client.generate_sync("hi", max_new_tokens=3).text, str)
    assert client.chat_sync("hi", max_new_tokens=3).message.role == "assistant"
    assert agent("tinybert").embed_sync(["a", "b"]).dim > 0


async def test_sync_call_inside_a_loop_says_to_await(serve_fleet: FleetSpec) -> None:
    with pytest.raises(RuntimeError, match="await"):
        agent("tinyllm").generate_sync("hi")


async def test_extract_with_a_pydantic_model_returns_an_instance(serve_fleet: FleetSpec) -> None:
    resp = await agent("tinyllm").extract("Ann is 31", Person, max_new_tokens=120)
    assert 0 <= resp.data.age <= 120
    assert isinstance(resp.data, Person)


async def test_usage_is_recorded_with_run_and_step_inside_a_workflow(serve_fleet: FleetSpec, tmp_path: Path) -> None:
    from orchestrator import SQLiteStore, step, workflow

    @step
    async def embed_it(text: str) -> int:
        return (await agent("tinybert").embed(text)).dim

    @step
    def classify_it(text: str) -> str:  # sync step: runs in a thread, sync client
        return agent("tinybert").classify_sync(text, labels=["pos", "neg"]).label

    @workflow
    def flow(text: str):
        return embed_it(text), classify_it(text)

    store = SQLiteStore(tmp_path / "runs.db")
    handle = flow.with_options(store=store).start({"text": "lovely"})
    await handle.wait()
    records = store.list_usage(run_id=handle.run_id)
    by_step = {r.step: r for r in records}
    assert set(by_step) == {"embed_it", "classify_it"}, records
    for step_name, task in (("embed_it", "embed"), ("classify_it", "classify")):
        r = by_step[step_name]
        assert (r.run_id, r.agent, r.task, r.error) == (handle.run_id, "tinybert", task, None)
        assert r.tokens_in > 0 and r.replica_id and r.compute_ms > 0
    assert store.list_usage(agent="tinybert")


async def test_calls_outside_a_step_record_nothing(serve_fleet: FleetSpec) -> None:
    from orchestrator import current_step

    assert current_step() is None
    resp = await asyncio.wait_for(agent("tinybert").embed("x"), 60)
    assert resp.usage.replica_id


def test_the_call_deadline_and_the_rollout_surge_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from agents import InvalidRequest, SpecError
    from agents.client import DEFAULT_CALL_TIMEOUT_S, RetryConfig
    from agents.fleet import deployment_options

    monkeypatch.delenv("SLMFLOW_CALL_TIMEOUT_S", raising=False)
    assert RetryConfig().deadline_s == DEFAULT_CALL_TIMEOUT_S == 300
    monkeypatch.setenv("SLMFLOW_CALL_TIMEOUT_S", "7.5")
    assert RetryConfig().deadline_s == 7.5
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("SLMFLOW_CALL_TIMEOUT_S", bad)
        with pytest.raises(InvalidRequest, match="SLMFLOW_CALL_TIMEOUT_S"):
            RetryConfig()

    from agents.spec import AgentSpec

    spec = AgentSpec(name="x", model="sshleifer/tiny-gpt2", tasks=["generate"])
    monkeypatch.delenv("SLMFLOW_MAX_SURGE_PERCENT", raising=False)
    assert deployment_options(spec)["max_surge_percent"] == 25
    monkeypatch.setenv("SLMFLOW_MAX_SURGE_PERCENT", "0")
    assert deployment_options(spec)["max_surge_percent"] == 0
    monkeypatch.setenv("SLMFLOW_MAX_SURGE_PERCENT", "150")
    with pytest.raises(SpecError, match="SLMFLOW_MAX_SURGE_PERCENT"):
        deployment_options(spec)
