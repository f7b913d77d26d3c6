"""Redaction of obvious PII (emails, phone numbers, payment cards, IBANs) before analysis.

Redaction runs on every text of a call before it is embedded, reported or exported,
so nothing downstream ever sees the original values. The detectors are maintained
libraries, not our own patterns: phone numbers are found by `phonenumbers` (Google's
libphonenumber metadata: any layout, with or without separators, and only numbers that
are valid for their country), IBANs and card numbers are confirmed by their checksums
in `python-stdnum` (ISO 7064 mod 97 and Luhn), which keeps order ids, invoice numbers
and amounts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import phonenumbers
from stdnum import iban, luhn

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Candidates only: a card is 13-19 digits, optionally grouped by single spaces or dashes;
# an IBAN is a country code, two check digits and 11-30 letters or digits, run together or
# in groups of four (its print form). The checksums decide.
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN = re.compile(r"(?<!\w)[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)(?!\w)")
# Numbers written without a country code are read as numbers of these regions
# (numbers with +CC are found whatever the region).
PHONE_REGIONS: tuple[str, ...] = ("US", "GB")

EMAIL_TOKEN = "[EMAIL]"
PHONE_TOKEN = "[PHONE]"
CARD_TOKEN = "[CARD]"
IBAN_TOKEN = "[IBAN]"


def luhn_valid(number: str) -> bool:
    """True when `number` has 13-19 digits (a payment card's length) that pass the Luhn checksum."""
    digits = "".join(c for c in number if c.isdigit())
    return 13 <= len(digits) <= 19 and luhn.is_valid(digits)


def redact(text: str, counts: Counter[str] | None = None, *,
           phone_regions: Sequence[str] = PHONE_REGIONS) -> str:
    """Replace emails, IBANs, payment card numbers and phone numbers in `text` by tokens."""

    def _checked(token: str, kind: str, valid: Any) -> Any:
        def repl(match: re.Match[str]) -> str:
            if not valid(match.group(0)):
                return match.group(0)
            if counts is not None:
                counts[kind] += 1
            return token
        return repl

    text = EMAIL.sub(_checked(EMAIL_TOKEN, "email", lambda _: True), text)
    # IBANs and cards before phones: their digit runs can also parse as phone numbers.
    text = IBAN.sub(_checked(IBAN_TOKEN, "iban", iban.is_valid), text)
    text = CARD.sub(_checked(CARD_TOKEN, "card", luhn_valid), text)
    for region in phone_regions:
        text = _redact_phones(text, region, counts)
    return text


def _redact_phones(text: str, region: str, counts: Counter[str] | None) -> str:
    matches = list(phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID))
    for m in reversed(matches):  # from the end, so earlier offsets stay right
        text = text[: m.start] + PHONE_TOKEN + text[m.end :]
        if counts is not None:
            counts["phone"] += 1
    return text


def redact_obj(value: Any, counts: Counter[str] | None = None) -> Any:
    """Redact every string inside a JSON-like value (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value, counts)
    if isinstance(value, list):
        return [redact_obj(v, counts) for v in value]
    if isinstance(value, dict):
        return {k: redact_obj(v, counts) for k, v in value.items()}
    return value
