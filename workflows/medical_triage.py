"""Medical triage: symptom analysis and severity assessment in parallel, then a plan.

    slmflow run workflows.medical_triage --inputs workflows/data/medical_triage.jsonl

NOT MEDICAL ADVICE: this is a demonstration of a workflow shape. The models do the reading:
MiniLM classifies severity and body system, SmolLM2 extracts the symptoms under a
JSON-schema grammar. Two safety rules stay, as they would in a real triage system, and
each one that changes the severity is listed in the result's `rules_applied` beside the
model's own level: fixed red flags (chest pain, stroke, meningitis signs, breathing
difficulty) mean emergency care, and the very old and very young are never "low". A failed
extraction is reported (`symptoms: null` and the error), never passed off as "no symptoms".
Every output carries a plain disclaimer.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field

from orchestrator import Failure, step, workflow
from workflows._fleet import AGENT_RETRY, encoder, served, writer

DISCLAIMER = ("This is not medical advice. It is an automated demonstration; "
              "in an emergency call your local emergency number, otherwise consult a clinician.")

SEVERITY: dict[str, str] = {
    "emergency": "life-threatening: chest pain, stroke signs, difficulty breathing, unconsciousness, "
                 "severe bleeding, meningitis signs in a child",
    "urgent": "needs a doctor today: high fever for days, severe abdominal pain, vomiting, fracture, cannot bear weight",
    "low": "mild, self-limiting: cold, runny nose, mild headache, minor rash, muscle strain",
}

SYSTEMS: dict[str, str] = {
    "cardiovascular": "heart, chest pain, palpitations, blood pressure",
    "neurological": "brain and nerves: weakness, numbness, slurred speech, headache, confusion",
    "respiratory": "lungs and airways: cough, fever, shortness of breath, sore throat, runny nose",
    "gastrointestinal": "stomach and bowel: abdominal pain, vomiting, diarrhoea",
    "musculoskeletal": "bones, joints and muscles: back pain, fall, fracture, sprain",
    "skin": "skin: rash, itching, swelling of the skin",
}

# Red flags that always mean emergency care, whatever the classifier says.
RED_FLAGS: dict[str, re.Pattern[str]] = {
    "chest pain": re.compile(r"chest pain", re.I),
    "stroke signs": re.compile(r"slurred speech|facial droop|weakness on (the )?(left|right) side", re.I),
    "meningitis signs": re.compile(r"stiff neck.*rash|rash.*does not fade", re.I),
    "breathing difficulty": re.compile(r"cannot breathe|struggling to breathe|blue lips", re.I),
}

DISPOSITION = {
    "emergency": "Call emergency services now.",
    "urgent": "See a doctor or urgent care today.",
    "low": "Self-care at home; see a doctor if it gets worse or lasts more than a few days.",
}


class Symptoms(BaseModel):
    # Bounded lengths keep the grammar-constrained 135M writer from rambling past its token budget.
    symptoms: list[Annotated[str, Field(max_length=40)]] = Field(max_length=5)
    duration: str = Field(max_length=30)


@step(retry=AGENT_RETRY, timeout=120)
async def analyze_symptoms(notes: str) -> dict[str, Any]:
    # An extraction the grammar-constrained model cannot complete (InvalidOutput) fails this
    # step: greedy decoding would fail the same way again, and `plan` reports it.
    system, extracted = await asyncio.gather(
        encoder().classify(notes, labels=list(SYSTEMS), label_descriptions=SYSTEMS),
        # The budget covers the schema's bounds (5 symptoms of 40 characters, a duration of 30):
        # with 96 tokens SmolLM2 ran out on the chest-pain sample, which an empty list used to hide.
        writer().extract(notes, Symptoms, instruction="List the patient's main symptoms and how long they have lasted.",
                         max_new_tokens=192),
    )
    return {"body_system": system.label, "symptoms": [s.strip() for s in extracted.data.symptoms if s.strip()],
            "duration": extracted.data.duration, **served(extracted, writer())}


@step(retry=AGENT_RETRY, timeout=60)
async def assess_severity(age: int, notes: str) -> dict[str, Any]:
    resp = await encoder().classify(notes, labels=list(SEVERITY), label_descriptions=SEVERITY)
    level, rules = resp.label, []
    flags = [name for name, pattern in RED_FLAGS.items() if pattern.search(notes)]
    if flags and level != "emergency":
        rules.append({"rule": f"red flag: {', '.join(flags)}", "field": "severity",
                      "effect": f"{level} -> emergency"})
        level = "emergency"
    if level == "low" and (age >= 75 or age <= 1):
        rules.append({"rule": "age 75 and over or 1 and under", "field": "severity", "effect": "low -> urgent"})
        level = "urgent"  # the very old and the very young are seen sooner
    return {"level": level, "model_level": resp.label, "model_confidence": round(resp.scores[resp.label], 3),
            "red_flags": flags, "rules_applied": rules, **served(resp, encoder())}


@step(retry=AGENT_RETRY, timeout=120, receive_failures=True)
async def plan(patient_id: str, notes: str, symptoms: dict[str, Any] | Failure,
               severity: dict[str, Any]) -> dict[str, Any]:
    if isinstance(severity, Failure):
        # Without a severity there is no safe disposition to give: fail the run.
        raise RuntimeError(f"severity assessment failed ({severity.error_type}: {severity.message})")
    extraction_error = None if not isinstance(symptoms, Failure) else f"{symptoms.error_type}: {symptoms.message}"
    listed = None if isinstance(symptoms, Failure) else symptoms["symptoms"]
    symptom_text = ", ".join(listed or []) or notes
    # A single plain request works best for the 135M writer (a persona makes it chat instead of list).
    resp = await writer().chat(
        f"Symptoms: {symptom_text}. Triage level: {severity['level']}. "
        "List two practical things the patient should do now, as a numbered list.",
        max_new_tokens=80,
    )
    return {
        "patient_id": patient_id,
        "severity": severity["level"],
        "model_severity": severity["model_level"],
        "model_confidence": severity["model_confidence"],
        "red_flags": severity["red_flags"],
        "rules_applied": severity["rules_applied"],
        "body_system": None if isinstance(symptoms, Failure) else symptoms["body_system"],
        "symptoms": listed,
        "duration": None if isinstance(symptoms, Failure) else symptoms["duration"],
        "extraction_error": extraction_error,
        "disposition": DISPOSITION[severity["level"]],
        "next_steps": resp.text.strip(),
        "disclaimer": DISCLAIMER,
    }


@workflow
def medical_triage(patient_id: str, age: int, notes: str):
    symptoms = analyze_symptoms(notes)  # symptom analysis and severity run in parallel
    severity = assess_severity(age, notes)
    return plan(patient_id, notes, symptoms, severity)
