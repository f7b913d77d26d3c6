"""The article's AgentRouter: classify a request by task type, route it to the right specialist.

    slmflow run workflows.router --inputs workflows/data/router.jsonl

MiniLM decides the task type (classification, a tool call, or free generation); only the
matching branch runs (`when=`), and the answer says which agent served it, how long the
specialist took and what it cost.
"""

from __future__ import annotations

from typing import Any

from orchestrator import step, workflow
from workflows._fleet import AGENT_RETRY, encoder, served, writer

TASK_TYPES: dict[str, str] = {
    "classify": "classify, categorise or label a given text: sentiment of a review, is it spam, which team a ticket goes to",
    "tool": "look up live data or perform an action: weather, currency conversion, order status, booking",
    "generate": "write or draft new text: a note, an email, a description, a story, a summary",
}
EXAMPLES = [
    {"text": "What is the sentiment of this tweet: 'worst airline ever'?", "label": "classify"},
    {"text": "Label this message as urgent or not urgent.", "label": "classify"},
    {"text": "How much is 100 pounds in yen?", "label": "tool"},
    {"text": "Check whether my parcel 12345 has shipped.", "label": "tool"},
    {"text": "Write a birthday message for my sister.", "label": "generate"},
    {"text": "Compose a short apology email to a customer.", "label": "generate"},
]

# What the classifier branch can tell about a text.
LABELS: dict[str, str] = {
    "positive": "positive sentiment, praise, happy customer",
    "negative": "negative sentiment, complaint, unhappy customer",
    "spam": "spam, scam, unsolicited advertising, prize you won, click here",
    "billing": "support ticket about invoices, charges, VAT, payments",
    "technical": "support ticket about a bug, crash, error or login problem",
}

TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Weather forecast for a city on a date",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "date": {"type": "string"}},
                    "required": ["city"]}},
    {"name": "convert_currency", "description": "Convert an amount of money from one currency to another",
     "parameters": {"type": "object", "properties": {"amount": {"type": "number"}, "from_currency": {"type": "string"},
                                                     "to_currency": {"type": "string"}},
                    "required": ["amount", "from_currency", "to_currency"]}},
    {"name": "order_status", "description": "Look up the shipping status of an order by its id",
     "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}},
]

@step(retry=AGENT_RETRY, timeout=60)
async def classify_task(request: str) -> dict[str, Any]:
    resp = await encoder().classify(request, labels=list(TASK_TYPES), label_descriptions=TASK_TYPES, examples=EXAMPLES)
    return {"task_type": resp.label, "confidence": round(resp.scores[resp.label], 3), **served(resp, encoder())}


@step(retry=AGENT_RETRY, timeout=60, when=lambda route: route["task_type"] == "classify")
async def run_classifier(request: str, route: dict[str, Any]) -> dict[str, Any]:
    resp = await encoder().classify(request, labels=list(LABELS), label_descriptions=LABELS)
    return {"result": {"label": resp.label, "score": round(resp.scores[resp.label], 3)}, **served(resp, encoder())}


@step(retry=AGENT_RETRY, timeout=120, when=lambda route: route["task_type"] == "tool")
async def run_tool_caller(request: str, route: dict[str, Any]) -> dict[str, Any]:
    resp = await writer().tool_call(request, TOOLS, max_new_tokens=64)
    # The call is returned, not executed: the tools here are descriptions, not services.
    return {"result": {"tool": resp.name, "arguments": resp.arguments}, **served(resp, writer())}


@step(retry=AGENT_RETRY, timeout=120, when=lambda route: route["task_type"] == "generate")
async def run_generator(request: str, route: dict[str, Any]) -> dict[str, Any]:
    resp = await writer().chat(request, max_new_tokens=80)
    return {"result": {"text": resp.text.strip()}, **served(resp, writer())}


@step(receive_failures=True)
def respond(request: str, route: dict[str, Any], classified: Any, tooled: Any, generated: Any) -> dict[str, Any]:
    answer = next((b for b in (classified, tooled, generated) if b), None)
    if answer is None:
        raise RuntimeError(f"the {route['task_type']} specialist failed for request {request[:60]!r}")
    return {
        "task_type": route["task_type"],
        "route_confidence": route["confidence"],
        "served_by": answer["agent"],
        "result": answer["result"],
        "latency_ms": round(route["latency_ms"] + answer["latency_ms"], 1),
        "cost_usd": route["cost_usd"] + answer["cost_usd"],
    }


@workflow
def router(request: str):
    route = classify_task(request)
    return respond(
        request,
        route,
        run_classifier(request, route),
        run_tool_caller(request, route),
        run_generator(request, route),
    )
