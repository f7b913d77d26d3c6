"""Escalation against a real OpenAI-compatible server: slmflow's own ingress serving SmolLM2.

The specialist is the fleet's MiniLM (or SmolLM2's constrained extraction); the "larger
model" is SmolLM2 reached over HTTP with the official openai client. The point under test
is when escalation happens, and that the run record shows it and its cost.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agents import protocol
from agents.client import agent
from agents.remote import RemoteAgent, RemoteSpec
from agents.spec import Pricing
from orchestrator import SQLiteStore, step, workflow
from tests.fixtures.ray_cluster import TEST_API_KEY
from workflows import escalation

pytestmark = pytest.mark.slow

LABELS = ["positive", "negative"]
TEXTS = [
    "I absolutely love this, it is wonderful and works perfectly!",
    "Terrible, broken on arrival, a total waste of money.",
    "The parcel arrived on a Tuesday.",
    "It is a blender.",
]


class Amount(BaseModel):
    amount: float


@pytest.fixture(scope="module")
def large(default_fleet_deployed: str) -> RemoteAgent:
    return RemoteAgent(RemoteSpec(name="big", base_url=default_fleet_deployed, model="smollm2", max_tokens=48,
                                  api_key=TEST_API_KEY,
                                  pricing=Pricing(usd_per_1k_tokens_in=0.01, usd_per_1k_tokens_out=0.03)))


async def test_remote_agent_returns_typed_responses_with_usage(large: RemoteAgent, default_fleet_deployed: str) -> None:
    chat = await large.chat("Say hello in three words.", max_new_tokens=12)
    assert isinstance(chat, protocol.ChatResponse) and chat.text
    assert chat.usage.tokens_in > 0 and chat.usage.tokens_out > 0
    assert chat.usage.cost_usd == pytest.approx(chat.usage.tokens_in * 0.01 / 1000 + chat.usage.tokens_out * 0.03 / 1000)
    got = await large.extract("The invoice total is 1250 dollars.", Amount)
    assert isinstance(got.data, Amount)
    label = await large.classify("I love it", LABELS)
    assert label.label in LABELS and sum(label.scores.values()) == 1
    # slmflow's ingress returns no log-probabilities: the scores say so instead of posing as 1.0 confidence.
    assert label.score_source == "choice"
    with pytest.raises(ValueError, match="not probabilities"):
        await escalation.classify("I love it", LABELS, specialist=large, large=large, threshold=0.5)
    enc = RemoteAgent(RemoteSpec(name="enc", base_url=default_fleet_deployed, model="minilm", api_key=TEST_API_KEY))
    emb = await enc.embed(["a", "b"])
    assert emb.dim == 384 and len(emb.embeddings) == 2


async def test_unreachable_endpoint_is_a_retryable_agent_error() -> None:
    from agents.errors import AgentUnavailable

    dead = RemoteAgent(RemoteSpec(name="dead", base_url="http://127.0.0.1:9/v1", model="x", max_retries=0, timeout_s=2))
    with pytest.raises(AgentUnavailable, match=r"127\.0\.0\.1:9"):
        await dead.chat("hi")


def _wf(store: SQLiteStore, large: RemoteAgent, threshold: float, specialist_name: str = "minilm"):
    @step
    async def label(text: str) -> dict:
        out = await escalation.classify(text, LABELS, specialist=agent(specialist_name), large=large,
                                        threshold=threshold)
        return {"label": out.value.label, "escalated": out.escalated, "reason": out.reason,
                "served_by": out.served_by, "confidence": out.confidence}

    @workflow(store=store, name="label")
    def labelled(text: str):
        return label(text)

    return labelled


async def test_escalates_exactly_when_confidence_is_under_the_threshold(large: RemoteAgent, tmp_path: Path) -> None:
    specialist = agent("minilm")
    confidences = [max((await specialist.classify(t, LABELS)).scores.values()) for t in TEXTS]
    # A threshold between the clear and the unclear texts' confidences: both sides are exercised.
    ordered = sorted(confidences)
    threshold = (ordered[1] + ordered[2]) / 2
    expected = [c < threshold for c in confidences]
    assert any(expected) and not all(expected)

    store = SQLiteStore(tmp_path / "runs.db")
    runs = await _wf(store, large, threshold).arun_many([{"text": t} for t in TEXTS], concurrency=4)
    for run, conf, should in zip(runs, confidences, expected, strict=True):
        assert run.status.value == "succeeded", run.error
        out = run.result
        assert out["escalated"] is should, (out, conf, threshold)
        assert out["confidence"] == pytest.approx(conf, abs=1e-6)
        assert out["served_by"] == ("big" if should else "minilm")
        assert out["reason"] == ("low_confidence" if should else None)
        usage = store.list_usage(run_id=run.run_id)
        escalated = [u for u in usage if u.escalated]
        # The specialist's call is always recorded; the large model's only when escalated, marked and priced.
        assert [u.agent for u in usage if not u.escalated] == ["minilm"]
        assert len(escalated) == (1 if should else 0)
        for u in escalated:
            assert u.agent == "big" and u.task == "classify" and u.cost_usd > 0 and u.tokens_in > 0


async def test_escalates_when_the_specialist_fails_for_good(large: RemoteAgent, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "runs.db")
    run = (await _wf(store, large, 0.0, specialist_name="no-such-agent").arun_many([{"text": TEXTS[0]}]))[0]
    assert run.result["escalated"] and run.result["reason"] == "specialist_failed"
    usage = store.list_usage(run_id=run.run_id)
    assert [u.agent for u in usage if u.escalated] == ["big"]


async def test_escalates_when_validation_rejects_the_output(large: RemoteAgent) -> None:
    text = "Please wire the deposit of 1250 dollars by Friday."
    smol = agent("smollm2")
    seen: list[float] = []

    def must_be(value: float):
        def check(data: Amount) -> bool:
            seen.append(data.amount)
            return data.amount == value
        return check

    first = await smol.extract(text, Amount)
    ok = await escalation.extract(text, Amount, specialist=smol, large=large, validate=must_be(first.data.amount))
    assert not ok.escalated and ok.value.data.amount == first.data.amount
    bad = await escalation.extract(text, Amount, specialist=smol, large=large, validate=must_be(first.data.amount + 1))
    assert bad.escalated and bad.reason == "invalid_output" and bad.served_by == "big"
    assert isinstance(bad.value.data, Amount)
    assert isinstance(bad.specialist_value, protocol.ExtractResponse)
