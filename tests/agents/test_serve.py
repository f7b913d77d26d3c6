"""The fleet as a real Serve application on the session's local Ray (tiny models)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agents import AgentNotFound, FleetSpec, agent
from agents.fleet import INGRESS_NAME, DeployError, deploy, fleet_status
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(300)


def _replica_ids() -> dict[str, set[str]]:
    return {name: {r.replica_id for r in a.replicas} for name, a in fleet_status().agents.items()}


def _with(fleet: FleetSpec, name: str, **changes: Any) -> FleetSpec:
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in fleet.agents]
    for a in agents:
        if a["name"] == name:
            a.update(changes)
    return FleetSpec(agents=agents)


def test_redeploy_is_idempotent_and_a_changed_spec_restarts_only_that_agent(serve_fleet: FleetSpec) -> None:
    before = _replica_ids()
    assert set(before) == {"tinyllm", "tinybert"} and all(len(ids) == 1 for ids in before.values())

    deploy(serve_fleet, api_key=TEST_API_KEY)
    assert _replica_ids() == before, "an unchanged fleet must not restart any replica"

    changed = _with(serve_fleet, "tinybert", description="re-described: a new spec version")
    deploy(changed, api_key=TEST_API_KEY)
    after = _replica_ids()
    assert after["tinyllm"] == before["tinyllm"], "tinyllm's spec did not change; its replica must survive"
    assert after["tinybert"].isdisjoint(before["tinybert"]), "tinybert's spec changed; it must be a new replica"
    assert agent("tinybert").embed_sync("still serving").dim > 0


def _joins(name: str) -> int:
    return sum(r.engine_stats.get("joins", 0) for r in fleet_status().agents[name].replicas)


async def test_concurrent_calls_join_the_decode_loop_and_usage_is_filled(serve_fleet: FleetSpec) -> None:
    served_before = fleet_status().agents["tinyllm"].requests_served or 0
    joins_before = _joins("tinyllm")
    client = agent("tinyllm", coalesce=False)
    responses = await asyncio.gather(*(client.generate(f"prompt {i}", max_new_tokens=4) for i in range(24)))
    # Continuous batching: each call goes to the engine on its own (no batch to wait for)
    # and joins the replica's running decode loop (tests/agents/test_hf_continuous.py shows
    # the joining itself).
    assert all(r.usage.batch_size == 1 for r in responses)
    assert _joins("tinyllm") - joins_before == 24
    status = fleet_status().agents["tinyllm"]
    replica_ids = {r.replica_id for r in status.replicas}
    for r in responses:
        u = r.usage
        assert u.replica_id in replica_ids
        assert u.tokens_in > 0 and 0 < u.tokens_out <= 4
        assert u.compute_ms > 0 and u.queue_ms >= 0
        assert u.model == serve_fleet.get("tinyllm").model
    assert (status.requests_served or 0) >= served_before + 24
    assert status.queue_depth == 0


def test_fractional_gpu_spec_schedules_on_the_logical_gpu_and_runs_on_cpu(serve_fleet: FleetSpec) -> None:
    status = fleet_status().agents["tinybert"]
    assert status.resources_per_replica.get("GPU") == 0.5
    assert status.replicas_running == 1
    from ray import serve

    info = serve.get_deployment_handle("tinybert", "slmflow").info.remote().result(timeout_s=30)
    assert info["device"] == "cpu"
    assert agent("tinybert").classify_sync("good", labels=["pos", "neg"]).label in {"pos", "neg"}


async def test_unknown_agent_names_the_deployed_ones(serve_fleet: FleetSpec) -> None:
    with pytest.raises(AgentNotFound) as err:
        await agent("no-such-agent").generate("hi")
    assert "tinyllm" in str(err.value) and "tinybert" in str(err.value)
    assert INGRESS_NAME not in str(err.value)


async def test_a_task_the_agent_does_not_serve_is_a_clear_error(serve_fleet: FleetSpec) -> None:
    from agents import InvalidRequest

    with pytest.raises(InvalidRequest, match="tinybert"):
        await agent("tinybert").generate("hi")


def test_a_model_that_cannot_load_fails_the_deploy_with_its_reason(serve_fleet: FleetSpec, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": -3}))
    before = _replica_ids()
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]
    agents.append({"name": "broken", "model": str(broken), "tasks": ["generate"], "device": "cpu"})
    with pytest.raises(DeployError) as err:
        deploy(FleetSpec(agents=agents), api_key=TEST_API_KEY, timeout_s=120)
    message = str(err.value)
    assert "'broken'" in message
    assert "Error" in message.splitlines()[1], f"the replica's exception should lead: {message}"
    # The healthy agents were not touched by the failed agent.
    now = _replica_ids()
    assert now["tinyllm"] == before["tinyllm"]
    # Back to the session fleet; the broken agent goes away.
    deploy(serve_fleet, api_key=TEST_API_KEY)
    assert "broken" not in fleet_status().agents


def test_deploy_times_out_with_what_is_pending(serve_fleet: FleetSpec) -> None:
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]
    # More logical CPUs than the session cluster has: Serve can never place it.
    agents.append({**agents[1], "name": "unplaceable", "resources": {"num_cpus": 64}})
    with pytest.raises(DeployError) as err:
        deploy(FleetSpec(agents=agents), api_key=TEST_API_KEY, timeout_s=8)
    assert "unplaceable" in str(err.value) and "8s" in str(err.value)
    deploy(serve_fleet, api_key=TEST_API_KEY)
    assert "unplaceable" not in fleet_status().agents


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "one-call-per-request"])
async def test_replica_killed_mid_call_is_replaced_and_callers_retry(serve_fleet: FleetSpec, coalesce: bool) -> None:
    import ray

    status = fleet_status().agents["tinyllm"]
    (victim,) = status.replicas
    client = agent("tinyllm", coalesce=coalesce)
    calls = [asyncio.create_task(client.generate(f"long {i}", max_new_tokens=32)) for i in range(400)]
    while not any(c.done() for c in calls):  # the replica is serving: kill it now
        await asyncio.sleep(0.01)
    assert not all(c.done() for c in calls), "the calls finished before the kill; nothing was tested"
    ray.kill(ray.get_actor(victim.actor_name, namespace="serve"), no_restart=True)
    results = await asyncio.gather(*calls)
    assert len(results) == 400 and all(r.text is not None for r in results)
    served_by = {r.usage.replica_id for r in results}
    assert served_by - {victim.replica_id}, "no call reached the replacement replica"
    after = fleet_status().agents["tinyllm"]
    assert victim.replica_id not in {r.replica_id for r in after.replicas}


async def test_replica_killed_mid_load_is_replaced_and_waiting_callers_succeed(serve_fleet: FleetSpec) -> None:
    import time

    import ray

    from agents._serve import app_details

    changed = _with(serve_fleet, "tinyllm", description="reloaded: a new spec version")
    deploy(changed, api_key=TEST_API_KEY, wait=False)
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        dep = app_details("slmflow").deployments["tinyllm"]
        victim = next((r for r in dep.replicas if r.state.value == "STARTING" and r.actor_name), None)
        await asyncio.sleep(0.05)
    assert victim is not None, "never saw the new tinyllm replica loading"
    calls = [asyncio.create_task(agent("tinyllm").generate(f"during load {i}", max_new_tokens=4)) for i in range(8)]
    ray.kill(ray.get_actor(victim.actor_name, namespace="serve"), no_restart=True)
    results = await asyncio.wait_for(asyncio.gather(*calls), 120)
    assert all(r.usage.replica_id != victim.replica_id for r in results)
    await asyncio.to_thread(deploy, changed, api_key=TEST_API_KEY)  # healthy again, nothing else to do
    status = fleet_status().agents["tinyllm"]
    assert status.replicas_running == 1 and victim.replica_id not in {r.replica_id for r in status.replicas}


def test_agents_status_and_delete_commands(serve_fleet: FleetSpec) -> None:
    """`slmflow agents status|delete` on the session's fleet (restored afterwards)."""
    from click.testing import CliRunner

    from cluster.cli import main

    runner = CliRunner()
    status = runner.invoke(main, ["agents", "status", "--json"])
    assert status.exit_code == 0, status.output
    agents = json.loads(status.output)["agents"]
    assert set(agents) == {"tinyllm", "tinybert"}
    assert all(a["replicas_running"] >= 1 for a in agents.values())
    assert agents["tinybert"]["resources_per_replica"].get("GPU") == 0.5
    table = runner.invoke(main, ["agents", "status"])
    assert table.exit_code == 0 and "tinyllm" in table.output and "tinybert" in table.output
    try:
        deleted = runner.invoke(main, ["agents", "delete"])
        assert deleted.exit_code == 0 and "fleet deleted" in deleted.output, deleted.output
        assert fleet_status().status == "NOT_DEPLOYED"
        again = runner.invoke(main, ["agents", "delete"])
        assert again.exit_code == 0 and "no fleet was deployed" in again.output, again.output
    finally:
        deploy(serve_fleet, api_key=TEST_API_KEY)
