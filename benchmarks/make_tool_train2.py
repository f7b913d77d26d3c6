#!/usr/bin/env python3
"""Write tool_choice.train2.jsonl: 200 synthetic customer requests (50 per tool).

    .venv/bin/python benchmarks/make_tool_train2.py   # -> workflows/data/tool_choice.train2.jsonl

A second training file for the tool-choice specialist, written 2026-12-01 by a helper who saw
only the four tools' definitions: none of the project's files, so none of its test sets (the
tool descriptions here are `make_tool_data.TOOLS`). Deterministic (random.Random(20261301)).
"""
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "..", "workflows", "data", "tool_choice.train2.jsonl")
PER_TOOL = 50

rng = random.Random(20261301)

sys.path.insert(0, HERE)
from make_tool_data import TOOLS  # noqa: E402

CITIES = [
    "Lisbon", "Buenos Aires", "Osaka", "Nairobi", "Montreal", "Kraków",
    "San Diego", "Rio de Janeiro", "Edinburgh", "Hanoi", "Cape Town",
    "Valencia", "New Orleans", "Tallinn", "Ho Chi Minh City", "Brisbane",
]

# ---------------------------------------------------------------- status
STATUS_TEMPLATES = [
    "Where is my order {oid}?",
    "hi, any update on {oid}? it's been a week",
    "Could you tell me where package {oid} is at the moment?",
    "{oid} - still hasn't shown up. Is it on its way or what?",
    "Has order {oid} shipped yet?",
    "tracking for {oid} pls",
    "My parcel {oid} was supposed to arrive yesterday and it's late. Can you check where it is right now?",
    "Good afternoon, I would like to know the current status of my purchase, reference {oid}.",
    "Is {oid} out for delivery today? I need to know whether to stay home.",
    "Order number: {oid}. When will it get here?",
    "I ordered a gift last week ({oid}) and I'm getting nervous. Where is it in transit?",
    "what's going on with {oid}",
    "Can you look up {oid} and let me know if it's been dispatched?",
    "Just checking in on the progress of {oid}, no rush.",
    "Hello, the tracking page for {oid} hasn't changed in three days. Is it stuck somewhere?",
    "Any idea when {oid} will be delivered? It's running a bit behind schedule.",
    "Please confirm whether my order {oid} has left the warehouse.",
    "ETA on {oid}?",
    "I'm not asking for money back, I just want to know where {oid} is.",
    "Hey! Wondering if my stuff from order {oid} is close.",
]

# ---------------------------------------------------------------- cancel
CANCEL_TEMPLATES = [
    "Please cancel order {oid}.",
    "I don't want {oid} anymore, please stop it before it ships.",
    "cancel {oid}",
    "Hi, I placed {oid} by mistake. Can you call it off?",
    "Don't send {oid}. I no longer need it.",
    "I'd like to withdraw my purchase {oid} while it's still unshipped.",
    "Order {oid}: please void it, I found it cheaper elsewhere.",
    "Is it too late to scrap {oid}? If not, please kill it.",
    "Hello, I changed my mind before it even left the warehouse - please cancel my order {oid}.",
    "Could you stop order {oid} from going out? I don't want it shipped.",
    "Ordered twice by accident, please drop the duplicate {oid}.",
    "Dear support, kindly terminate order {oid}. I will not be requiring the items.",
    "nvm about {oid}, don't ship it",
    "I want to back out of order {oid} before it's dispatched.",
    "Please abort {oid} - my card was used without permission.",
    "Can I still cancel {oid}? It hasn't shipped yet according to the site.",
    "Halt the shipment of {oid} please, I don't want it anymore.",
    "Before you pack it: I'm cancelling {oid}.",
    "Reference {oid}. Please remove this order, I ordered the wrong size and will reorder.",
    "Take {oid} off my account, I don't want it sent.",
]

# ---------------------------------------------------------------- address
ADDRESS_TEMPLATES = [
    "Please change the delivery address for {oid} to {city}.",
    "Can you send {oid} to {city} instead?",
    "I've moved to {city}, could you update the shipping address on order {oid}?",
    "ship {oid} to {city} pls",
    "Order {oid}: new delivery city is {city}.",
    "Hi, I'll be staying in {city} next week. Is it possible to redirect {oid} there?",
    "Wrong address on {oid} - it should go to {city}.",
    "Could my package {oid} be delivered in {city} rather than the original address?",
    "Update address for {oid}: {city}",
    "Dear team, I kindly request that the destination of order {oid} be amended to {city}.",
    "Please reroute {oid} to my office in {city}.",
    "I typed the wrong city when I ordered {oid}. It needs to go to {city}.",
    "{city} please, not the old address - that's for order {oid}.",
    "Can {oid} be forwarded to {city}? I won't be home.",
    "Don't deliver {oid} to my old place, I'm in {city} now.",
    "Hey, could you switch where {oid} is going? Make it {city}.",
    "My sister in {city} should receive {oid}, can you change the address?",
    "Need {oid} to arrive in {city} instead of where it's headed now.",
    "Is it possible to edit the shipping destination of {oid}? It should be {city}.",
    "Change of plans: deliver order {oid} to {city}.",
]

