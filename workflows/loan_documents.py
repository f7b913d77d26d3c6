"""Loan documents: extract the application's fields, then risk and compliance in parallel, then a decision.

    slmflow run workflows.loan_documents --inputs workflows/data/loan_documents.jsonl

SmolLM2 extracts the fields under a JSON-schema grammar. Numbers that decide money
(amount, income, debt, score) are then checked against the text: where the model's
value is not the one written in the document, the document wins and the result says
which fields were corrected. Risk is arithmetic on those numbers; compliance asks
MiniLM whether the stated purpose is one the lender may not finance.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from orchestrator import step, workflow
from workflows._fleet import AGENT_RETRY, ENCODER, WRITER, encoder, served, writer


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


# The line of the document each money/score field must agree with.
_CHECKS: dict[str, str] = {
    "annual_income": r"annual income:\s*\$?([\d,]+(?:\.\d+)?)",
    "requested_amount": r"requested amount:\s*\$?([\d,]+(?:\.\d+)?)",
    "term_months": r"term:\s*(\d+)\s*months",
    "monthly_debt": r"monthly debt payments:\s*\$?([\d,]+(?:\.\d+)?)",
    "credit_score": r"credit score:\s*(\d{3})",
}

PURPOSES = {
    "allowed": "home renovation, buying a car, consolidating debts, paying medical bills, education, "
               "expanding a small business, travel or a wedding",
    "prohibited": "gambling, betting, casino, speculative cryptocurrency trading, weapons, paying a ransom",
}


def _plain_numbers(text: str) -> str:
    # "$84,000" -> "$84000": under a JSON grammar a 135M model stops a number at the comma.
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


@step(retry=AGENT_RETRY, timeout=180)
async def extract_fields(document: str) -> dict[str, Any]:
    resp = await writer().extract(
        _plain_numbers(document), LoanFields, instruction="Copy the loan application's fields exactly as written.", max_new_tokens=160
    )
    fields = resp.data.model_dump()
    corrected = []
    for name, pattern in _CHECKS.items():
        m = re.search(pattern, document, re.IGNORECASE)
        if m is None:
            continue
        value = type(fields[name])(float(m.group(1).replace(",", "")))
        if fields[name] != value:
            corrected.append({"field": name, "model": fields[name], "document": value})
            fields[name] = value
    verified = re.search(r"identity verified:\s*(yes|no)", document, re.IGNORECASE)
    if verified is not None and fields["identity_verified"] != (verified.group(1).lower() == "yes"):
        corrected.append({"field": "identity_verified", "model": fields["identity_verified"],
                          "document": verified.group(1).lower() == "yes"})
        fields["identity_verified"] = verified.group(1).lower() == "yes"
    return {"fields": fields, "corrected_from_document": corrected, **served(resp, WRITER)}


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
            "loan_to_income": round(lti, 3) if lti != float("inf") else None, "flags": flags}


@step(retry=AGENT_RETRY, timeout=60)
async def check_compliance(extracted: dict[str, Any]) -> dict[str, Any]:
    f = extracted["fields"]
    resp = await encoder().classify(f"Loan purpose: {f['purpose']}", labels=list(PURPOSES), label_descriptions=PURPOSES)
    issues = []
    if not f["identity_verified"]:
        issues.append("identity not verified (KYC)")
    if resp.label == "prohibited":
        issues.append(f"purpose {f['purpose']!r} is not financeable")
    return {"passed": not issues, "issues": issues, "purpose_class": resp.label, **served(resp, ENCODER)}


@step
def decide(application_id: str, extracted: dict[str, Any], risk: dict[str, Any],
           compliance: dict[str, Any]) -> dict[str, Any]:
    # The decision is policy, not generation: rules over the checked fields, with their reasons.
    f = extracted["fields"]
    if not compliance["passed"] or risk["level"] == "high":
        decision = "declined"
    elif risk["level"] == "medium":
        decision = "manual review"
    else:
        decision = "approved"
    reasons = compliance["issues"] + risk["flags"] or ["income, debt and credit score within policy"]
    return {
        "application_id": application_id,
        "applicant": f["applicant"],
        "requested_amount": f["requested_amount"],
        "term_months": f["term_months"],
        "purpose": f["purpose"],
        "decision": decision,
        "reasons": reasons,
        "risk": risk["level"],
        "debt_to_income": risk["debt_to_income"],
        "corrected_from_document": extracted["corrected_from_document"],
    }


@workflow
def loan_documents(application_id: str, document: str):
    extracted = extract_fields(document)
    risk = assess_risk(extracted)  # risk and compliance run in parallel
    compliance = check_compliance(extracted)
    return decide(application_id, extracted, risk, compliance)
