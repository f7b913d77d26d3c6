"""Parsing model output as JSON and validating it against a JSON schema."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import exceptions as js_exceptions
from jsonschema import validators

# xgrammar's JSON grammar lets raw control characters into strings; accept them rather than
# reject output the grammar itself produced.
_DECODER = json.JSONDecoder(strict=False)


def parse_json(raw: str) -> Any:
    """The first JSON value in ``raw`` (tolerating code fences and chatter around it)."""
    text = raw.strip()
    if text.startswith("```"):
        text = text.strip("`")
        if text.lower().startswith("json"):
            text = text[4:]
    starts = [p for p in (text.find("{"), text.find("[")) if p >= 0]
    if not starts:
        raise ValueError("no JSON object in the output")
    value, _ = _DECODER.raw_decode(text[min(starts) :])
    return value


def check_schema(schema: dict[str, Any]) -> str | None:
    """A message when ``schema`` is not a valid JSON schema, else None."""
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except js_exceptions.SchemaError as exc:
        return exc.message
    return None


def schema_errors(data: Any, schema: dict[str, Any]) -> list[str]:
    """Where ``data`` breaks ``schema`` (empty when valid)."""
    cls = validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]
