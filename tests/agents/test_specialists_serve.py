"""A trained specialist served through the session Serve cluster beside the tiny fleet.

Trains heads on the tiny BERT, deploys `model: specialist:tiny-intent` as an extra agent,
classifies without labels, promotes and rolls back (only that agent restarts), and records
shadow and live calls against the tiny LLM standing in for the large model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents import FleetSpec, agent
from agents.fleet import deploy, fleet_status
from agents.specialists import Registry, train_classifier
from agents.specialists.serving import redeploy
from agents.specialists.shadow import default_shadow_store
from orchestrator import SQLiteStore, step, workflow
from tests.fixtures.ray_cluster import TEST_API_KEY

pytestmark = pytest.mark.timeout(600)

NAME = "tiny-intent"
V1 = [("I love this product, it is great!", "positive"), ("great product, I love it", "positive"),
      ("I love it", "positive"), ("I hate it, it is terrible.", "negative"),
      ("terrible product, I hate it", "negative"), ("I hate this", "negative")]
V2 = [*V1, ("The quick brown fox jumps over the lazy dog.", "neutral"),
      ("What is the weather like in Berlin today?", "neutral"), ("Send an email about the meeting", "neutral")]


def _data(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    return path


def _replicas() -> dict[str, set[str]]:
    return {name: {r.replica_id for r in a.replicas} for name, a in fleet_status().agents.items()}


@pytest.fixture(scope="module")
def specialist_fleet(serve_fleet: FleetSpec, tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> Iterator[Path]:
    """v1 and v2 of the specialist trained, v1 promoted, the session fleet plus the specialist deployed.

    Yields the fleet file; afterwards the session fleet alone is deployed again (tinyllm and
    tinybert keep serving throughout).
    """
    work = tmp_path_factory.mktemp("specialists")
    for rows, tag in ((V1, "v1"), (V2, "v2")):
        train_classifier(NAME, base=str(tiny_bert_dir), data=_data(work / f"{tag}.jsonl", rows))
    Registry().promote(NAME, 1)
    agents = [a.model_dump(mode="json", exclude_unset=True) for a in serve_fleet.agents]
    agents.append({"name": NAME, "model": f"specialist:{NAME}", "tasks": ["classify", "embed"], "device": "cpu",
                   "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.01}})
    fleet_file = work / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump({"agents": agents}, sort_keys=False))
    outcome = redeploy(NAME, fleet_file, api_key=TEST_API_KEY)
    # The deployed application is the session fleet, not this file: redeploy must refuse to replace it.
    assert not outcome.deployed and "not touching it" in outcome.message, outcome.message
    from agents.spec import load_fleet

    deploy(load_fleet(fleet_file), api_key=TEST_API_KEY, timeout_s=300)
    yield fleet_file
    deploy(serve_fleet, api_key=TEST_API_KEY)


async def test_the_promoted_specialist_classifies_without_labels_and_a_promote_restarts_only_it(
    specialist_fleet: Path,
) -> None:
    registry = Registry()
    resp = await agent(NAME).classify("I love it, great")
    assert set(resp.scores) == {"negative", "positive"} and resp.label == "positive"
    assert resp.usage.model == str(registry.version_dir(NAME, 1))
    sub = await agent(NAME).classify("I hate it", labels=["negative", "positive"])
    assert sub.label == "negative"
    from agents.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="'spam'"):
        await agent(NAME).classify("I hate it", labels=["negative", "spam"])

    before = _replicas()
    registry.promote(NAME, 2)
    outcome = redeploy(NAME, specialist_fleet, api_key=TEST_API_KEY)
    assert outcome.deployed and outcome.agents == [NAME], outcome.message
    after = _replicas()
    assert after["tinyllm"] == before["tinyllm"] and after["tinybert"] == before["tinybert"]
    assert after[NAME] != before[NAME]
    resp = await agent(NAME).classify("The quick brown fox jumps over the lazy dog.")
    assert set(resp.scores) == {"negative", "neutral", "positive"}
    assert resp.usage.model == str(registry.version_dir(NAME, 2))

    assert registry.rollback(NAME).version == 1
    assert redeploy(NAME, specialist_fleet, api_key=TEST_API_KEY).deployed
    resp = await agent(NAME).classify("The quick brown fox jumps over the lazy dog.")
    assert set(resp.scores) == {"negative", "positive"}
    assert _replicas()["tinyllm"] == before["tinyllm"]


TEXTS = ["I love this product", "I hate it, terrible", "great, I love it", "terrible, I hate this"]


@step
async def route(text: str, mode: str, threshold: float) -> dict[str, Any]:
    from workflows import shadow

    out = await shadow.classify(text, specialist=NAME, large=agent("tinyllm"), mode=mode, threshold=threshold)  # type: ignore[arg-type]
    return {"label": out.value.label, "served_by": out.served_by, "escalated": out.escalated}


@workflow
def shadowed(text: str, mode: str, threshold: float):
    return route(text, mode, threshold)


def test_shadow_mode_records_both_answers_and_live_mode_calls_the_llm_only_to_escalate(
    specialist_fleet: Path, tmp_path: Path
) -> None:
    store = default_shadow_store()
    runs_store = SQLiteStore(tmp_path / "runs.db")
    version = Registry().promoted(NAME)
    seen_before = len(store.records(NAME, version))
    runs = shadowed.with_options(store=runs_store).run_many(
        [{"text": t, "mode": "shadow", "threshold": 0.5} for t in TEXTS])
    assert all(r.status.value == "succeeded" for r in runs), [r.error for r in runs]
    # In shadow mode the large model serves; the specialist answered beside it.
    assert {r.result["served_by"] for r in runs} == {"tinyllm"}
    recs = store.records(NAME, version)[seen_before:]
    assert len(recs) == len(TEXTS)
    assert {r.run_id for r in recs} == {r.run_id for r in runs} and {r.step for r in recs} == {"route"}
    for rec, run in zip(sorted(recs, key=lambda r: r.run_id), sorted(runs, key=lambda r: r.run_id), strict=True):
        assert rec.mode == "shadow" and rec.target == "tinyllm" and rec.version == version
        assert rec.target_label == run.result["label"] and rec.specialist_label in ("negative", "positive")
        assert rec.agree == (rec.specialist_label == rec.target_label)
    report = store.report(NAME, version=version, threshold=0.0, min_calls=len(TEXTS))
    assert report.compared >= len(TEXTS) and report.ready

    # Live: a threshold no answer reaches sends every call to the large model, one of 0 none.
    live_all = shadowed.with_options(store=runs_store).run_many(
        [{"text": t, "mode": "live", "threshold": 1.01} for t in TEXTS])
    assert all(r.result["escalated"] and r.result["served_by"] == "tinyllm" for r in live_all)
    live_none = shadowed.with_options(store=runs_store).run_many(
        [{"text": t, "mode": "live", "threshold": 0.0} for t in TEXTS])
    assert all(not r.result["escalated"] and r.result["served_by"] == NAME for r in live_none)
    live = [r for r in store.records(NAME, version)[seen_before:] if r.mode == "live"]
    assert sum(r.escalated for r in live) == len(TEXTS) and len(live) == 2 * len(TEXTS)
    assert all(r.target_label is None and r.agree is None for r in live if not r.escalated)
    # The escalated calls' usage is marked in the run store, as workflows.escalation does.
    usage = [u for r in live_all for u in runs_store.list_usage(run_id=r.run_id)]
    assert any(u.agent == "tinyllm" and u.escalated for u in usage)


def test_promote_can_tell_a_keyed_ingress(serve_fleet: object) -> None:
    from agents.specialists.serving import ingress_requires_key

    # The session fleet's ingress was deployed with TEST_API_KEY: a promote without the key
    # must not redeploy it (that would replace it with an open one).
    assert ingress_requires_key() is True