# ---------------------------------------------------------------- refund
REASON_PHRASES = {
    "damaged": [
        "it arrived smashed",
        "the box was crushed and the item is broken",
        "it came with a big dent",
        "the screen is cracked",
        "it was leaking when I opened it",
        "half of it is shattered",
        "it's torn and scratched",
        "the product was broken on arrival",
    ],
    "late": [
        "it showed up two weeks after the promised date",
        "it came way too late for the event I needed it for",
        "delivery took far longer than you guaranteed",
        "it arrived after the birthday it was meant for",
        "it was delivered a month late",
        "it missed the delivery date by ten days",
        "it got here long after the deadline",
    ],
    "wrong_item": [
        "it's not what I ordered",
        "you sent the wrong colour",
        "I got a completely different product",
        "the size is wrong, I ordered a medium and got an XL",
        "the box contained someone else's item",
        "it's the wrong model",
        "I received blue mugs instead of the red ones I picked",
    ],
    "other": [
        "I just don't like it",
        "I changed my mind about it after it came",
        "it doesn't suit me",
        "I no longer need it",
        "it's not as comfortable as I hoped",
        "I found it cheaper somewhere else after it arrived",
        "it just isn't for me",
    ],
}

REFUND_TEMPLATES = [
    "I want a refund for {oid}, {why}.",
    "Please give me my money back for order {oid} - {why}.",
    "{oid}: {why}. Refund please.",
    "Hi, {why}. Can I get reimbursed for {oid}?",
    "refund {oid}, {why}",
    "Dear customer service, regarding order {oid}: {why}. I would like the full amount returned to my card.",
    "Could you refund order {oid}? Honestly {why}.",
    "I'd like to be credited for {oid} because {why}.",
    "Order {oid} is a disappointment, {why}. I want my money returned.",
    "{why}, so I'm requesting a refund on {oid}.",
    "Can you process a reimbursement for {oid}? Reason: {why}.",
    "Not happy with {oid}. {why}. Please pay me back.",
    "So {why}... what do I do to get a refund for {oid}?",
    "Please return the payment for order {oid}, {why}.",
    "I received {oid} but {why}. I'd like my money back.",
    "Requesting a refund for purchase {oid} as {why}.",
    "Hello, I need the charge for {oid} reversed - {why}.",
    "Money back on {oid} please. {why}.",
]

# Extra refund templates that carry their own reason (confusable cases).
REFUND_FIXED = [
    ("It finally arrived but far too late to be of any use. Refund {oid}, please.", "late"),
    ("Order {oid} got here after the wedding was over, so I'd like a refund for the delay.", "late"),
    ("The item in {oid} arrived damaged and I want my money back.", "damaged"),
    ("{oid} - wrong item delivered. Please refund me.", "wrong_item"),
    ("I returned the stuff from {oid} because I changed my mind. When will I get my money back?", "other"),
]


def make_oid() -> str:
    prefix = rng.choice(["TR", "Q"])
    return f"{prefix}{rng.randint(0, 99999):05d}"


def cap_first(s: str) -> str:
    return s[0].upper() + s[1:] if s else s


def fill_refund(template: str, oid: str, why: str) -> str:
    # Capitalise the reason phrase when it starts a sentence.
    idx = template.index("{why}")
    prefix = template[:idx].rstrip()
    if idx == 0 or prefix.endswith((".", "?", "!")):
        why = cap_first(why)
    return template.format(oid=oid, why=why)


def cycle_templates(templates, n):
    """Use every template at least once, then fill randomly; return n items."""
    order = list(templates)
    rng.shuffle(order)
    picks = order[:n]
    while len(picks) < n:
        picks.append(rng.choice(templates))
    return picks


def main() -> None:
    rows = []
    used_ids = set()

    def fresh_oid():
        while True:
            oid = make_oid()
            if oid not in used_ids:
                used_ids.add(oid)
                return oid

    for tpl in cycle_templates(STATUS_TEMPLATES, PER_TOOL):
        oid = fresh_oid()
        rows.append({"text": tpl.format(oid=oid),
                     "tool_call": {"name": "get_order_status", "arguments": {"order_id": oid}}})

    for tpl in cycle_templates(CANCEL_TEMPLATES, PER_TOOL):
        oid = fresh_oid()
        rows.append({"text": tpl.format(oid=oid),
                     "tool_call": {"name": "cancel_order", "arguments": {"order_id": oid}}})

    cities = []
    while len(cities) < PER_TOOL:
        c = list(CITIES)
        rng.shuffle(c)
        cities.extend(c)
    for tpl, city in zip(cycle_templates(ADDRESS_TEMPLATES, PER_TOOL), cities, strict=False):
        oid = fresh_oid()
        rows.append({"text": tpl.format(oid=oid, city=city),
                     "tool_call": {"name": "change_address",
                                   "arguments": {"order_id": oid, "city": city}}})

    # Refund: fixed-reason templates first, then slotted templates with balanced reasons.
    n_slot = PER_TOOL - len(REFUND_FIXED)
    for tpl, reason in REFUND_FIXED:
        oid = fresh_oid()
        rows.append({"text": tpl.format(oid=oid),
                     "tool_call": {"name": "refund_order",
                                   "arguments": {"order_id": oid, "reason": reason}}})
    reasons = []
    while len(reasons) < n_slot:
        r = list(REASON_PHRASES)
        rng.shuffle(r)
        reasons.extend(r)
    reasons = reasons[:n_slot]
    for tpl, reason in zip(cycle_templates(REFUND_TEMPLATES, n_slot), reasons, strict=False):
        oid = fresh_oid()
        why = rng.choice(REASON_PHRASES[reason])
        rows.append({"text": fill_refund(tpl, oid, why),
                     "tool_call": {"name": "refund_order",
                                   "arguments": {"order_id": oid, "reason": reason}}})

    rng.shuffle(rows)
    with open(OUT_PATH, "w", encoding="utf-8") as f:
        for r in rows:
            row = {"text": r["text"], "tools": TOOLS, "tool_call": r["tool_call"]}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {OUT_PATH}")


if __name__ == "__main__":
    main()
