"""email_triage's final step opts into failures, so it must handle them (no Ray, no models)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator import Failure, SQLiteStore, step, workflow
from workflows.email_triage import triage_result

CLASSIFIED = {"category": "refund", "confidence": 0.8, "escalated": False}
FIELDS = {"sender": "a@b.c", "intent": "refund", "urgency": "normal", "order_ids": []}


def test_failed_classification_goes_to_a_human_with_the_reason() -> None:
    failed = Failure(step="classify_email", error_type="AgentUnavailable", message="replica died")
    skipped = Failure(step="draft_reply", skipped=True)
    out = triage_result.fn(failed, FIELDS, skipped, Failure(step="route_to_spam", skipped=True))
    assert out["action"] == "needs a human" and out["category"] is None and out["reply"] is None
    assert out["fields"] == FIELDS
    assert out["failed"] == [{"step": "classify_email", "error": "AgentUnavailable: replica died"}]


def test_failed_extraction_and_draft_are_reported_not_raised() -> None:
    out = triage_result.fn(CLASSIFIED, Failure(step="extract_fields", error_type="InvalidOutput", message="bad json"),
                           Failure(step="draft_reply", skipped=True), Failure(step="route_to_spam", skipped=True))
    assert out["action"] == "needs a human" and out["fields"] is None and out["category"] == "refund"
    assert out["failed"] == [{"step": "extract_fields", "error": "InvalidOutput: bad json"}]


@step
def classify_fails(subject: str) -> dict:
    raise ConnectionError(f"no classifier for {subject!r}")


@step
def fields_ok(subject: str) -> dict:
    return dict(FIELDS)


@step(when=lambda classification: classification["category"] != "spam")
def draft(classification: dict) -> dict:
    return {"text": "hello"}


@step(when=lambda classification: classification["category"] == "spam")
def to_spam(classification: dict) -> dict:
    return {"folder": "spam"}


def test_the_engine_hands_the_failure_to_triage_result(tmp_path: Path) -> None:
    @workflow(store=SQLiteStore(tmp_path / "runs.db"))
    def triage(subject: str):
        classification = classify_fails(subject)
        fields = fields_ok(subject)
        return triage_result(classification, fields, draft(classification), to_spam(classification))

    record = triage.run_many([{"subject": "Broken mug"}])[0]
    # "partial": a step failed, yet the workflow produced its result.
    assert record.status.value == "partial", record.error
    assert record.result["action"] == "needs a human"
    assert record.result["failed"][0]["step"] == "classify_fails"
    assert "no classifier for 'Broken mug'" in record.result["failed"][0]["error"]


def test_the_extraction_schema_carries_no_prose_for_the_writer_to_copy() -> None:
    # The class docstring used to reach the prompt's schema, and SmolLM2 answered it as the intent.
    from workflows.email_triage import EmailFields

    assert "description" not in json.dumps(EmailFields.model_json_schema())


def test_a_reply_cut_by_the_token_budget_ends_at_its_last_full_sentence_and_is_signed() -> None:
    from workflows.email_triage import SIGNATURE, signed

    assert signed("Hi Ann, thanks. We will check. I'm sorry for any", cut=True) == f"Hi Ann, thanks. We will check. {SIGNATURE}"
    assert signed("Hi Ann, thanks! ", cut=False) == f"Hi Ann, thanks! {SIGNATURE}"
    assert signed(f"Hi Ann. {SIGNATURE}", cut=False) == f"Hi Ann. {SIGNATURE}"
    assert signed("no sentence end at all", cut=True) == f"no sentence end at all {SIGNATURE}"
