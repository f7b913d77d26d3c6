"""workflows: ready multi-agent workflows on the slmflow fleet, the demo, and LLM-to-SLM migration tooling.

Run one with `slmflow run workflows.email_triage --inputs workflows/data/email_triage.jsonl`
(also `router`, `ecommerce`, `medical_triage`, `loan_documents`, `quickstart`).
"""

from workflows._fleet import specialist

__all__ = ["specialist"]
