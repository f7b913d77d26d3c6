"""Redaction of obvious PII (emails, phone numbers, payment card numbers) before analysis.

Redaction runs on every text of a call before it is embedded, reported or exported,
so nothing downstream ever sees the original values. Card numbers are only redacted
when their digits pass the Luhn check, which keeps order ids and invoice numbers.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# A card: 13-19 digits, optionally grouped by single spaces or dashes.
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
# A phone: optional +country code, an area code (optionally parenthesised), then groups
# separated by spaces, dots or dashes; at least 9 digits in all. Plain digit runs
# (ids, amounts) need separators to match, so "INV-2024-0012" or "25000" stay.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{2,4})(?:[ .-]\d{2,4}){2,3}(?![\w-])"
)

EMAIL_TOKEN = "[EMAIL]"
PHONE_TOKEN = "[PHONE]"
CARD_TOKEN = "[CARD]"


def luhn_valid(number: str) -> bool:
    """True when the digits of `number` pass the Luhn checksum (13-19 digits)."""
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def redact(text: str, counts: Counter[str] | None = None) -> str:
    """Replace emails, phone numbers and Luhn-valid card numbers in `text` by tokens."""

    def _sub(token: str, kind: str) -> Any:
        def repl(match: re.Match[str]) -> str:
            if counts is not None:
                counts[kind] += 1
            return token
        return repl

    def _card(match: re.Match[str]) -> str:
        if not luhn_valid(match.group(0)):
            return match.group(0)
        if counts is not None:
            counts["card"] += 1
        return CARD_TOKEN

    text = EMAIL.sub(_sub(EMAIL_TOKEN, "email"), text)
    # Cards before phones: a grouped card number also looks like a long phone number.
    text = CARD.sub(_card, text)
    return _redact_phones(text, counts)


def _redact_phones(text: str, counts: Counter[str] | None) -> str:
    def repl(match: re.Match[str]) -> str:
        value = match.group(0)
        n_digits = sum(c.isdigit() for c in value)
        # Dates (2024-03-01) and short codes have too few digits to be a phone number.
        if n_digits < 9 or n_digits > 15 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return value
        if counts is not None:
            counts["phone"] += 1
        return PHONE_TOKEN

    return PHONE.sub(repl, text)


def redact_obj(value: Any, counts: Counter[str] | None = None) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value, counts)
    if isinstance(value, list):
        return [redact_obj(v, counts) for v in value]
    if isinstance(value, dict):
        return {k: redact_obj(v, counts) for k, v in value.items()}
    return value
