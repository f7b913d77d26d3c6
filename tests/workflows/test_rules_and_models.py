"""loan_documents and medical_triage: the models read, the rules that stay are listed in the output.

The rule tests need no Ray. The triage model-path tests run the workflow on the session's
tiny fleet (real, randomly initialised transformers served by Ray Serve, named for the
workflows' roles through SLMFLOW_WORKFLOW_WRITER/ENCODER) on inputs no rule matches, and
check that what comes out is what the models said, with no rule in between. The loan
extraction's model path is tested on the real default fleet (tests/workflows/test_workflows.py):
a random tiny model cannot finish its nine-field schema within the step's token budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator import Failure, SQLiteStore
from workflows.loan_documents import decide, numbers_in
from workflows.medical_triage import RED_FLAGS, SYSTEMS, Symptoms, plan

FIELDS = {"applicant": "Ana", "employment": "teacher", "annual_income": 60000.0, "requested_amount": 12000.0,
          "term_months": 48, "purpose": "car", "monthly_debt": 300.0, "credit_score": 700, "identity_verified": True}
LOW_RISK = {"level": "low", "debt_to_income": 0.12, "loan_to_income": 0.2, "flags": [], "rules_applied": []}
COMPLIANT = {"passed": True, "issues": [], "purpose_class": "allowed", "rules_applied": []}


def test_numbers_in_reads_thousands_separators_and_decimals() -> None:
    assert numbers_in("Income $84,000 a year, debt 650.50, score 742") == {84000.0, 650.5, 742.0}


def test_an_ungrounded_number_sends_the_application_to_review_and_says_so() -> None:
    extracted = {"fields": FIELDS, "ungrounded": ["annual_income"],
                 "rules_applied": [{"rule": "grounding", "field": "annual_income", "effect": "x"}]}
    out = decide.fn("A-1", extracted, LOW_RISK, COMPLIANT)
    assert out["decision"] == "manual review"
    assert "annual_income not written in the document" in out["reasons"]
    assert [r["field"] for r in out["rules_applied"]] == ["annual_income", "decision"]


def test_every_decision_names_the_policy_rule_that_set_it() -> None:
    extracted = {"fields": FIELDS, "ungrounded": [], "rules_applied": []}
    out = decide.fn("A-1", extracted, LOW_RISK, COMPLIANT)
    assert out["decision"] == "approved"
    assert out["rules_applied"] == [{"rule": "policy", "field": "decision",
                                     "effect": "approved: low risk and compliant is approved"}]
    failed = {**COMPLIANT, "passed": False, "issues": ["identity not verified (KYC)"],
              "rules_applied": [{"rule": "compliance", "field": "compliance", "effect": "identity not verified (KYC)"}]}
    out = decide.fn("A-1", extracted, LOW_RISK, failed)
    assert out["decision"] == "declined" and [r["field"] for r in out["rules_applied"]] == ["compliance", "decision"]


SEVERITY = {"level": "urgent", "model_level": "urgent", "model_confidence": 0.4, "red_flags": [], "rules_applied": []}


async def test_a_failed_extraction_is_reported_not_passed_off_as_no_symptoms(serve_fleet: Any,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMFLOW_WORKFLOW_WRITER", "tinyllm")
    monkeypatch.setenv("SLMFLOW_AUTO_DEPLOY", "0")
    failed = Failure(step="analyze_symptoms", error_type="InvalidOutput", message="ran out of tokens")
    out = await plan.fn("P-9", "sore knee", failed, SEVERITY)
    assert out["symptoms"] is None and out["extraction_error"] == "InvalidOutput: ran out of tokens"
    assert out["severity"] == "urgent" and out["rules_applied"] == []


# ---------------------------------------------------------------------------------------
# The model path on its own: inputs no rule matches, on the tiny fleet through Ray Serve.

NOTES = "Twisted ankle on the stairs yesterday evening, swollen and bruised, can walk with a limp."


@pytest.fixture
def tiny_roles(serve_fleet: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMFLOW_WORKFLOW_WRITER", "tinyllm")
    monkeypatch.setenv("SLMFLOW_WORKFLOW_ENCODER", "tinybert")
    monkeypatch.setenv("SLMFLOW_AUTO_DEPLOY", "0")


async def test_triage_severity_is_the_models_when_no_safety_rule_matches(tiny_roles: None, tmp_path: Path) -> None:
    from agents import agent
    from workflows.medical_triage import SEVERITY as LEVELS
    from workflows.medical_triage import medical_triage

    assert not any(p.search(NOTES) for p in RED_FLAGS.values())
    record = (await medical_triage.with_options(store=SQLiteStore(tmp_path / "runs.db")).arun_many(
        [{"patient_id": "T-2", "age": 34, "notes": NOTES}]))[0]
    out = record.result
    assert out is not None, record.error
    model = await agent("tinybert").classify(NOTES, labels=list(LEVELS), label_descriptions=LEVELS)
    assert out["model_severity"] == model.label
    assert out["severity"] == model.label
    assert out["rules_applied"] == [] and out["red_flags"] == []
    steps = {s.name: s for s in record.steps}
    if steps["analyze_symptoms"].status.value == "succeeded":
        direct = await agent("tinyllm").extract(
            NOTES, Symptoms, instruction="List the patient's main symptoms and how long they have lasted.",
            max_new_tokens=192)
        assert out["symptoms"] == [s.strip() for s in direct.data.symptoms if s.strip()]
        assert out["extraction_error"] is None
        system = await agent("tinybert").classify(NOTES, labels=list(SYSTEMS), label_descriptions=SYSTEMS)
        assert out["body_system"] == system.label
    else:  # the model's failure is in the output, not hidden as "no symptoms"
        assert record.status.value == "partial"
        assert out["symptoms"] is None and out["extraction_error"]


async def test_a_red_flag_overrides_the_model_visibly(tiny_roles: None, tmp_path: Path) -> None:
    from workflows.medical_triage import medical_triage

    notes = "Sudden chest pain while resting, started twenty minutes ago."
    record = (await medical_triage.with_options(store=SQLiteStore(tmp_path / "runs.db")).arun_many(
        [{"patient_id": "T-3", "age": 50, "notes": notes}]))[0]
    out = record.result
    assert out is not None, record.error
    assert out["severity"] == "emergency" and out["red_flags"] == ["chest pain"]
    if out["model_severity"] != "emergency":
        assert out["rules_applied"] == [{"rule": "red flag: chest pain", "field": "severity",
                                         "effect": f"{out['model_severity']} -> emergency"}]
    else:
        assert out["rules_applied"] == []
