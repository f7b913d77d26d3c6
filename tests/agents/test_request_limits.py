"""What one request may cost an agent: label limits refuse before any compute, naming the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import FleetSpec, agent
from agents.errors import InvalidRequest, SpecError
from agents.protocol import ClassifyRequest, RequestLimits

pytestmark = pytest.mark.timeout(180)

LABELS = [f"label{i}" for i in range(50)]


def test_limits_name_the_limit_they_enforce() -> None:
    limits = RequestLimits()
    req = ClassifyRequest(text="x", labels=LABELS[:17])
    assert "max_likelihood_labels=16" in (limits.classify_problem(req, "likelihood") or "")
    assert limits.classify_problem(req, "similarity") is None  # embedding labels is cheap
    assert "max_labels=64" in (limits.classify_problem(ClassifyRequest(text="x", labels=[f"l{i}" for i in range(65)]),
                                                        "similarity") or "")
    long = ClassifyRequest(text="x", labels=["a", "b"], label_descriptions={"a": "y" * 5000})
    assert "max_label_chars=4096" in (limits.classify_problem(long, "similarity") or "")
    assert limits.classify_problem(ClassifyRequest(text="x", labels=LABELS[:16]), "likelihood") is None


def test_fleet_file_limits_are_validated(tiny_llm_dir: Path) -> None:
    bad = f"agents:\n  - name: a\n    model: {tiny_llm_dir}\n    tasks: [classify]\n    limits: {{max_labels: 1}}\n"
    with pytest.raises(SpecError, match=r"agents\[a\]\.limits\.max_labels"):
        FleetSpec.from_yaml(bad)
    ok = FleetSpec.from_yaml(bad.replace("max_labels: 1", "max_likelihood_labels: 3"))
    assert ok.get("a").limits.max_likelihood_labels == 3


async def test_fifty_likelihood_labels_are_refused_fast_by_the_served_agent(serve_fleet: FleetSpec) -> None:
    with pytest.raises(InvalidRequest, match="max_likelihood_labels=16") as info:
        await agent("tinyllm").classify("the text", labels=LABELS, method="likelihood")
    assert info.value.agent == "tinyllm"
    # Within the limit the same agent still classifies.
    resp = await agent("tinyllm").classify("the text", labels=LABELS[:4], method="likelihood")
    assert resp.label in LABELS[:4]


def test_an_agent_spec_limit_applies_in_the_runner(tiny_fleet: FleetSpec) -> None:
    """A tighter `limits` in the spec refuses what the default allows; the rest of the batch is served."""
    from agents.runtime import ModelRunner

    spec = tiny_fleet.get("tinyllm").model_copy(update={"limits": RequestLimits(max_likelihood_labels=3)})
    runner = ModelRunner(spec).load()
    small = ClassifyRequest(text="t", labels=["a", "b", "c"], method="likelihood")
    big = ClassifyRequest(text="t", labels=["a", "b", "c", "d"], method="likelihood")
    ok, refused = runner.run_batch("classify", [small, big])
    assert ok.label in {"a", "b", "c"}
    assert isinstance(refused, InvalidRequest) and "max_likelihood_labels=3" in str(refused)
