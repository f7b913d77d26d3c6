"""Loan documents: extract the application's fields, then risk and compliance in parallel, then a decision.

    slmflow run workflows.loan_documents --inputs workflows/data/loan_documents.jsonl

The model reads the document: SmolLM2 extracts every field (numbers and the identity check
included) under a JSON-schema grammar, and nothing overwrites what it read. Rules stay where
a lender keeps them, and each one that fires is listed in the result's `rules_applied` with
the field it set:

- grounding: a number the decision rests on (income, amount, term, debt, score) must be
  written in the document; one that is not sends the application to manual review instead
  of deciding on a number the model may have made up;
- risk: arithmetic on those numbers (debt-to-income, loan-to-income, credit score);
- compliance: identity must be verified (KYC), and MiniLM judges whether the purpose is
  one the lender may not finance;
- the decision: policy over risk and compliance.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from orchestrator import step, workflow
from workflows._fleet import AGENT_RETRY, encoder, served, writer


class LoanFields(BaseModel):
    applicant: str = Field(max_length=60)
    employment: str = Field(max_length=80)
    annual_income: float = Field(ge=0)
    requested_amount: float = Field(ge=0)
    term_months: int = Field(ge=0)
    purpose: str = Field(max_length=60)
    monthly_debt: float = Field(ge=0)
    credit_score: int = Field(ge=0, le=900)
    identity_verified: bool


# The numbers the decision rests on; each must appear in the document (the grounding rule).
GROUNDED = ("annual_income", "requested_amount", "term_months", "monthly_debt", "credit_score")

PURPOSES = {
    "allowed": "home renovation, buying a car, consolidating debts, paying medical bills, education, "
               "expanding a small business, travel or a wedding",
    "prohibited": "gambling, betting, casino, speculative cryptocurrency trading, weapons, paying a ransom",
}

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _plain_numbers(text: str) -> str:
    # "$84,000" -> "$84000": under a JSON grammar a 135M model stops a number at the comma.
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


def numbers_in(text: str) -> set[float]:
    """Every number written in `text` (thousands separators removed)."""
    return {float(n) for n in _NUMBER.findall(_plain_numbers(text))}


def _rule(rule: str, field: str, effect: str) -> dict[str, str]:
    return {"rule": rule, "field": field, "effect": effect}


@step(retry=AGENT_RETRY, timeout=180)
async def extract_fields(document: str) -> dict[str, Any]:
    resp = await writer().extract(
        _plain_numbers(document), LoanFields, instruction="Copy the loan application's fields exactly as written.", max_new_tokens=160
    )
    fields = resp.data.model_dump()
    written = numbers_in(document)
    ungrounded = [name for name in GROUNDED if float(fields[name]) not in written]
    rules = [_rule("grounding", name, f"{fields[name]} is not written in the document: manual review")
             for name in ungrounded]
    return {"fields": fields, "ungrounded": ungrounded, "rules_applied": rules, **served(resp, writer())}


@step
def assess_risk(extracted: dict[str, Any]) -> dict[str, Any]:
    f = extracted["fields"]
    monthly_income = f["annual_income"] / 12
    term = max(f["term_months"], 1)
    new_payment = f["requested_amount"] / term  # principal only; a lower bound on the instalment
    dti = (f["monthly_debt"] + new_payment) / monthly_income if monthly_income > 0 else float("inf")
    lti = f["requested_amount"] / f["annual_income"] if f["annual_income"] > 0 else float("inf")
    flags = []
    if f["annual_income"] > 0 and dti > 0.43:
        flags.append(f"debt-to-income {dti:.0%} above 43%")
    if f["annual_income"] > 0 and lti > 0.5:
        flags.append(f"loan is {lti:.1f}x annual income")
    if f["credit_score"] < 620:
        flags.append(f"credit score {f['credit_score']} below 620")
    employment = f["employment"].lower()
    if "unemployed" in employment or f["annual_income"] == 0:
        flags.append("no employment income")
    level = "high" if len(flags) >= 2 or "no employment income" in flags else "medium" if flags else "low"
    return {"level": level, "debt_to_income": round(dti, 3) if dti != float("inf") else None,
            "loan_to_income": round(lti, 3) if lti != float("inf") else None, "flags": flags,
            "rules_applied": [_rule("risk", "risk", flag) for flag in flags]}


@step(retry=AGENT_RETRY, timeout=60)
async def check_compliance(extracted: dict[str, Any]) -> dict[str, Any]:
    f = extracted["fields"]
    resp = await encoder().classify(f"Loan purpose: {f['purpose']}", labels=list(PURPOSES), label_descriptions=PURPOSES)
    issues = []
    if not f["identity_verified"]:
        issues.append("identity not verified (KYC)")
    if resp.label == "prohibited":
        issues.append(f"purpose {f['purpose']!r} is not financeable")
    return {"passed": not issues, "issues": issues, "purpose_class": resp.label,
            "rules_applied": [_rule("compliance", "compliance", issue) for issue in issues],
            **served(resp, encoder())}


@step
def decide(application_id: str, extracted: dict[str, Any], risk: dict[str, Any],
           compliance: dict[str, Any]) -> dict[str, Any]:
    # The decision is policy, not generation: rules over the extracted fields, with their reasons.
    f = extracted["fields"]
    if not compliance["passed"]:
        decision, why = "declined", "failed compliance declines"
    elif extracted["ungrounded"]:
        # Risk computed from a number the document does not state would decide on a guess.
        decision, why = "manual review", "a number not written in the document goes to a person"
    elif risk["level"] == "high":
        decision, why = "declined", "high risk declines"
    elif risk["level"] == "medium":
        decision, why = "manual review", "medium risk goes to a person"
    else:
        decision, why = "approved", "low risk and compliant is approved"
    unverified = [f"{name} not written in the document" for name in extracted["ungrounded"]]
    reasons = compliance["issues"] + unverified + risk["flags"] or ["income, debt and credit score within policy"]
    return {
        "application_id": application_id,
        "applicant": f["applicant"],
        "requested_amount": f["requested_amount"],
        "term_months": f["term_months"],
        "purpose": f["purpose"],
        "identity_verified": f["identity_verified"],
        "decision": decision,
        "reasons": reasons,
        "risk": risk["level"],
        "debt_to_income": risk["debt_to_income"],
        "rules_applied": [*extracted["rules_applied"], *risk["rules_applied"], *compliance["rules_applied"],
                          _rule("policy", "decision", f"{decision}: {why}")],
    }


@workflow
def loan_documents(application_id: str, document: str):
    extracted = extract_fields(document)
    risk = assess_risk(extracted)  # risk and compliance run in parallel
    compliance = check_compliance(extracted)
    return decide(application_id, extracted, risk, compliance)
