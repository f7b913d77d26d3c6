"""The real default fleet (SmolLM2, MiniLM) behind Serve gives real answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents import FleetSpec, agent, load_fleet
from agents.fleet import deploy, fleet_status
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def default_agents(serve_fleet: FleetSpec) -> Iterator[None]:
    """The default agents deployed beside the session's tiny ones (which stay untouched)."""
    deploy(serve_fleet, api_key=TEST_API_KEY)  # earlier tests may have left a changed spec deployed
    before = {n: {r.replica_id for r in a.replicas} for n, a in fleet_status().agents.items()}
    both = FleetSpec(agents=[*serve_fleet.agents, *load_fleet().agents])
    deploy(both, api_key=TEST_API_KEY, timeout_s=480)
    after = {n: {r.replica_id for r in a.replicas} for n, a in fleet_status().agents.items()}
    assert {n: after[n] for n in before} == before, "adding agents must not restart the others"
    yield
    deploy(serve_fleet, api_key=TEST_API_KEY)


async def test_minilm_classifies_a_clearly_positive_review(default_agents: None) -> None:
    resp = await agent("minilm").classify(
        "I absolutely love this phone: the screen is gorgeous and the battery lasts for days.",
        labels=["positive", "negative"],
        label_descriptions={"positive": "a happy, satisfied review", "negative": "an angry, disappointed review"},
    )
    assert resp.label == "positive", resp.scores
    assert resp.usage.replica_id and resp.usage.cost_usd > 0


async def test_smollm2_picks_the_right_tool(default_agents: None) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {
            "name": "send_email",
            "description": "Send an email to a recipient",
            "parameters": {
                "type": "object",
                "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                "required": ["to", "body"],
            },
        },
    ]
    resp = await agent("smollm2").tool_call("What's the weather like in Paris today?", tools, max_new_tokens=48)
    assert resp.name == "get_weather", resp.raw
    assert "paris" in str(resp.arguments.get("city", "")).lower(), resp.arguments
