"""Extractive decoding: string fields that may only take a verbatim span of the input text.

A small model asked to copy a name, a product or an id it never saw often writes something
close instead ("monitors arm", "Dario" for "Diego", " wireless mouse" with the e-mail's
leading space). When every answer of a task is a piece of its input, that freedom is only
room for mistakes. ``extractive_schema`` narrows each free string field of a JSON schema to
an ``enum`` of the text's spans (runs of whole words, as they appear in it), which both
grammar engines (xgrammar and llguidance) compile like any other enum, with JSON escaping
handled by them. Fields with their own enum, const, pattern or format are left alone.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Words keep inner apostrophes, hyphens, dots and slashes ("O'Neill", "USB-C", "v2.1",
# "RK/889"); any other non-space character is a token of its own, so "#A95082" and
# "(Ines Costa)" have the spans "A95082" and "Ines Costa".
_TOKEN = re.compile(r"\w+(?:['\u2019./-]\w+)*|[^\w\s]")
MAX_SPAN_TOKENS = 12
MAX_SPAN_CHARS = 160
# The grammar holds one alternative per span (about 9 per word): 30,000 cover a text of
# ~3,000 words, beyond what an agent's max_input_tokens lets in; past them the text's end is
# left out. llama.cpp decoded under 10,900 spans 0.07 s slower than under none.
MAX_SPANS = 30000

_OWN_CONSTRAINT = ("enum", "const", "pattern", "format")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def spans(text: str, max_tokens: int = MAX_SPAN_TOKENS) -> list[str]:
    """Distinct runs of 1..``max_tokens`` whole tokens of ``text``, as written there, in order of first start."""
    tokens = list(_TOKEN.finditer(text))
    out: dict[str, None] = {}
    for i, first in enumerate(tokens):
        for last in tokens[i : i + max_tokens]:
            span = text[first.start() : last.end()]
            if len(span) > MAX_SPAN_CHARS:
                break
            out.setdefault(span, None)
        if len(out) >= MAX_SPANS:
            break
    return list(out)[:MAX_SPANS]


def extractive_schema(schema: dict[str, Any], text: str) -> dict[str, Any]:
    """``schema`` with every free string field limited to a span of ``text``."""
    candidates = spans(text)
    return _narrow(schema, candidates)


def use_spans(ctx: Any, req: Any) -> bool:
    """Whether ``req`` decodes extractive: as it asks, else as its adapter was trained."""
    if not req.constrained:
        return False
    if req.extractive is not None:
        return bool(req.extractive)
    return req.adapter is not None and _trained_extractive(tuple(ctx.spec.adapters), req.adapter)


@lru_cache(maxsize=256)
def _trained_extractive(references: tuple[str, ...], adapter: str) -> bool:
    # A version folder never changes once written, so its answer can be kept.
    from agents.spec import adapter_meta, adapter_name

    for ref in references:
        if adapter_name(ref) == adapter:
            meta = adapter_meta(ref)
            return bool(meta and meta.hyperparameters.get("extractive"))
    return False


def _narrow(schema: Any, candidates: list[str]) -> Any:
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            out[key] = {name: _narrow(sub, candidates) for name, sub in schema[key].items()}
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            out[key] = [_narrow(sub, candidates) for sub in schema[key]]
    if isinstance(schema.get("items"), dict):
        out["items"] = _narrow(schema["items"], candidates)
    if schema.get("type") == "string" and not any(k in schema for k in _OWN_CONSTRAINT):
        low, high = int(schema.get("minLength", 1) or 1), schema.get("maxLength")
        fitting = [s for s in candidates if len(s) >= low and (high is None or len(s) <= int(high))]
        if fitting:
            out["enum"] = fitting
    return out


__all__ = ["MAX_SPAN_TOKENS", "extractive_schema", "spans", "use_spans"]
