"""E-commerce recommendations: behaviour analysis and preference extraction in parallel,
then recommendations by embedding similarity over the product catalogue.

    slmflow run workflows.ecommerce --inputs workflows/data/ecommerce.jsonl

The catalogue (`workflows/data/catalogue.json`) is embedded once per process by the
fleet's MiniLM; a shopper's interest vector is the mean of their events' embeddings,
nudged by the interests SmolLM2 extracts; products are ranked by cosine similarity.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from orchestrator import step, workflow
from workflows._fleet import AGENT_RETRY, encoder, served, writer

CATALOGUE_PATH = Path(__file__).parent / "data" / "catalogue.json"
class Product(BaseModel):
    sku: str
    name: str
    category: str
    price: float = Field(ge=0)
    description: str


class Preferences(BaseModel):
    interests: list[Annotated[str, Field(max_length=40)]] = Field(max_length=4)
    budget: Literal["low", "medium", "high"]


def load_catalogue(path: Path = CATALOGUE_PATH) -> list[Product]:
    return [Product.model_validate(p) for p in json.loads(path.read_text(encoding="utf-8"))]


_catalogue_vectors: dict[str, tuple[list[Product], np.ndarray]] = {}


async def _catalogue() -> tuple[list[Product], np.ndarray]:
    # Runs may race to embed it first; the work is idempotent, so no lock (which would bind to one event loop).
    if encoder().name not in _catalogue_vectors:
        products = load_catalogue()
        resp = await encoder().embed([f"{p.name}: {p.description}" for p in products])
        _catalogue_vectors[encoder().name] = (products, np.asarray(resp.embeddings, dtype=np.float32))
    return _catalogue_vectors[encoder().name]


@step(retry=AGENT_RETRY, timeout=60)
async def analyze_behavior(events: list[str]) -> dict[str, Any]:
    products, _ = await _catalogue()
    categories = sorted({p.category for p in products})
    vectors, category = await asyncio.gather(
        encoder().embed(events),
        encoder().classify(" ; ".join(events), labels=categories),
    )
    interest = np.mean(np.asarray(vectors.embeddings, dtype=np.float32), axis=0)
    return {"interest_vector": [round(float(v), 5) for v in interest], "top_category": category.label,
            "category_confidence": round(category.scores[category.label], 3), **served(vectors, encoder())}


@step(retry=AGENT_RETRY, timeout=120)
async def extract_preferences(events: list[str]) -> dict[str, Any]:
    resp = await writer().extract(
        "\n".join(events), Preferences,
        instruction="From the shopper's recent activity, list what products they are interested in and their budget.",
        max_new_tokens=64,
    )
    return {"interests": [i.strip() for i in resp.data.interests if i.strip()], "budget": resp.data.budget,
            **served(resp, writer())}


@step(retry=AGENT_RETRY, timeout=60)
async def recommend(user_id: str, events: list[str], behavior: dict[str, Any], preferences: dict[str, Any],
                    k: int = 5) -> dict[str, Any]:
    products, matrix = await _catalogue()
    query = np.asarray(behavior["interest_vector"], dtype=np.float32)
    if preferences["interests"]:
        pref = await encoder().embed(preferences["interests"])
        # Behaviour is what they did, preferences what the model read into it: trust behaviour more.
        query = 0.7 * query + 0.3 * np.mean(np.asarray(pref.embeddings, dtype=np.float32), axis=0)
    query /= np.linalg.norm(query) or 1.0
    scores = matrix @ query
    seen = " ".join(events).lower()
    ranked = [i for i in np.argsort(-scores) if products[i].name.lower() not in seen]
    recs = [{"sku": products[i].sku, "name": products[i].name, "category": products[i].category,
             "price": products[i].price, "score": round(float(scores[i]), 3)} for i in ranked[:k]]
    return {"user_id": user_id, "top_category": behavior["top_category"], "interests": preferences["interests"],
            "budget": preferences["budget"], "recommendations": recs}


@workflow
def ecommerce(user_id: str, events: list[str]):
    behavior = analyze_behavior(events)  # behaviour analysis and preference extraction run in parallel
    preferences = extract_preferences(events)
    return recommend(user_id, events, behavior, preferences)
