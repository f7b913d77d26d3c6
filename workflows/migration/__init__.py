"""LLM-to-SLM migration: redact a call log, group it into task types, report candidates, export data."""

from workflows.migration.analysis import Analysis, Group, Specialist, Thresholds, analyze, export_group
from workflows.migration.calls import Call, LogError, Price, read_log, read_store
from workflows.migration.embedding import make_embedder
from workflows.migration.pii import luhn_valid, redact

__all__ = [
    "Analysis",
    "Call",
    "Group",
    "LogError",
    "Price",
    "Specialist",
    "Thresholds",
    "analyze",
    "export_group",
    "luhn_valid",
    "make_embedder",
    "read_log",
    "read_store",
    "redact",
]
