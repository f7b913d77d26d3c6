"""Failed and good redeploys over the session fleet (issue 10, items 2 and 3).

A new version that cannot load must not take the agent offline; an agent that is down must
fail its calls fast; every call has a deadline; a good deploy right after a failed one must
report success. Real Serve, tiny real models; each test leaves the session fleet serving.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from agents import AgentTimeout, AgentUnavailable, FleetSpec, agent
from agents.client import RetryConfig
from agents.fleet import DeployError, deploy, deployed_agents, fleet_status
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(400)


def _dicts(fleet: FleetSpec) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json", exclude_unset=True) for a in fleet.agents]


def _with(fleet: FleetSpec, name: str, **changes: Any) -> FleetSpec:
    agents = _dicts(fleet)
    for a in agents:
        if a["name"] == name:
            a.update(changes)
    return FleetSpec(agents=agents)


def _plus(fleet: FleetSpec, extra: dict[str, Any]) -> FleetSpec:
    return FleetSpec(agents=[*_dicts(fleet), extra])


@pytest.fixture
def empty_model(tmp_path: Path) -> Path:
    folder = tmp_path / "empty-model"
    folder.mkdir()
    return folder


def _replica_ids(name: str) -> set[str]:
    return {r.replica_id for r in fleet_status().agents[name].replicas}


def test_a_failed_redeploy_keeps_the_previous_version_serving_and_a_good_deploy_after_it_succeeds(
    serve_fleet: FleetSpec, empty_model: Path
) -> None:
    before = _replica_ids("tinybert")
    try:
        with pytest.raises(DeployError) as err:
            deploy(_with(serve_fleet, "tinybert", model=str(empty_model)), api_key=TEST_API_KEY, timeout_s=240)
        message = str(err.value)
        assert "'tinybert'" in message and "still serves" in message, message
        status = fleet_status().agents["tinybert"]
        assert status.status == "DEPLOY_FAILED"
        assert status.serving and status.replicas_running == 1, status
        # The old replica answers, at once.
        t0 = time.monotonic()
        resp = agent("tinybert").embed_sync("still serving")
        assert time.monotonic() - t0 < 30
        assert resp.usage.replica_id in before, "the previous version's replica must be the one serving"

        # The good deploy right after the failed one reports success, not the stale failure.
        t0 = time.monotonic()
        deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=240)
        good_s = time.monotonic() - t0
    finally:
        deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=300)
    status = fleet_status().agents["tinybert"]
    assert status.status == "HEALTHY" and status.serving and status.replicas_running == 1
    # The spec went back to the running version: nothing had to restart.
    assert _replica_ids("tinybert") == before
    assert good_s < 60
    assert agent("tinybert").embed_sync("back").dim > 0


async def test_an_agent_left_down_by_a_failed_deploy_fails_its_calls_fast(
    serve_fleet: FleetSpec, empty_model: Path
) -> None:
    broken = {"name": "tinybroken", "model": str(empty_model), "tasks": ["embed"], "device": "cpu"}
    fleet = _plus(serve_fleet, broken)
    try:
        # Not waiting: a call that arrives while the agent has no replica yet queues in Serve.
        await asyncio.to_thread(deploy, fleet, api_key=TEST_API_KEY, wait=False)
        deadline = time.monotonic() + 60
        while "tinybroken" not in deployed_agents():
            assert time.monotonic() < deadline, "the new agent never appeared"
            await asyncio.sleep(0.2)
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailable, match="down"):
            # Generous deadline: the call must end because the agent is down, not by timing out.
            await agent("tinybroken", retry=RetryConfig(deadline_s=250)).embed("queued")
        queued_s = time.monotonic() - t0
        assert queued_s < 120, f"a call queued for a failed agent took {queued_s:.0f}s to fail"

        with pytest.raises(DeployError, match=r"'tinybroken' is down \(no replica running\)") as err:
            await asyncio.to_thread(deploy, fleet, api_key=TEST_API_KEY, timeout_s=240)
        assert "previous version keep" not in str(err.value)
        status = (await asyncio.to_thread(fleet_status)).agents["tinybroken"]
        assert not status.serving and status.replicas_running == 0

        # Now Serve knows: calls are refused at once, async, sync, coalesced or not.
        for coalesce in (True, False):
            t0 = time.monotonic()
            with pytest.raises(AgentUnavailable, match="down"):
                await agent("tinybroken", coalesce=coalesce).embed("x")
            assert time.monotonic() - t0 < 10
        t0 = time.monotonic()
        with pytest.raises(AgentUnavailable, match="down"):
            await asyncio.to_thread(agent("tinybroken").embed_sync, "x")
        assert time.monotonic() - t0 < 10
        # The healthy agents were not touched.
        assert (await agent("tinybert").embed("fine")).dim > 0
    finally:
        await asyncio.to_thread(deploy, serve_fleet, api_key=TEST_API_KEY, timeout_s=300)
    assert "tinybroken" not in deployed_agents()


def test_every_call_has_a_deadline(serve_fleet: FleetSpec) -> None:
    # More logical CPUs than the session cluster has: Serve never places a replica, so a call
    # waits in Serve's queue for one that never comes (and the agent is not failed, just pending).
    unplaceable = {**_dicts(serve_fleet)[1], "name": "tinypending", "resources": {"num_cpus": 64}}
    try:
        deploy(_plus(serve_fleet, unplaceable), api_key=TEST_API_KEY, wait=False)
        deadline = time.monotonic() + 60
        while "tinypending" not in deployed_agents():
            assert time.monotonic() < deadline, "the new agent never appeared"
            time.sleep(0.2)
        for coalesce in (True, False):
            client = agent("tinypending", retry=RetryConfig(deadline_s=3), coalesce=coalesce)
            t0 = time.monotonic()
            with pytest.raises(AgentTimeout, match="3s deadline"):
                asyncio.run(client.embed("waits"))
            assert 2.5 < time.monotonic() - t0 < 15
        t0 = time.monotonic()
        with pytest.raises(AgentTimeout):
            agent("tinypending", retry=RetryConfig(deadline_s=3)).embed_sync("waits")
        assert 2.5 < time.monotonic() - t0 < 15
    finally:
        deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=300)
    assert "tinypending" not in deployed_agents()


def test_a_good_deploy_right_after_a_failed_one_reports_success(serve_fleet: FleetSpec, empty_model: Path) -> None:
    with pytest.raises(DeployError):
        deploy(_with(serve_fleet, "tinybert", model=str(empty_model)), api_key=TEST_API_KEY, timeout_s=240)
    # Right away: Serve still shows the failed version's status until it takes the new target.
    deploy(serve_fleet, api_key=TEST_API_KEY, timeout_s=240)
    status = fleet_status().agents["tinybert"]
    assert status.status == "HEALTHY" and status.serving


async def test_an_agent_deleted_and_deployed_again_is_not_refused_by_a_cached_handle(serve_fleet: FleetSpec) -> None:
    again = {**_dicts(serve_fleet)[1], "name": "tinyagain"}
    client = agent("tinyagain")
    try:
        await asyncio.to_thread(deploy, _plus(serve_fleet, again), api_key=TEST_API_KEY, timeout_s=240)
        assert (await client.embed("first life")).dim > 0  # the handle is cached now
        await asyncio.to_thread(deploy, serve_fleet, api_key=TEST_API_KEY, timeout_s=240)  # deleted
        await asyncio.to_thread(deploy, _plus(serve_fleet, again), api_key=TEST_API_KEY, wait=False)
        # While its new replica starts, Serve told the cached handle "unavailable" (deleted);
        # the call must wait for the replica, not fail as if the agent were down.
        assert (await client.embed("second life")).dim > 0
    finally:
        await asyncio.to_thread(deploy, serve_fleet, api_key=TEST_API_KEY, timeout_s=300)
    assert "tinyagain" not in deployed_agents()
